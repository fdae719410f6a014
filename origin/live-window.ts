import type { AnnouncementSigner } from '../shared/announcement-signature.ts';
import { hashPieces, sha256Hex } from '../shared/hashing.ts';
import { DiscontinuityCounter } from '../shared/playlist.ts';
import type { SegmentAnnouncement } from '../shared/segment.ts';
import type { SignedAnnouncement } from '../shared/tracker-protocol.ts';

export interface StoredSegment {
  info: SegmentAnnouncement;
  /** `info` as signed once, at publication: the tracker sends these bytes as they are. */
  signed: SignedAnnouncement;
  data: Buffer;
}

export type Lookup = { state: 'live'; segment: StoredSegment } | { state: 'gone' } | { state: 'unknown' };

/**
 * The bounded window of published segments, in memory. Sequence numbers are
 * the origin's own and keep increasing across ingest restarts, so a peer never
 * sees a number reused for different bytes. A rendition of a ladder publishes
 * at numbers shared with its sibling renditions (publishAt), so one it never
 * received is a hole in its window.
 */
export class LiveWindow {
  private readonly segments: StoredSegment[] = [];
  private nextSeq: number;
  private count = 0;
  readonly discontinuities = new DiscontinuityCounter();

  constructor(
    private readonly capacity: number,
    private readonly pieceSize: number,
    private readonly signer: Pick<AnnouncementSigner, 'sign'>,
    firstSeq = 0,
  ) {
    this.nextSeq = firstSeq;
  }

  publish(data: Buffer, durationMs: number, discontinuity: boolean, nowMs: number): StoredSegment {
    return this.publishAt(this.nextSeq, data, durationMs, discontinuity, nowMs) as StoredSegment;
  }

  /** Publishes at `seq`, leaving a hole before it if it is ahead; null (nothing published) if it is behind the newest. */
  publishAt(seq: number, data: Buffer, durationMs: number, discontinuity: boolean, nowMs: number): StoredSegment | null {
    if (!Number.isSafeInteger(seq) || seq < this.nextSeq) return null;
    this.nextSeq = seq + 1;
    this.count++;
    const info: SegmentAnnouncement = {
      seq,
      durationMs: Math.max(1, Math.round(durationMs)),
      size: data.byteLength,
      sha256: sha256Hex(data),
      pieceHashes: hashPieces(data, this.pieceSize),
      publishedAtMs: nowMs,
      discontinuity,
    };
    const segment = { info, signed: this.signer.sign(info), data };
    this.segments.push(segment);
    while (this.segments.length > this.capacity) {
      const dropped = this.segments.shift();
      if (dropped) this.discontinuities.drop(dropped.info);
    }
    return segment;
  }

  lookup(seq: number): Lookup {
    const first = this.segments[0];
    if (!first || seq >= this.nextSeq) return { state: 'unknown' };
    if (seq < first.info.seq) return { state: 'gone' };
    const at = seq - first.info.seq;
    // Without holes a number's place is its offset; with them it is further back.
    const segment = this.segments[at]?.info.seq === seq ? this.segments[at] : this.segments.slice(0, at).find((s) => s.info.seq === seq);
    return segment ? { state: 'live', segment } : { state: 'unknown' };
  }

  /** The newest `count` segments with no hole among them, oldest first: what a media playlist may list, its numbers consecutive. */
  latestContiguous(count: number): StoredSegment[] {
    const latest = this.latest(count);
    let from = latest.length - 1;
    while (from > 0 && (latest[from - 1] as StoredSegment).info.seq === (latest[from] as StoredSegment).info.seq - 1) from--;
    return latest.slice(Math.max(0, from));
  }

  /** The number the next segment gets unless told another. */
  get next(): number {
    return this.nextSeq;
  }

  /** The newest `count` segments, oldest first. */
  latest(count: number): StoredSegment[] {
    return this.segments.slice(Math.max(0, this.segments.length - count));
  }

  announcements(): SegmentAnnouncement[] {
    return this.segments.map((s) => s.info);
  }

  /** The window as the tracker welcomes a peer with it. */
  signedAnnouncements(): SignedAnnouncement[] {
    return this.segments.map((s) => s.signed);
  }

  /** Segments published since the window was made, those it has dropped included. */
  get published(): number {
    return this.count;
  }

  get size(): number {
    return this.segments.length;
  }

  get bytes(): number {
    return this.segments.reduce((n, s) => n + s.data.byteLength, 0);
  }
}
