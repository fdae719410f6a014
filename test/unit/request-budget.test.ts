import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IN_FLIGHT_HORIZON_MS, MIN_IN_FLIGHT, requestBudget } from '../../peer-node/policy/request-budget.ts';

describe('requests out at once', () => {
  const KiB = 1024;
  const table: [string, number, number | null, number, number][] = [
    // name, configured most, download bytes/s, piece size, budget
    ['a link of unknown rate: the configured most', 48, null, 16 * KiB, 48],
    ['1 Mbit/s, 8 KiB pieces: what it carries in the horizon', 48, 125_000, 8 * KiB, Math.floor((125_000 * IN_FLIGHT_HORIZON_MS) / 1000 / (8 * KiB))],
    ['a fast link: no more than the configured most', 48, 125_000_000, 16 * KiB, 48],
    ['a slow link: never fewer than the floor', 48, 10_000, 16 * KiB, MIN_IN_FLIGHT],
    ['a floor above the configured most: the configured most', 2, 10_000, 16 * KiB, 2],
  ];
  for (const [name, most, rate, pieceSize, expected] of table) {
    test(name, () => assert.equal(requestBudget(most, rate, pieceSize), expected));
  }

  test('what is out arrives within the horizon at the link rate, floor aside', () => {
    for (const rate of [50_000, 125_000, 500_000, 2_000_000]) {
      const budget = requestBudget(1024, rate, 8 * KiB);
      assert.ok((budget * 8 * KiB * 1000) / rate <= IN_FLIGHT_HORIZON_MS || budget === MIN_IN_FLIGHT, `${rate} B/s: ${budget}`);
    }
  });
});
