/**
 * The playback model in virtual time: the same Playout as the benchmark's
 * HTTP player, fed by what an HTTP server would have answered it (a peer
 * node's local API, or the origin for plain HLS), on the simulation's clock.
 */
import type { Clock, TimerHandle } from '../../shared/clock.ts';
import type { PlayerReport } from '../../shared/player-api.ts';
import { type ListedSegment, type PlaybackResult, Playout } from '../../harness/playout.ts';

/** What a player gets from the server it plays from. */
export interface PlayerSource {
  /** What the playlist lists now. */
  listed(): ListedSegment[];
  /**
   * A first playlist request that the server holds until it can list
   * something or gives up (a peer node's long poll; `done` gets [] then).
   * Without it, the player asks again every PLAYLIST_EVERY_MS until it lists.
   */
  waitListed: ((done: (listed: ListedSegment[]) => void) => void) | null;
  /** Fetches a segment: `done` once, with its bytes (as pieces, in order) or null (an error answer). Returns a cancel. */
  fetch(seq: number, done: (pieces: readonly Uint8Array[] | null) => void): () => void;
  /** Position and stall reports, where the server takes them (a peer node), else null. */
  report: ((r: PlayerReport) => void) | null;
}

/** As the real model: the playlist every 500 ms (after each answer), a report every second. */
const PLAYLIST_EVERY_MS = 500;
const REPORT_EVERY_MS = 1000;

export class SimPlayer {
  private readonly playout: Playout;
  private readonly timers: TimerHandle[] = [];
  private playTimer: TimerHandle | null = null;
  private cancelFetch: (() => void) | null = null;
  private polling: TimerHandle | null = null;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly source: PlayerSource,
    /** SHA-256 (hex) of a segment's bytes: shared-verifier.ts sharedDigest, one for the whole simulation. */
    private readonly digest: (pieces: readonly Uint8Array[]) => string,
  ) {
    this.playout = new Playout(clock.nowMs());
  }

  start(): void {
    this.pollFirstPlaylist();
    if (this.source.report) this.timers.push(this.clock.setInterval(() => this.report(), REPORT_EVERY_MS));
  }

  stop(): PlaybackResult {
    this.stopped = true;
    for (const t of this.timers) t.cancel();
    this.polling?.cancel();
    this.playTimer?.cancel();
    this.cancelFetch?.();
    return this.playout.finish(this.clock.nowMs());
  }

  private pollFirstPlaylist(): void {
    if (this.stopped) return;
    const answered = (listed: ListedSegment[]) => {
      if (this.stopped) return;
      if (this.onPlaylist(listed)) this.timers.push(this.clock.setInterval(() => this.onPlaylist(this.source.listed()), PLAYLIST_EVERY_MS));
      else this.polling = this.clock.setTimeout(() => this.pollFirstPlaylist(), PLAYLIST_EVERY_MS);
    };
    if (this.source.waitListed) this.source.waitListed(answered);
    else answered(this.source.listed());
  }

  /** True if the playlist listed anything. */
  private onPlaylist(listed: ListedSegment[]): boolean {
    this.playout.listed(listed);
    this.fetchNext();
    return listed.length > 0;
  }

  private fetchNext(): void {
    if (this.stopped || this.cancelFetch) return;
    const next = this.playout.nextToFetch();
    if (!next) return;
    let answered = false;
    const cancel = this.source.fetch(next.seq, (pieces) => {
      answered = true;
      this.cancelFetch = null;
      this.done(next.seq, pieces);
    });
    if (!answered) this.cancelFetch = cancel;
  }

  /** The bytes are hashed as the HTTP model hashes the body it got: corruptPlayed is measured, not assumed. */
  private done(seq: number, pieces: readonly Uint8Array[] | null): void {
    if (this.stopped) return;
    if (pieces) {
      this.playout.fetched(seq, this.clock.nowMs(), { sha256: this.digest(pieces), corrupt: false });
    } else this.playout.fetched(seq, this.clock.nowMs(), null);
    this.play();
    this.fetchNext();
  }

  private play(): void {
    const now = this.clock.nowMs();
    const due = this.playout.play(now);
    this.playTimer?.cancel();
    this.playTimer = due === null ? null : this.clock.setTimeout(() => this.play(), due - now);
  }

  private report(): void {
    const playing = this.playout.position;
    if (!playing || !this.source.report) return;
    const r = this.playout.result;
    this.source.report({ seq: playing.msn, offsetMs: Math.min(Math.max(0, this.clock.nowMs() - playing.startedAtMs), 600_000), stalls: r.stalls, stallMs: Math.round(r.stalledMs) });
  }
}
