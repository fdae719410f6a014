/**
 * The viewer's page, served by each peer node at `/`: plays the node's
 * `/live.m3u8` with hls.js, shows how the stream gets here (peers vs the
 * origin), and tells the node where playback is so it can fetch in time.
 */
import type Hls from 'hls.js';
import type { NodeStats } from '../shared/player-api.ts';
import { fetchNodeStats, p2pShare } from './node-stats.ts';
import { Panel, type View } from './panel.ts';
import { Playback, type PlaybackCounters } from './playback.ts';
import { type PlayPosition, positionAt } from './position.ts';
import { playingLevel } from './rendition.ts';
import { Reporter } from './report.ts';
import { StallTracker } from './stalls.ts';

/** The peer node's deadlines extrapolate from the last report at 1x, and catch-up plays faster: kept frequent. */
const REPORT_MS = 1000;
/** The panel is read by a person: every 2 s is plenty, and halves the stats requests and the DOM writes. */
const PANEL_MS = 2000;
const STATS_TIMEOUT_MS = 2000;

/** What `window.__player.stats()` returns: one flat snapshot for tests and for poking at in devtools. */
export interface PlayerDebugStats extends PlaybackCounters {
  phase: string;
  status: string;
  currentTime: number;
  paused: boolean;
  bufferS: number | null;
  latencyS: number | null;
  stalls: number;
  stallMs: number;
  seq: number | null;
  offsetMs: number | null;
  reportsSent: number;
  reportsFailed: number;
  p2pShare: number | null;
  /** hls.js's index of the level playing, or null (none yet). */
  level: number | null;
  /** The level's name (a ladder's rung: `360p`), or null. */
  rendition: string | null;
  levelHeight: number | null;
  levelBitrate: number | null;
  /** Levels hls.js has to choose from (1 for a stream that is no ladder). */
  levels: number;
  /** The rendition the node says it serves, and the share from peers of each one it joined. */
  nodeRendition: string | null;
  renditionShares: Record<string, number | null>;
  p2pBytes: number;
  originBytes: number;
  uploadedBytes: number;
  neighbours: number;
  peerId: string | null;
}

export interface PlayerHandle {
  /** The hls.js instance playing now (replaced if the player is rebuilt), or null. */
  readonly hls: Hls | null;
  readonly video: HTMLVideoElement;
  stats(): PlayerDebugStats;
}

declare global {
  interface Window {
    __player?: PlayerHandle;
  }
}

function bufferAhead(video: HTMLVideoElement): number | null {
  const t = video.currentTime;
  for (let i = 0; i < video.buffered.length; i++) {
    // A small tolerance: the playhead often sits a few ms before the first buffered range.
    if (video.buffered.start(i) - 0.1 <= t && t <= video.buffered.end(i)) return video.buffered.end(i) - t;
  }
  return video.buffered.length > 0 ? 0 : null;
}

function latency(hls: Hls | null, video: HTMLVideoElement): number | null {
  if (hls) {
    if (hls.liveSyncPosition === null) return null;
    return hls.latency > 0 ? hls.latency : Math.max(0, hls.liveSyncPosition - video.currentTime);
  }
  const n = video.seekable.length;
  return n > 0 ? Math.max(0, video.seekable.end(n - 1) - video.currentTime) : null;
}

/** Seconds since the frame on screen was captured, from the playlist's EXT-X-PROGRAM-DATE-TIME. */
function captureDelay(hls: Hls | null): number | null {
  const date = hls?.playingDate;
  return date ? Math.max(0, (Date.now() - date.getTime()) / 1000) : null;
}

function position(hls: Hls | null, video: HTMLVideoElement): PlayPosition | null {
  if (!hls) return null;
  const level = hls.levels[hls.currentLevel] ?? hls.levels[hls.loadLevel] ?? hls.levels[0];
  const fragments = level?.details?.fragments;
  return fragments ? positionAt(fragments, video.currentTime) : null;
}

function main(): void {
  const found = document.querySelector<HTMLVideoElement>('#video');
  if (!found) throw new Error('player page has no #video');
  const video: HTMLVideoElement = found;
  const panel = new Panel(document);
  const stalls = new StallTracker(() => performance.now());
  const reporter = new Reporter(new URL('api/player', location.href).href);
  let peer: NodeStats | null = null;
  let peerUnreachable = false;
  let statsBusy = false;

  const playback = new Playback(
    video,
    new URL('live.m3u8', location.href).href,
    {
      changed: () => panel.renderStatus(status()),
      interrupted: () => stalls.waiting(),
    },
    { workerPath: new URL('hls.worker.js', location.href).href },
  );

  function status(): View['status'] {
    const detail = playback.detail;
    switch (playback.phase) {
      case 'starting':
        return { state: 'starting', text: 'Starting…', detail };
      case 'waiting-for-stream':
        return { state: 'waiting', text: 'Waiting for the stream…', detail };
      case 'recovering':
        return { state: 'recovering', text: 'Reconnecting…', detail };
      case 'unsupported':
        return { state: 'error', text: 'Cannot play here', detail };
      case 'attached':
        if (stalls.snapshot().stalled) return { state: 'buffering', text: 'Buffering…', detail: 'waiting for the next segment' };
        if (video.paused && video.currentTime > 0) return { state: 'paused', text: 'Paused', detail: 'press play to resume' };
        if (video.currentTime > 0 && !video.paused) return { state: 'live', text: 'Live', detail };
        return { state: 'starting', text: 'Loading…', detail };
    }
  }

  function view(): View {
    const hls = playback.hls;
    return {
      status: status(),
      level: playingLevel(hls),
      switches: playback.counters.switches,
      peer,
      peerUnreachable,
      p2pShare: peer ? p2pShare(peer) : null,
      bufferS: bufferAhead(video),
      latencyS: latency(hls, video),
      captureDelayS: captureDelay(hls),
      stalls: stalls.snapshot(),
      position: position(hls, video),
    };
  }

  async function refreshPeerStats(): Promise<void> {
    if (statsBusy) return;
    statsBusy = true;
    try {
      const next = await fetchNodeStats(AbortSignal.timeout(STATS_TIMEOUT_MS));
      peerUnreachable = next === null;
      if (next) peer = next;
    } catch {
      peerUnreachable = true;
    } finally {
      statsBusy = false;
    }
  }

  function report(): void {
    void reporter.send(position(playback.hls, video), stalls.snapshot(), playingLevel(playback.hls)?.name ?? null);
  }

  /** A hidden page is not looked at: no stats requests and no DOM writes until it shows again. */
  function refreshPanel(): void {
    if (document.hidden) return;
    void refreshPeerStats().then(() => panel.render(view()));
  }

  video.addEventListener('playing', () => {
    stalls.playing();
    panel.renderStatus(status());
  });
  video.addEventListener('waiting', () => {
    stalls.waiting();
    panel.renderStatus(status());
  });
  video.addEventListener('pause', () => panel.renderStatus(status()));

  window.__player = {
    get hls() {
      return playback.hls;
    },
    video,
    stats(): PlayerDebugStats {
      const v = view();
      return {
        ...playback.counters,
        phase: playback.phase,
        status: v.status.text,
        currentTime: video.currentTime,
        paused: video.paused,
        bufferS: v.bufferS,
        latencyS: v.latencyS,
        stalls: v.stalls.stalls,
        stallMs: v.stalls.stallMs,
        seq: v.position?.seq ?? null,
        offsetMs: v.position?.offsetMs ?? null,
        reportsSent: reporter.sent,
        reportsFailed: reporter.failed,
        p2pShare: v.p2pShare,
        level: v.level?.index ?? null,
        rendition: v.level?.name ?? null,
        levelHeight: v.level?.height ?? null,
        levelBitrate: v.level?.bitrate ?? null,
        levels: playback.hls?.levels.length ?? 0,
        nodeRendition: peer?.rendition ?? null,
        renditionShares: Object.fromEntries((peer?.renditions ?? []).map((r) => [r.name, p2pShare(r)])),
        p2pBytes: peer?.p2pBytes ?? 0,
        originBytes: peer?.originBytes ?? 0,
        uploadedBytes: peer?.uploadedBytes ?? 0,
        neighbours: peer?.neighbours ?? 0,
        peerId: peer?.peerId ?? null,
      };
    },
  };

  document.addEventListener('visibilitychange', refreshPanel);

  playback.start();
  report();
  refreshPanel();
  setInterval(report, REPORT_MS);
  setInterval(refreshPanel, PANEL_MS);
}

main();
