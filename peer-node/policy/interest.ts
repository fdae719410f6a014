import type { PickerSegment } from './picker.ts';

/** The pieces we lack of one wanted segment. */
export interface Lacking {
  seq: number;
  pieces: number[];
}

export interface Witness {
  seq: number;
  piece: number;
}

/** What we lack of the wanted segments, in their order; segments we hold whole are left out. */
export function lackedPieces(segments: readonly PickerSegment[]): Lacking[] {
  return segments.flatMap((s) => {
    const pieces: number[] = [];
    for (let i = 0; i < s.pieceCount; i++) if (s.have[i] !== true) pieces.push(i);
    return pieces.length > 0 ? [{ seq: s.seq, pieces }] : [];
  });
}

/**
 * A piece we lack that a neighbour holds, which our interest in it rests on,
 * or null: not interested. Searched from the newest piece back: pieces come
 * roughly in order, so the last one we lack stays lacked longest, and the
 * verdict is rechecked against that one piece until it comes.
 */
export function interestWitness(lacking: readonly Lacking[], has: ReadonlyMap<number, readonly boolean[]>): Witness | null {
  for (let k = lacking.length - 1; k >= 0; k--) {
    const m = lacking[k] as Lacking;
    const bits = has.get(m.seq);
    if (bits === undefined) continue;
    for (let j = m.pieces.length - 1; j >= 0; j--) {
      const i = m.pieces[j] as number;
      if (bits[i] === true) return { seq: m.seq, piece: i };
    }
  }
  return null;
}
