import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { INTEREST_LINGER_MS, interestLingers, interestWitness, lackedPieces } from '../../peer-node/policy/interest.ts';
import type { PickerSegment } from '../../peer-node/policy/picker.ts';

const seg = (seq: number, have: boolean[]): PickerSegment => ({ seq, pieceCount: have.length, size: have.length * 1000, deadlineMs: 0, have, inFlight: [] });

describe('interest', () => {
  test('lackedPieces: what we lack of each wanted segment, segments held whole left out', () => {
    assert.deepEqual(lackedPieces([seg(10, [true, false, true, false]), seg(11, [true, true]), seg(12, [false])]), [
      { seq: 10, pieces: [1, 3] },
      { seq: 12, pieces: [0] },
    ]);
    assert.deepEqual(lackedPieces([]), []);
  });

  test('interestWitness: the newest piece we lack that the neighbour holds, or null', () => {
    const lacking = [
      { seq: 10, pieces: [1, 3] },
      { seq: 12, pieces: [0, 2] },
    ];
    const rows: { name: string; has: [number, boolean[]][]; witness: { seq: number; piece: number } | null }[] = [
      { name: 'holds nothing we lack', has: [[10, [true, false, true, false]], [11, [true]]], witness: null },
      { name: 'holds nothing at all', has: [], witness: null },
      { name: 'the newest segment first', has: [[10, [false, true, false, true]], [12, [true, false, false]]], witness: { seq: 12, piece: 0 } },
      { name: 'the newest piece of it', has: [[12, [true, false, true]]], witness: { seq: 12, piece: 2 } },
      { name: 'an older segment when the newest is not held', has: [[10, [false, true, false, false]]], witness: { seq: 10, piece: 1 } },
      { name: 'bits past the segment count nothing', has: [[12, [false, false, false, true]]], witness: null },
    ];
    for (const row of rows) assert.deepEqual(interestWitness(lacking, new Map(row.has)), row.witness, row.name);
  });

  test('interestLingers: interest stays for INTEREST_LINGER_MS after the neighbour last held something we lack', () => {
    const since = 10_000;
    const rows = [
      { afterMs: 0, lingers: true },
      { afterMs: INTEREST_LINGER_MS - 1, lingers: true },
      { afterMs: INTEREST_LINGER_MS, lingers: false },
      { afterMs: 10 * INTEREST_LINGER_MS, lingers: false },
    ];
    for (const row of rows) assert.deepEqual({ ...row, lingers: interestLingers(since, since + row.afterMs) }, row);
    assert.equal(interestLingers(since, since + 50, 0), false, 'no linger asked, none given');
  });
});
