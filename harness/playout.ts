/**
 * (harness/: shared by tests and scripts, see process.ts.)
 * The playback model of BENCHMARKS.md as plain state over times given to it:
 * which segment to fetch next, and when each plays or stalls. The benchmark's
 * HTTP player (playback-model.ts) drives it on the wall clock; the simulator
 * drives the same object in virtual time, so both count stalls alike.
 */

export interface PlaybackResult {
  /** Peer start (model start) to the first segment in hand; null if it never started. */
  startupMs: number | null;
  segmentsDue: number;
  segmentsOnTime: number;
  stalls: number;
  stalledMs: number;
  watchMs: number;
  /** Per played segment: origin publish time to the model starting to play it. */
  behindLiveMs: number[];
  /** Segments whose SHA-256 differs from the origin's (where the origin's was known while playing). */
  corrupt: number;
  /** SHA-256 of every segment received, for checks after the run; on a ladder, with the rendition it came from. */
  digests: { seq: number; sha256: string; rendition?: string }[];
  /** Segments the peer answered with an error (504, 410...). */
  failed: number;
}

export interface ListedSegment {
  /** The origin's number, from the URI. */
  seq: number;
  /** Its media sequence number in the playlist, which is what a player reports. */
  msn: number;
  uri: string;
  durationMs: number;
  publishedAtMs: number;
}

/** hls.js's default: start this many segments behind the live edge. */
const START_BEHIND = 3;
const MAX_DIGESTS = 100_000;

export class Playout {
  private readonly queue: ListedSegment[] = [];
  /** When each fetched segment came into hand; +Infinity for one that could not be had. */
  private readonly inHand = new Map<number, number>();
  private nextSeq: number | null = null;
  private index = 0;
  private playStartMs: number | null = null;
  private current: { msn: number; seq: number; startedAtMs: number } | null = null;
  readonly result: PlaybackResult = { startupMs: null, segmentsDue: 0, segmentsOnTime: 0, stalls: 0, stalledMs: 0, watchMs: 0, behindLiveMs: [], corrupt: 0, failed: 0, digests: [] };

  constructor(private readonly startedAtMs: number) {}

  /** A playlist was read: the first one decides where playback starts, later ones add what is new. */
  listed(segments: readonly ListedSegment[]): void {
    if (segments.length === 0) return;
    if (this.nextSeq === null) this.nextSeq = (segments[Math.max(0, segments.length - START_BEHIND)] as ListedSegment).seq;
    const last = this.queue.at(-1)?.seq ?? this.nextSeq - 1;
    for (const s of segments) if (s.seq > last) this.queue.push(s);
  }

  /** The next segment to fetch, one at a time in order, or null while there is none listed. */
  nextToFetch(): ListedSegment | null {
    const from = this.nextSeq;
    if (from === null) return null;
    return this.queue.find((s) => !this.inHand.has(s.seq) && s.seq >= from) ?? null;
  }

  /** The fetch of `seq` ended at `atMs`: with the segment (its digest, whether it matched the origin's, its rendition on a ladder), or without. */
  fetched(seq: number, atMs: number, got: { sha256: string; corrupt: boolean; rendition?: string } | null): void {
    if (got) {
      if (got.corrupt) this.result.corrupt++;
      if (this.result.digests.length < MAX_DIGESTS) this.result.digests.push({ seq, sha256: got.sha256, ...(got.rendition !== undefined && { rendition: got.rendition }) });
      this.inHand.set(seq, atMs);
    } else {
      this.result.failed++;
      this.inHand.set(seq, Number.POSITIVE_INFINITY);
    }
    this.nextSeq = seq + 1;
  }

  /**
   * Plays what can be played by `nowMs`: one segment per segment duration; a
   * segment not in hand when due is a stall until it is, and every later
   * deadline moves by it; one that could not be had is skipped, as hls.js
   * skips it, a stall of its length. Returns when a segment next falls due,
   * or null when waiting on a fetch or a playlist.
   */
  play(nowMs: number): number | null {
    for (;;) {
      const seg = this.queue[this.index];
      const got = seg ? this.inHand.get(seg.seq) : undefined;
      if (!seg || got === undefined) return null;
      if (this.current === null) {
        this.playStartMs = nowMs;
        this.result.startupMs = nowMs - this.startedAtMs;
        this.current = { msn: seg.msn, seq: seg.seq, startedAtMs: nowMs };
      } else {
        const due = this.current.startedAtMs + (this.queue[this.index - 1]?.durationMs ?? 0);
        if (nowMs < due) return due;
        this.result.segmentsDue++;
        if (got === Number.POSITIVE_INFINITY) {
          this.result.stalls++;
          this.result.stalledMs += seg.durationMs;
          this.current = { msn: seg.msn, seq: seg.seq, startedAtMs: due + seg.durationMs };
          this.advanceIndex();
          continue;
        }
        if (got <= due) this.result.segmentsOnTime++;
        else {
          this.result.stalls++;
          this.result.stalledMs += got - due;
        }
        this.current = { msn: seg.msn, seq: seg.seq, startedAtMs: Math.max(due, got) };
      }
      if (Number.isFinite(seg.publishedAtMs)) this.result.behindLiveMs.push(this.current.startedAtMs - seg.publishedAtMs);
      this.advanceIndex();
    }
  }

  /** What the player is playing and since when: what it reports to its peer node. */
  get position(): { msn: number; seq: number; startedAtMs: number } | null {
    return this.current;
  }

  /** The figures at `nowMs`, the end of watching. */
  finish(nowMs: number): PlaybackResult {
    if (this.playStartMs !== null) this.result.watchMs = nowMs - this.playStartMs;
    return this.result;
  }

  /** Segments played long ago are forgotten, so a long run stays small. */
  private advanceIndex(): void {
    this.index++;
    if (this.index <= 64) return;
    const drop = this.queue.splice(0, this.index - 8);
    for (const d of drop) this.inHand.delete(d.seq);
    this.index -= drop.length;
  }
}
