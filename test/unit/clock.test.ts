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

/** The ordering ManualClock promises, kept the plain way: every pending timer in one list, the least (due, order) fires next. */
class ReferenceClock {
  now = 0;
  private order = 0;
  private readonly pending: { at: number; order: number; fn: () => void }[] = [];
  setTimeout(fn: () => void, ms: number): void {
    this.pending.push({ at: this.now + Math.max(0, ms), order: this.order++, fn });
  }
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let best = -1;
      for (let i = 0; i < this.pending.length; i++) {
        const t = this.pending[i] as { at: number; order: number };
        const b = this.pending[best];
        if (t.at <= end && (!b || t.at < b.at || (t.at === b.at && t.order < b.order))) best = i;
      }
      if (best < 0) break;
      const [t] = this.pending.splice(best, 1);
      this.now = (t as { at: number }).at;
      (t as { fn: () => void }).fn();
    }
    this.now = end;
  }
}

test('timers scheduled while others fire, at once or later, fire in the same order as one (time, order) list', () => {
  // Each timer, as it fires, schedules the children its spec gives: delays of 0 (due at once) mixed with later ones.
  const delay = fc.constantFrom(0, 0, 0, 1, 2, 5, 0.5);
  fc.assert(
    fc.property(fc.array(fc.record({ at: fc.integer({ min: 0, max: 20 }), children: fc.array(delay, { maxLength: 3 }) }), { minLength: 1, maxLength: 30 }), (specs) => {
      const run = (clock: { setTimeout(fn: () => void, ms: number): unknown; advance(ms: number): void }) => {
        const fired: string[] = [];
        const schedule = (id: string, ms: number, depth: number, children: readonly number[]) =>
          clock.setTimeout(() => {
            fired.push(id);
            if (depth < 3) children.forEach((c, k) => schedule(`${id}.${k}`, c, depth + 1, children));
          }, ms);
        specs.forEach((s, i) => schedule(String(i), s.at, 0, s.children));
        // In steps, as the simulator advances it, and with timers scheduled between steps too.
        for (let step = 0; step < 8; step++) {
          clock.advance(5);
          clock.setTimeout(() => fired.push(`between ${step}`), 0);
        }
        return fired;
      };
      assert.deepEqual(run(new ManualClock()), run(new ReferenceClock()));
    }),
  );
});
