import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ManualClock } from '../../shared/clock.ts';

test('timers fire in due order, ties first-come first-served, those scheduled while firing included', () => {
  const clock = new ManualClock(100);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push('b@20'), 20);
  clock.setTimeout(() => fired.push('a@10'), 10);
  clock.setTimeout(() => {
    fired.push('c@20');
    clock.setTimeout(() => fired.push('d@20 from c'), 0);
    clock.setTimeout(() => fired.push('e@25 from c'), 5);
  }, 20);
  clock.advance(30);
  assert.deepEqual(fired, ['a@10', 'b@20', 'c@20', 'd@20 from c', 'e@25 from c']);
  assert.equal(clock.nowMs(), 130);
  assert.equal(clock.events, 5);
});

test('intervals repeat until cancelled; a cancelled timer never fires', () => {
  const clock = new ManualClock();
  let ticks = 0;
  const every = clock.setInterval(() => ticks++, 10);
  const never = clock.setTimeout(() => assert.fail('cancelled timer fired'), 15);
  never.cancel();
  clock.advance(35);
  assert.equal(ticks, 3);
  every.cancel();
  clock.advance(100);
  assert.equal(ticks, 3);
});

test('any schedule fires each timer once, at its time, in (time, order) order', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ at: fc.integer({ min: 0, max: 50 }), cancel: fc.boolean() }), { maxLength: 60 }), (specs) => {
      const clock = new ManualClock();
      const fired: number[] = [];
      specs.forEach((s, i) => {
        const h = clock.setTimeout(() => {
          assert.equal(clock.nowMs(), s.at);
          fired.push(i);
        }, s.at);
        if (s.cancel) h.cancel();
      });
      clock.advance(60);
      const expected = specs.map((s, i) => ({ ...s, i })).filter((s) => !s.cancel).sort((a, b) => a.at - b.at || a.i - b.i).map((s) => s.i);
      assert.deepEqual(fired, expected);
    }),
  );
});
