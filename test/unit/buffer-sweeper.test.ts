import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../shared/clock.ts';
import { SWEEP_CHECK_MS, SWEEP_SLACK_BYTES, processProbes, startBufferSweeper } from '../../peer-node/buffer-sweeper.ts';

/** ArrayBuffer memory as a store that keeps `live` bytes and leaves `dead` ones behind until collected. */
function fakeProcess(live: number) {
  const s = { live, dead: 0, collections: 0 };
  return { s, probes: { arrayBuffers: () => s.live + s.dead, collect: () => ((s.dead = 0), s.collections++) } };
}

test('the sweeper collects once dead buffers pass the slack, and measures the slack from what a collection left', () => {
  const clock = new ManualClock();
  const { s, probes } = fakeProcess(3 * 2 ** 20);
  const sweeper = startBufferSweeper(clock, probes);
  s.dead = SWEEP_SLACK_BYTES - 1;
  clock.advance(10 * SWEEP_CHECK_MS);
  assert.equal(s.collections, 0, 'under the slack: V8 is left to its own pace');
  s.dead = SWEEP_SLACK_BYTES;
  clock.advance(SWEEP_CHECK_MS);
  assert.equal(s.collections, 1);
  // The window grew: live bytes are not garbage, and the slack counts from the new level.
  s.live += 20 * 2 ** 20;
  clock.advance(SWEEP_CHECK_MS);
  assert.equal(s.collections, 2);
  s.dead = SWEEP_SLACK_BYTES - 1;
  clock.advance(10 * SWEEP_CHECK_MS);
  assert.equal(s.collections, 2);
  sweeper.cancel();
  s.dead = 10 * SWEEP_SLACK_BYTES;
  clock.advance(10 * SWEEP_CHECK_MS);
  assert.equal(s.collections, 2, 'nothing after cancel');
});

test("this process's probes free the memory of dead ArrayBuffers, without giving the global a gc", () => {
  const probes = processProbes();
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
  let held: Buffer[] | null = Array.from({ length: 16 }, () => Buffer.alloc(2 ** 20, 1));
  const before = probes.arrayBuffers();
  assert.ok(before >= 16 * 2 ** 20 && held.length === 16);
  held = null;
  probes.collect();
  assert.ok(probes.arrayBuffers() < before - 4 * 2 ** 20, `${probes.arrayBuffers()} bytes of ArrayBuffers left of ${before}`);
});
