/**
 * The playback model in virtual time: the same Playout as the benchmark's
 * HTTP player, driven through what the peer node's HTTP API would have done
 * for it (list, wait for a segment while telling the swarm it is wanted, take
 * reports), on the simulation's clock. Loopback HTTP costs no time here, as
 * it costs next to none in the real run.
 */
import { createHash } from 'node:crypto';
import type { Clock, TimerHandle } from '../../shared/clock.ts';
import type { PlayerReport } from '../../shared/player-api.ts';
import type { SegmentAnnouncement } from '../../shared/segment.ts';
import type { SegmentStore } from '../../peer-node/segment-store.ts';
import { type PlaybackResult, Playout } from '../../harness/playout.ts';

/** What the player reaches of its peer node: the HTTP API's handlers, called directly. */
export interface LocalNode {
  store: SegmentStore;
  /** What the playlist lists now. */
  listed(): SegmentAnnouncement[];
  /** The player asked for a segment not whole yet. */
  segmentWanted(seq: number): void;
  playerReport(r: PlayerReport): void;
}

/** As the real model: the playlist every 500 ms, a report every second. */
const PLAYLIST_EVERY_MS = 500;
const REPORT_EVERY_MS = 1000;
/** The node's HTTP API answers a first playlist request as soon as it can list; polled this often until then. */
const FIRST_PLAYLIST_POLL_MS = 50;
/** As the node's HTTP API: a segment not whole within this is answered 504. */
const SEGMENT_WAIT_MS = 10_000;

export class SimPlayer {
  private readonly playout: Playout;
  private readonly timers: TimerHandle[] = [];
  private playTimer: TimerHandle | null = null;
  private fetching: { seq: number; stop: () => void; timeout: TimerHandle } | null = null;
  private polling: TimerHandle | null = null;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly node: LocalNode,
  ) {
    this.playout = new Playout(clock.nowMs());
  }

  start(): void {
    this.pollFirstPlaylist();
    this.timers.push(this.clock.setInterval(() => this.report(), REPORT_EVERY_MS));
  }

  stop(): PlaybackResult {
    this.stopped = true;
    for (const t of this.timers) t.cancel();
    this.polling?.cancel();
    this.playTimer?.cancel();
    if (this.fetching) {
      this.fetching.stop();
      this.fetching.timeout.cancel();
    }
    return this.playout.finish(this.clock.nowMs());
  }

  private pollFirstPlaylist(): void {
    if (this.stopped) return;
    if (this.readPlaylist()) {
      this.timers.push(this.clock.setInterval(() => this.readPlaylist(), PLAYLIST_EVERY_MS));
      return;
    }
    this.polling = this.clock.setTimeout(() => this.pollFirstPlaylist(), FIRST_PLAYLIST_POLL_MS);
  }

  /** True if the playlist listed anything. */
  private readPlaylist(): boolean {
    const store = this.node.store;
    const listed = this.node.listed().map((s) => ({
      seq: s.seq,
      msn: store.get(s.seq)?.localSeq ?? s.seq,
      uri: `live/seg-${s.seq}.ts`,
      durationMs: s.durationMs,
      publishedAtMs: s.publishedAtMs,
    }));
    this.playout.listed(listed);
    this.fetchNext();
    return listed.length > 0;
  }

  private fetchNext(): void {
    if (this.stopped || this.fetching) return;
    const next = this.playout.nextToFetch();
    if (!next) return;
    const store = this.node.store;
    const seq = next.seq;
    const entry = store.get(seq);
    if (!entry) return this.done(seq, false);
    if (entry.complete) return this.done(seq, true);
    this.node.segmentWanted(seq);
    const stop = store.onChange(() => {
      const e = store.get(seq);
      if (!e) this.finishFetch(seq, false);
      else if (e.complete) this.finishFetch(seq, true);
    });
    const timeout = this.clock.setTimeout(() => this.finishFetch(seq, false), SEGMENT_WAIT_MS);
    this.fetching = { seq, stop, timeout };
  }

  private finishFetch(seq: number, ok: boolean): void {
    if (this.fetching?.seq !== seq) return;
    this.fetching.stop();
    this.fetching.timeout.cancel();
    this.fetching = null;
    this.done(seq, ok);
  }

  /** The segment's bytes are hashed as the HTTP model hashes the body it got: corruptPlayed is measured, not assumed. */
  private done(seq: number, ok: boolean): void {
    const now = this.clock.nowMs();
    const entry = this.node.store.get(seq);
    if (ok && entry) {
      const hash = createHash('sha256');
      for (const p of entry.pieces) if (p) hash.update(p);
      this.playout.fetched(seq, now, { sha256: hash.digest('hex'), corrupt: false });
    } else this.playout.fetched(seq, now, null);
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
    if (!playing) return;
    const r = this.playout.result;
    this.node.playerReport({ seq: playing.msn, offsetMs: Math.min(Math.max(0, this.clock.nowMs() - playing.startedAtMs), 600_000), stalls: r.stalls, stallMs: Math.round(r.stalledMs) });
  }
}
