import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ListedSegment, Playout } from '../../harness/playout.ts';

const seg = (seq: number, publishedAtMs: number): ListedSegment => ({ seq, msn: seq - 100, uri: `live/seg-${seq}.ts`, durationMs: 1000, publishedAtMs });
const ok = { sha256: 'x', corrupt: false };

test('starts 3 segments behind live, plays one per duration, and a late segment is a stall that moves every later deadline', () => {
  const p = new Playout(0);
  p.listed([seg(100, 1000), seg(101, 2000), seg(102, 3000), seg(103, 4000), seg(104, 5000)]);
  assert.equal(p.nextToFetch()?.seq, 102);
  p.fetched(102, 5100, ok);
  assert.equal(p.play(5100), null, 'playing, and waiting on the next fetch');
  assert.equal(p.result.startupMs, 5100);
  p.fetched(103, 5500, ok);
  assert.equal(p.play(5500), 6100, 'the next falls due one duration after the first started');
  assert.equal(p.play(6100), null);
  assert.equal(p.nextToFetch()?.seq, 104);
  // 104 arrives 400 ms after it was due: a stall of 400 ms, and 105 is due at 7500 + 1000.
  assert.equal(p.play(7300), null, 'waiting on a fetch');
  p.fetched(104, 7500, ok);
  p.listed([seg(105, 6000)]);
  assert.equal(p.play(7500), null);
  p.fetched(105, 8000, { sha256: 'y', corrupt: true });
  assert.equal(p.play(8000), 8500);
  p.play(8500);
  const r = p.finish(9000);
  assert.deepEqual([r.segmentsDue, r.segmentsOnTime, r.stalls, r.stalledMs, r.corrupt], [3, 2, 1, 400, 1]);
  assert.deepEqual(r.behindLiveMs, [5100 - 3000, 6100 - 4000, 7500 - 5000, 8500 - 6000]);
  assert.equal(r.watchMs, 9000 - 5100);
  assert.deepEqual(p.position, { msn: 5, seq: 105, startedAtMs: 8500 });
});

test('a segment that could not be had is skipped as a stall of its length', () => {
  const p = new Playout(0);
  p.listed([seg(1, 0), seg(2, 1000), seg(3, 2000)]);
  p.fetched(1, 100, ok);
  p.fetched(2, 150, null);
  p.fetched(3, 200, ok);
  p.play(100);
  assert.equal(p.play(1100), 3100);
  assert.deepEqual([p.result.segmentsDue, p.result.segmentsOnTime, p.result.stalls, p.result.stalledMs, p.result.failed], [1, 0, 1, 1000, 1]);
});
