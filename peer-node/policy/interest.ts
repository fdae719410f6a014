import type { PickerSegment } from './picker.ts';

/**
 * How long we stay interested in a neighbour after it stops holding anything
 * we lack. At the live edge a neighbour is caught up with us only until its
 * next piece (one every ~80 ms at 1.5 Mbit/s in 16 KiB pieces): telling it
 * each time cost two frames per flap, and between its choke rounds its
 * choker keeps only interested peers in their regular slots, so every flap
 * could cost us our slot. Measured in the simulator (swarm-50, 60 s, 4 seeds):
 * at 50 viewers 300 ms took lag P50 / P95 from 1,013 / 1,361 to 865 / 1,276 ms
 * and 15 % of the events, at 300 from 1,248 / 1,598 to 1,034 / 1,531 at the
 * same origin copies (1.25). At 1,000 (seeds 1-2) lag P50 went from 1,452 to
 * 1,167 ms and copies from 1.53 to 1.65: slots held more steadily leave more
 * of a crowd's joiners to the origin. 1,000 ms held slots for peers that
 * wanted nothing and sent copies at 50 viewers from 1.02 to 1.35.
 */
export const INTEREST_LINGER_MS = 300;

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

/**
 * Whether we stay interested in a neighbour that holds nothing we lack since
 * `lackingSinceMs` (see INTEREST_LINGER_MS).
 */
export function interestLingers(lackingSinceMs: number, nowMs: number, lingerMs = INTEREST_LINGER_MS): boolean {
  return nowMs - lackingSinceMs < lingerMs;
}
