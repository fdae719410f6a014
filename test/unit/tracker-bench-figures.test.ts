import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Measured, computeFigures, percentile, renderTable, segmentFigure } from '../../scripts/tracker-bench/figures.ts';
import type { SegmentReceipts } from '../../scripts/tracker-bench/protocol.ts';
import { shares } from '../../scripts/tracker-bench/workers.ts';

const part = (seq: number, latenciesMs: number[], missing = 0): SegmentReceipts => ({ seq, publishedAtMs: 1000 * seq, latenciesMs, missing });

function measured(more: Partial<Measured> = {}): Measured {
  return {
    connections: 4,
    joined: 4,
    lost: 0,
    joinSeconds: 2,
    joinCpuPct: 30,
    trackerCpuPct: 12.5,
    trackerWaitingPct: 40,
    memoryBefore: { rssBytes: 100 * 1024, heapUsedBytes: 50 * 1024 },
    memoryJoined: { rssBytes: 140 * 1024, heapUsedBytes: 58 * 1024 },
    segments: [
      [part(1, [5, 9]), part(1, [7, 30])],
      [part(2, [4, 6]), part(2, [8, 10])],
    ],
    workerCpuMs: [1000, 3000],
    workerWaitMs: [500, 1500],
    windowMs: 10_000,
    ...more,
  };
}

describe('bench:tracker figures', () => {
  test('nearest-rank percentiles, of values in any order', () => {
    assert.equal(percentile([4, 1, 3, 2], 0.5), 2);
    assert.equal(percentile([4, 1, 3, 2], 0.99), 4);
    assert.equal(percentile([4, 1, 3, 2], 1), 4);
    assert.equal(percentile([7], 0), 7);
    assert.ok(Number.isNaN(percentile([], 0.5)));
  });

  test('a segment is as late as its last receipt in any worker', () => {
    assert.deepEqual(segmentFigure([part(3, [5, 9]), part(3, [7], 1)]), { seq: 3, receipts: 3, missing: 1, lastMs: 9 });
    assert.ok(Number.isNaN(segmentFigure([part(3, [], 2)]).lastMs), 'nobody received it: no time to give');
  });

  test('memory per connection, latencies per segment and per receipt, worker CPU', () => {
    const f = computeFigures(measured());
    assert.equal(f.rssKbPerConnection, 10);
    assert.equal(f.heapKbPerConnection, 2);
    assert.equal(f.segments, 2);
    assert.equal(f.missingReceipts, 0);
    assert.equal(f.lastReceiptMsP50, 10);
    assert.equal(f.lastReceiptMsP99, 30);
    assert.equal(f.receiptMsP50, 7);
    assert.equal(f.receiptMsP99, 30);
    assert.equal(f.workerCpuPct, 20, 'the mean worker used 2 s of CPU in 10 s');
    assert.equal(f.workerWaitingPct, 10, 'and waited 1 s for a core');
    assert.equal(f.trackerWaitingPct, 40);
  });

  test('what could not be read stays unknown, and the table says so', () => {
    const f = computeFigures(measured({ memoryBefore: { rssBytes: 1, heapUsedBytes: null }, memoryJoined: { rssBytes: 2, heapUsedBytes: null }, trackerCpuPct: null, workerWaitMs: [] }));
    assert.equal(f.heapKbPerConnection, null);
    assert.equal(f.workerWaitingPct, null);
    assert.equal(f.trackerCpuPct, null);
    const cpuRow = renderTable(f).split('\n').find((l) => l.startsWith('tracker CPU, all joined'));
    assert.match(cpuRow ?? '', /\s-\s+< 100$/);
  });

  test('the table puts each target beside its figure, and says whether it was met', () => {
    const table = renderTable(computeFigures(measured({ segments: [[part(1, [600])]] })));
    assert.match(table, /tracker CPU, all joined, % of a core\s+12\.5\s+< 100\s+met/);
    assert.match(table, /tracker RSS per connection, KB\s+10\.00\s+< 20\s+met/);
    assert.match(table, /publish to last receipt p99, ms\s+600\.0\s+< 500\s+MISSED/);
  });

  test('connections are spread over the workers as evenly as they go', () => {
    assert.deepEqual(shares(10_000, 4), [2500, 2500, 2500, 2500]);
    assert.deepEqual(shares(10, 4), [3, 3, 2, 2]);
  });
});
