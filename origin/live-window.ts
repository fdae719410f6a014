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
 * sees a number reused for different bytes.
 */
export class LiveWindow {
  private readonly segments: StoredSegment[] = [];
  private nextSeq: number;
  readonly discontinuities = new DiscontinuityCounter();

  constructor(
    private readonly capacity: number,
    private readonly pieceSize: number,
    private readonly signer: Pick<AnnouncementSigner, 'sign'>,
    private readonly firstSeq = 0,
  ) {
    this.nextSeq = firstSeq;
  }

  publish(data: Buffer, durationMs: number, discontinuity: boolean, nowMs: number): StoredSegment {
    const info: SegmentAnnouncement = {
      seq: this.nextSeq++,
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
    const segment = this.segments[seq - first.info.seq];
    return segment ? { state: 'live', segment } : { state: 'unknown' };
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
    return this.nextSeq - this.firstSeq;
  }

  get size(): number {
    return this.segments.length;
  }

  get bytes(): number {
    return this.segments.reduce((n, s) => n + s.data.byteLength, 0);
  }
}
