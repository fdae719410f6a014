import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_PATIENCE as L, type NeighbourRecord, missVerdict, patienceMs, raceLostIsMiss, strikeVerdict } from '../../peer-node/policy/patience.ts';
import { DEFAULT_LATENCY_MS, DEFAULT_PIECE_MS } from '../../peer-node/policy/picker.ts';

const PIECE = 16 * 1024;
const measured = (rateBytesPerSec: number, latencyMs = 40): NeighbourRecord => ({ rateBytesPerSec, latencyMs, everDelivered: true });
const unmeasured: NeighbourRecord = { rateBytesPerSec: 0, latencyMs: 0, everDelivered: true };
const stranger: NeighbourRecord = { rateBytesPerSec: 0, latencyMs: 0, everDelivered: false };

describe('patienceMs', () => {
  test('four times its expected answer time, never under the floor', () => {
    const table: [string, NeighbourRecord, number][] = [
      ['not measured: the floor', unmeasured, L.minPatienceMs],
      ['fast: the floor', measured(1_000_000), L.minPatienceMs],
      // 16 KiB at 4 KiB/s is 4 s, plus 40 ms: 4 x 4040.
      ['slow: 4 x (latency + piece time)', measured(4096), 16_160],
    ];
    for (const [why, n, expected] of table) assert.equal(patienceMs(n, PIECE, L), expected, why);
  });
});

describe('raceLostIsMiss', () => {
  test('a request beaten by another source is a miss once it should have been answered', () => {
    const stranger_ = DEFAULT_LATENCY_MS + DEFAULT_PIECE_MS;
    const table: [string, NeighbourRecord, number, boolean][] = [
      ['never delivered: any lost race', stranger, 1, true],
      ['never delivered: beaten in the same instant is no race', stranger, 0, false],
      ['delivered, not measured lately: within what a stranger needs', unmeasured, stranger_, false],
      ['delivered, not measured lately: past it', unmeasured, stranger_ + 1, true],
      ['measured: within its patience (the origin often wins under load)', measured(100_000), L.minPatienceMs, false],
      ['measured: past its patience', measured(100_000), L.minPatienceMs + 1, true],
    ];
    for (const [why, n, ms, expected] of table) assert.equal(raceLostIsMiss(n, ms, PIECE, L), expected, why);
  });
});

describe('missVerdict and strikeVerdict', () => {
  test('drop at the bound, keep below it', () => {
    assert.equal(missVerdict(L.maxMisses - 1, L), 'keep');
    assert.equal(missVerdict(L.maxMisses, L), 'drop');
    assert.equal(strikeVerdict(L.maxStrikes - 1, L), 'keep');
    assert.equal(strikeVerdict(L.maxStrikes, L), 'drop');
  });
});
