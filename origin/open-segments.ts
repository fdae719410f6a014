import type { AnnouncementSigner } from '../shared/announcement-signature.ts';
import type { Clock } from '../shared/clock.ts';
import { sha256Base64Url } from '../shared/hashing.ts';
import { MAX_PIECES_PER_SEGMENT } from '../shared/limits.ts';
import type { SignedPartial } from '../shared/tracker-protocol.ts';
import type { IngestGrowth } from './ingest-receiver.ts';
import type { LiveWindow } from './live-window.ts';
import type { OriginSeeding } from './seeding.ts';

export interface OpenSegmentsDeps {
  pieceSize: number;
  window: Pick<LiveWindow, 'next'>;
  signer: Pick<AnnouncementSigner, 'signPartial'>;
  /** Pushes a signed partial to every peer of the swarm (TrackerServer.announcePart). */
  announce(partial: SignedPartial): void;
  seeding: Pick<OriginSeeding, 'seedOpen'>;
  clock: Clock;
}

/** What a segment announced while it arrived publishes with. */
export interface ClosedSegment {
  /** The number its partials named: it publishes under it. */
  seq: number;
  /** Its pieces 0 .. seeded - 1 went out while it arrived; the rest are seeded at publication. */
  seeded: number;
}

interface OpenSegment {
  run: string;
  index: number;
  seq: number;
  openedAtMs: number;
  discontinuity: boolean;
  /** Whole pieces announced (and seeded) so far. */
  announced: number;
  /** Every byte received so far. */
  bytes: Buffer;
  /** Its partials as signed and sent, in order: what a peer joining now is told of it. */
  partials: SignedPartial[];
}

/** Open segments kept at most: one is normal, two while a finished one waits for its playlist entry. */
const MAX_OPEN = 8;

/**
 * Progressive announcement in low-latency mode: the segments ffmpeg is still
 * PUTting. Each time more bytes of one arrive (IngestReceiver's `grow`), the
 * whole pieces not yet announced are hashed, signed as one partial, pushed to
 * every peer and seeded at once, so relay starts before the segment is
 * complete. Its number is fixed at its first bytes and kept for its
 * publication (close), whatever else happens in between.
 *
 * A segment whose PUT dies is never published; its state goes when a segment
 * of a new run opens (a new ffmpeg: its number is free again, never having
 * been published) or when a later segment of its run is published (the
 * receiver skips it then too).
 */
export class OpenSegments {
  private readonly open: OpenSegment[] = [];
  /** The run of the newest segment published, as IngestReceiver judges a discontinuity. */
  private lastRun: string | null = null;
  /** The segment published last: a growth of it or of one before it in its run is stale. */
  private closed: { run: string; index: number } | null = null;

  constructor(private readonly deps: OpenSegmentsDeps) {}

  grow(g: IngestGrowth): void {
    if (this.closed && this.closed.run === g.run && g.index <= this.closed.index) return;
    const s = this.find(g.run, g.index) ?? this.opened(g.run, g.index);
    s.bytes = g.bytes;
    const whole = Math.min(MAX_PIECES_PER_SEGMENT, Math.floor(g.bytes.byteLength / this.deps.pieceSize));
    if (whole <= s.announced) return;
    const first = s.announced;
    const pieces: number[] = [];
    const pieceHashes: string[] = [];
    for (let i = first; i < whole; i++) {
      pieces.push(i);
      pieceHashes.push(sha256Base64Url(g.bytes.subarray(i * this.deps.pieceSize, (i + 1) * this.deps.pieceSize)));
    }
    s.announced = whole;
    // Announced before seeded: a peer takes a seeded piece only of a segment it knows.
    const partial = this.deps.signer.signPartial({ seq: s.seq, first, pieceHashes, openedAtMs: s.openedAtMs, discontinuity: s.discontinuity });
    s.partials.push(partial);
    this.deps.announce(partial);
    this.deps.seeding.seedOpen(s.seq, pieces, g.bytes);
  }

  /** Segment `index` of `run` is being published: the number it was announced under and what was seeded of it, or null if it never opened. */
  close(run: string, index: number): ClosedSegment | null {
    const s = this.find(run, index);
    this.closed = { run, index };
    this.lastRun = run;
    this.drop((o) => o.run !== run || o.index <= index);
    return s ? { seq: s.seq, seeded: s.announced } : null;
  }

  /**
   * Every partial of the segments still arriving, oldest first: a peer that
   * joins while one arrives is told of the pieces already out, so it can take
   * them from its neighbours now. Otherwise it learns them only at
   * publication, and those pieces are fetched then, most from neighbours
   * that never pushed them to it.
   */
  signedPartials(): SignedPartial[] {
    return this.open.flatMap((s) => s.partials);
  }

  /** The bytes received so far of open segment `seq`, for reseeding its pieces. */
  bytes(seq: number): Buffer | null {
    return this.open.find((s) => s.seq === seq)?.bytes ?? null;
  }

  private find(run: string, index: number): OpenSegment | undefined {
    return this.open.find((s) => s.run === run && s.index === index);
  }

  private opened(run: string, index: number): OpenSegment {
    // A new run: ffmpeg restarted, so what the old one was sending will never be whole.
    this.drop((o) => o.run !== run);
    while (this.open.length >= MAX_OPEN) this.open.shift();
    const seq = Math.max(this.deps.window.next, ...this.open.map((o) => o.seq + 1));
    const s: OpenSegment = {
      run,
      index,
      seq,
      openedAtMs: this.deps.clock.nowMs(),
      discontinuity: this.lastRun !== null && this.lastRun !== run,
      announced: 0,
      bytes: Buffer.alloc(0),
      partials: [],
    };
    this.open.push(s);
    return s;
  }

  private drop(gone: (s: OpenSegment) => boolean): void {
    for (let i = this.open.length - 1; i >= 0; i--) if (gone(this.open[i] as OpenSegment)) this.open.splice(i, 1);
  }
}
