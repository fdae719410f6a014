/**
 * What a channel published as a ladder (shared/rendition.ts) needs beyond its
 * renditions' swarms: numbers that mean the same time slice in every
 * rendition, and the routing of ffmpeg's files to their rendition.
 */
import { RENDITION_NAME_PATTERN } from '../shared/rendition.ts';
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
