import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ManualClock } from '../../shared/clock.ts';
import { SWEEP_CHECK_MS, SWEEP_SLACK_BYTES, processProbes, startBufferSweeper } from '../../peer-node/buffer-sweeper.ts';

const MB = 2 ** 20;

test('the sweeper collects once dead buffers pass the slack over what the last collection left, read after V8 has freed them', () => {
  const clock = new ManualClock();
  const s = { live: 3 * MB, dead: 0, collections: 0 };
  const sweeper = startBufferSweeper(clock, {
    arrayBuffers: () => s.live + s.dead,
    // As V8 does: the memory of the dead buffers is given back a little after the collection returns.
    collect: () => {
      s.collections++;
      clock.setTimeout(() => (s.dead = 0), 1);
    },
  });
  s.dead = SWEEP_SLACK_BYTES - 1;
  clock.advance(10 * SWEEP_CHECK_MS);
  assert.equal(s.collections, 0, 'under the slack, V8 is left to its own pace');
  s.dead = SWEEP_SLACK_BYTES;
  clock.advance(SWEEP_CHECK_MS);
  assert.equal(s.collections, 1);
  clock.advance(SWEEP_CHECK_MS);
  s.dead = SWEEP_SLACK_BYTES - 1;
  clock.advance(10 * SWEEP_CHECK_MS);
  assert.equal(s.collections, 1);
  s.dead = SWEEP_SLACK_BYTES;
  clock.advance(SWEEP_CHECK_MS);
  assert.equal(s.collections, 2, 'the slack counts from the level once freed, not from the dead bytes still counted as the collection returned');
  clock.advance(SWEEP_CHECK_MS);
  // A longer window: live bytes look like garbage once, and the slack then counts from the new level.
  s.live += 20 * MB;
  clock.advance(2 * SWEEP_CHECK_MS);
  assert.equal(s.collections, 3);
  s.dead = SWEEP_SLACK_BYTES - 1;
  clock.advance(10 * SWEEP_CHECK_MS);
  assert.equal(s.collections, 3);
  sweeper.cancel();
  s.dead = 10 * SWEEP_SLACK_BYTES;
  clock.advance(10 * SWEEP_CHECK_MS);
  assert.equal(s.collections, 3, 'nothing after cancel');
});

test("this process's probes free the memory of dead ArrayBuffers, without giving the global a gc", async () => {
  const probes = processProbes();
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
  let held: Buffer[] | null = Array.from({ length: 16 }, () => Buffer.alloc(MB, 1));
  const before = probes.arrayBuffers();
  assert.ok(before >= 16 * MB && held.length === 16);
  held = null;
  probes.collect();
  // V8 gives the memory back on a thread of its own after the collection.
  for (let i = 0; i < 100 && probes.arrayBuffers() >= before - 8 * MB; i++) await sleep(20);
  assert.ok(probes.arrayBuffers() < before - 8 * MB, `${probes.arrayBuffers()} bytes of ArrayBuffers left of ${before}`);
});
