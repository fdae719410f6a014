/**
 * The simulated broadcast: a segment every `segmentMs` of `bytes` each, with
 * contents of their own (so every segment has its own hashes) drawn from the
 * run's seed. Only the origin's window holds these bytes; peers hold views of
 * the frames they trade, never copies per viewer.
 */
import type { Rng } from '../../shared/rng.ts';

export interface StreamShape {
  segmentMs: number;
  /** Stream rate, for segment sizes when `sizes` is empty. */
  kbps: number;
  /** Sizes of a real encode's segments, used in turn; empty for a constant rate. */
  sizes: readonly number[];
}

export function segmentBytes(shape: StreamShape, index: number): number {
  if (shape.sizes.length > 0) return shape.sizes[index % shape.sizes.length] as number;
  return Math.round((shape.kbps * shape.segmentMs) / 8);
}

/** `size` bytes of noise from `rng`: four bytes a draw. */
export function segmentContent(size: number, rng: Rng): Buffer {
  const words = new Uint32Array(Math.ceil(size / 4));
  for (let i = 0; i < words.length; i++) words[i] = Math.floor(rng() * 2 ** 32);
  return Buffer.from(words.buffer, 0, size);
}
