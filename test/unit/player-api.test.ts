import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readReport, readStats } from '../../shared/player-api.ts';

describe('the player↔peer contract', () => {
  test('a report is four non-negative integers within bounds, or nothing', () => {
    const ok = { seq: 7, offsetMs: 1500, stalls: 1, stallMs: 300 };
    assert.deepEqual(readReport(ok), ok);
    assert.deepEqual(readReport({ ...ok, extra: 'ignored' }), ok);
    for (const bad of [null, [], 'x', { ...ok, seq: -1 }, { ...ok, offsetMs: 600_001 }, { ...ok, stalls: 1.5 }, { ...ok, stallMs: '3' }, { seq: 7 }]) {
      assert.equal(readReport(bad), null, JSON.stringify(bad));
    }
  });

  test("the page reads a node's stats without trusting them: odd fields read as zero, a non-object as null", () => {
    const s = readStats({ peerId: 'p1', p2pBytes: 10, originBytes: -5, neighbours: 'many', trackerConnected: 'yes', segments: 3 });
    assert.equal(s?.peerId, 'p1');
    assert.equal(s?.p2pBytes, 10);
    assert.equal(s?.originBytes, 0);
    assert.equal(s?.neighbours, 0);
    assert.equal(s?.trackerConnected, false);
    assert.equal(s?.segments, 3);
    assert.equal(s?.duplicateBytes, 0);
    assert.equal(readStats([1, 2]), null);
    assert.equal(readStats(null), null);
  });
});
