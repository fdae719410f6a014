/**
 * What a channel published as a ladder (shared/rendition.ts) needs beyond its
 * renditions' swarms: numbers that mean the same time slice in every
 * rendition, and the routing of ffmpeg's files to their rendition.
 */
import { MIN_PIECE_SIZE } from '../shared/limits.ts';
import { RENDITION_NAME_PATTERN, type Rung } from '../shared/rendition.ts';
import type { LiveWindow } from './live-window.ts';

/** Runs whose numbering is kept: ffmpeg writes for one run at a time, and a late file of the one before may still come. */
const KEPT_RUNS = 2;
/** Numbers whose publish time is kept: sibling renditions publish a number within a segment or two of each other. */
const KEPT_STAMPS = 32;

/**
 * Segment numbers shared by a ladder's renditions. One ffmpeg cuts every
 * rendition at the same keyframes, so its segment index is the same time slice
 * in each; a run's indices are laid after the furthest number any rendition has
 * reached when that run's first segment arrives. A rendition that misses a
 * segment leaves a hole; none shifts against the others.
 */
export class AlignedNumbering {
  private readonly bases = new Map<string, number>();
  private readonly stamps = new Map<number, number>();

  constructor(private readonly windows: () => Iterable<Pick<LiveWindow, 'next'>>) {}

  seqFor(run: string, index: number): number {
    let base = this.bases.get(run);
    if (base === undefined) {
      const next = Math.max(...[...this.windows()].map((w) => w.next));
      base = next - index;
      this.bases.set(run, base);
      while (this.bases.size > KEPT_RUNS) this.bases.delete(this.bases.keys().next().value as string);
    }
    return base + index;
  }

  /**
   * The publish time of number `seq` in every rendition: `nowMs` for the first
   * to publish it, the same for the others, so every rung's playlist gives the
   * same PROGRAM-DATE-TIME for the same number. Asked before the announcement
   * is signed, since the time is part of the signed record.
   */
  stampFor(seq: number, nowMs: number): number {
    const stamped = this.stamps.get(seq);
    if (stamped !== undefined) return stamped;
    this.stamps.set(seq, nowMs);
    while (this.stamps.size > KEPT_STAMPS) this.stamps.delete(this.stamps.keys().next().value as number);
    return nowMs;
  }
}

/** The rendition an ingest file of a ladder belongs to: ffmpeg names them `<r>-s<n>.ts` and `<r>-stream.m3u8`. */
export function renditionOfIngestFile(file: string): string | null {
  const at = file.indexOf('-');
  const name = file.slice(0, at);
  return at > 0 && RENDITION_NAME_PATTERN.test(name) ? name : null;
}

/**
 * A rung's pieces are never smaller than this: each piece costs the same
 * headers, haves and planning, whatever its size. 4 KiB measured best in the
 * simulator (below), but on this 2-core machine the `abr` bench's 30 nodes
 * then spent 4.6 % of a core each instead of 3.5-4.2 %, and their lateness
 * cost more than the pieces' speed gained.
 */
export const MIN_RUNG_PIECE_SIZE = Math.max(MIN_PIECE_SIZE, 8 * 1024);

/**
 * The piece size of each rung: `pieceSize` (--piece-size) for the top one,
 * and for a lower one in proportion to its bitrate (audio included), in whole
 * KiB, at least MIN_RUNG_PIECE_SIZE. A piece crosses each hop of the swarm at
 * its uploader's rate, and viewers of a low rung upload at rates of its order,
 * so pieces of the same size take longer a hop the lower the rung: segments
 * reach the last viewers late and go to the origin instead. Pieces of about
 * the same duration in every rung keep their hops alike. In the simulator
 * (`npm run sim -- --scenario swarm-50 --stream-kbps 380 --duration 40
 * --piece-size N`), a 380 kbit/s stream with 16 KiB pieces cost 4.23 origin
 * copies per segment at continuity 0.9585; with 8 KiB pieces 1.26 and 0.9994,
 * for 3.9 % overhead instead of 2.2 %; with 4 KiB 1.04 and 1.0000, for 6.4 %.
 */
export function rungPieceSizes(rungs: readonly Rung[], pieceSize: number, audioKbps: number): Map<string, number> {
  const kbps = (r: Rung) => r.videoKbps + audioKbps;
  const top = Math.max(...rungs.map(kbps));
  return new Map(
    rungs.map((r) => {
      const scaled = Math.round((pieceSize * kbps(r)) / top / 1024) * 1024;
      return [r.name, Math.min(pieceSize, Math.max(MIN_RUNG_PIECE_SIZE, scaled))];
    }),
  );
}
