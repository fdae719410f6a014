import Hls, { type ErrorData } from 'hls.js';
import { backoffMs, waitForPlaylist } from './backoff.ts';
import { LIVE_LATENCY, hlsLatencyConfig } from './latency.ts';

/**
 * The life of one player on one `<video>`: wait for the peer's playlist,
 * play it with hls.js (native HLS where hls.js is not supported), and recover
 * from errors the way hls.js documents it.
 */
export type Phase = 'starting' | 'waiting-for-stream' | 'attached' | 'recovering' | 'unsupported';
export type Mode = 'hls.js' | 'native' | 'none';

export interface PlaybackCounters {
  mode: Mode;
  /** Fragments hls.js loaded, over every hls.js instance of this page. */
  fragmentsLoaded: number;
  fatalErrors: number;
  nonFatalErrors: number;
  /** startLoad() / recoverMediaError() calls. */
  recoveries: number;
  /** Player instances destroyed and created anew. */
  recreations: number;
  /** Playlist probes that did not find a playing stream yet. */
  playlistRetries: number;
  /** Rendition switches hls.js made (a ladder): the first level it picks is no switch. */
  switches: number;
  lastError: string | null;
}

export interface PlaybackHooks {
  /** Phase or its detail changed. */
  changed(): void;
  /** Playback was cut (the player is being rebuilt): a stall for the viewer if it was playing. */
  interrupted(): void;
}

export interface PlaybackOptions {
  /** hls.js worker script, served beside the page (config `workerPath`); null demuxes on the main thread. */
  workerPath: string | null;
}

const HLS_MIME = 'application/vnd.apple.mpegurl';
/** A media error this soon after the last recovery counts as "repeated" (hls.js API docs: "quickly"). */
const MEDIA_ERROR_REPEAT_MS = 3000;
/** Fatal network errors in a row (no fragment loaded between them) before the player is rebuilt. */
const MAX_NETWORK_RECOVERIES = 4;
const REBUILD_DELAY_MS = 1000;
/** Manifest errors leave hls.js without a playlist to resume from: only a new instance starts over. */
const MANIFEST_ERRORS: readonly string[] = [Hls.ErrorDetails.MANIFEST_LOAD_ERROR, Hls.ErrorDetails.MANIFEST_LOAD_TIMEOUT, Hls.ErrorDetails.MANIFEST_PARSING_ERROR];

export class Playback {
  phase: Phase = 'starting';
  detail = '';
  readonly counters: PlaybackCounters = {
    mode: 'none',
    fragmentsLoaded: 0,
    fatalErrors: 0,
    nonFatalErrors: 0,
    recoveries: 0,
    recreations: 0,
    playlistRetries: 0,
    switches: 0,
    lastError: null,
  };
  private current: Hls | null = null;
  private run: AbortController | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private networkRecoveries = 0;
  private lastMediaRecoveryMs = -Infinity;
  private lastCodecSwapMs = -Infinity;

  constructor(
    private readonly video: HTMLVideoElement,
    private readonly src: string,
    private readonly hooks: PlaybackHooks,
    private readonly options: PlaybackOptions,
  ) {
    video.addEventListener('error', () => {
      // hls.js reports media errors through its ERROR event; the element's own error matters for native HLS.
      if (this.counters.mode === 'native' && this.phase === 'attached') this.rebuild(`video error ${video.error?.code ?? '?'}`);
    });
  }

  /** The hls.js instance playing now (a new one after a rebuild), or null. */
  get hls(): Hls | null {
    return this.current;
  }

  start(): void {
    if (Hls.isSupported()) this.counters.mode = 'hls.js';
    else if (this.video.canPlayType(HLS_MIME) !== '') this.counters.mode = 'native';
    else {
      this.set('unsupported', 'this browser has neither Media Source Extensions nor native HLS');
      return;
    }
    void this.begin();
  }

  private set(phase: Phase, detail: string): void {
    this.phase = phase;
    this.detail = detail;
    this.hooks.changed();
  }

  private async begin(): Promise<void> {
    this.run?.abort();
    const run = new AbortController();
    this.run = run;
    this.set('waiting-for-stream', 'asking the peer node for the playlist');
    // hls.js gives up on a manifest that fails its first load, and the peer answers 503 until the stream starts.
    const ready = await waitForPlaylist(this.src, run.signal, (attempt, why) => {
      this.counters.playlistRetries++;
      this.set('waiting-for-stream', `playlist not ready (${why}), attempt ${attempt}`);
    });
    if (!ready || run.signal.aborted) return;
    this.set('attached', '');
    if (this.counters.mode === 'hls.js') this.attachHls();
    else this.attachNative();
  }

  private attachHls(): void {
    const hls = new Hls({
      enableWorker: this.options.workerPath !== null,
      workerPath: this.options.workerPath,
      ...hlsLatencyConfig(LIVE_LATENCY),
      // A ladder starts on its lowest rung (hls.js orders levels by bitrate) and climbs as fast as loads allow: a viewer on a
      // slow link does not stall on a first segment too big for it. One stream has one level, so this changes nothing there.
      startLevel: 0,
      // Keep a little played media for seeking back; the live window is short anyway.
      backBufferLength: 30,
    });
    this.current = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, () => this.play());
    hls.on(Hls.Events.FRAG_LOADED, () => {
      this.counters.fragmentsLoaded++;
      this.networkRecoveries = 0;
      if (this.phase === 'recovering' && hls === this.current) this.set('attached', '');
    });
    let level: number | null = null;
    hls.on(Hls.Events.LEVEL_SWITCHED, (_event, data) => {
      if (level !== null && data.level !== level) this.counters.switches++;
      level = data.level;
      this.hooks.changed();
    });
    hls.on(Hls.Events.ERROR, (_event, data) => this.onHlsError(hls, data));
    hls.loadSource(this.src);
    hls.attachMedia(this.video);
  }

  private attachNative(): void {
    this.video.src = this.src;
    this.play();
  }

  private play(): void {
    this.video.muted = true;
    // Muted autoplay is allowed everywhere; if it is refused all the same, the controls are there.
    this.video.play().catch(() => undefined);
  }

  private onHlsError(hls: Hls, data: ErrorData): void {
    if (hls !== this.current) return;
    if (!data.fatal) {
      this.counters.nonFatalErrors++;
      return;
    }
    this.counters.fatalErrors++;
    this.counters.lastError = `${data.type}: ${data.details}`;
    switch (data.type) {
      case Hls.ErrorTypes.NETWORK_ERROR:
        if (MANIFEST_ERRORS.includes(data.details) || hls.levels.length === 0 || this.networkRecoveries >= MAX_NETWORK_RECOVERIES) {
          this.rebuild(this.counters.lastError);
          return;
        }
        // Documented recovery: start loading again; waited out with backoff so a dead peer is not hammered.
        this.set('recovering', `${data.details}: loading again`);
        this.later(backoffMs(this.networkRecoveries++), () => {
          if (hls !== this.current) return;
          this.counters.recoveries++;
          hls.startLoad();
        });
        return;
      case Hls.ErrorTypes.MEDIA_ERROR: {
        const now = performance.now();
        if (now - this.lastMediaRecoveryMs > MEDIA_ERROR_REPEAT_MS) {
          this.set('recovering', `${data.details}: recovering media`);
          this.lastMediaRecoveryMs = now;
          this.counters.recoveries++;
          hls.recoverMediaError();
        } else if (now - this.lastCodecSwapMs > MEDIA_ERROR_REPEAT_MS) {
          // Repeated quickly: the documented next step is swapping the audio codec, then recovering.
          this.set('recovering', `${data.details} again: swapping audio codec`);
          this.lastMediaRecoveryMs = now;
          this.lastCodecSwapMs = now;
          this.counters.recoveries++;
          hls.swapAudioCodec();
          hls.recoverMediaError();
        } else {
          this.rebuild(this.counters.lastError);
        }
        return;
      }
      default:
        this.rebuild(this.counters.lastError);
    }
  }

  /** Destroys the player and starts a new one once the playlist answers again. */
  private rebuild(why: string): void {
    this.counters.recreations++;
    this.hooks.interrupted();
    this.teardown();
    this.set('recovering', `${why}: restarting the player`);
    this.later(REBUILD_DELAY_MS, () => void this.begin());
  }

  private teardown(): void {
    this.run?.abort();
    this.run = null;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.current?.destroy();
    this.current = null;
    if (this.video.hasAttribute('src')) {
      this.video.removeAttribute('src');
      this.video.load();
    }
  }

  private later(ms: number, f: () => void): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      f();
    }, ms);
  }
}
