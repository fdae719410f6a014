import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Egress, type EgressClass } from '../../origin/egress.ts';
import { MAX_RETRY_AFTER_S, SPARE_BURST_MS, admitSpare, spareBudgetBytesPerSec } from '../../origin/spare-budget.ts';
import { ManualClock } from '../../shared/clock.ts';

describe('spare budget: the rate', () => {
  const second = (size: number, durationMs = 1000) => ({ size, durationMs });
  const table: [string, number, { size: number; durationMs: number }[], number][] = [
    ['no segment yet: nothing to measure, no budget', 25, [], 0],
    ['a quarter of a 1500 kbit/s stream', 25, [second(187_500), second(187_500)], 46_875],
    ['the window\'s bytes over its duration, whatever each segment\'s length', 100, [second(100_000, 500), second(300_000, 1500)], 200_000],
    ['0 %: none', 0, [second(187_500)], 0],
    ['several copies', 300, [second(1000)], 3000],
  ];
  for (const [name, percent, window, expected] of table) {
    test(name, () => assert.equal(spareBudgetBytesPerSec(percent, window), expected));
  }
});

describe('spare budget: who is refused, and for how long', () => {
  const NOW = 1_000_000;
  const RATE = 10_000; // bytes/s: 10 bytes per ms
  /** [name, owed ms (paidUntil - now), bytes, rate, expected] */
  const table: [string, number, number, number, string][] = [
    ['untouched budget: admitted, charged from now', Number.NEGATIVE_INFINITY, 5000, RATE, 'admit +500'],
    ['paid up long ago: charged from now, not from then', -60_000, 5000, RATE, 'admit +500'],
    ['owing less than a burst: admitted, charged on top', SPARE_BURST_MS - 1, 5000, RATE, `admit +${SPARE_BURST_MS - 1 + 500}`],
    ['owing a whole burst: still admitted', SPARE_BURST_MS, 5000, RATE, `admit +${SPARE_BURST_MS + 500}`],
    ['one fetch larger than a burst is admitted, and paid for after', 0, 50_000, RATE, 'admit +5000'],
    ['owing a millisecond past the burst: refused, retry in a second (Retry-After is whole seconds)', SPARE_BURST_MS + 1, 1, RATE, 'refuse 1'],
    ['owing 2.5 s past the burst: retry in 3 s', SPARE_BURST_MS + 2500, 1, RATE, 'refuse 3'],
    ['deep in debt: never told to wait more than the cap', SPARE_BURST_MS + 600_000, 1, RATE, `refuse ${MAX_RETRY_AFTER_S}`],
    ['no budget at all (0 %, or no segment yet): refused, for the longest', Number.NEGATIVE_INFINITY, 1, 0, `refuse ${MAX_RETRY_AFTER_S}`],
    ['unlimited budget: admitted, owing nothing', Number.NEGATIVE_INFINITY, 1e9, Number.POSITIVE_INFINITY, 'admit +0'],
  ];
  for (const [name, owedMs, bytes, rate, expected] of table) {
    test(name, () => {
      const v = admitSpare(NOW + owedMs, bytes, rate, NOW);
      assert.equal(v.admit ? `admit +${v.paidUntilMs - NOW}` : `refuse ${v.retryAfterS}`, expected);
    });
  }

  test('however hard free-riders ask, what is admitted stays within the rate plus one burst and one fetch, and the budget is used', () => {
    const fetch = 16_384;
    let paidUntil = Number.NEGATIVE_INFINITY;
    let admitted = 0;
    const runMs = 60_000;
    for (let t = 0; t < runMs; t += 5) {
      const v = admitSpare(paidUntil, fetch, RATE, t);
      if (!v.admit) continue;
      paidUntil = v.paidUntilMs;
      admitted += fetch;
    }
    const budget = (RATE * runMs) / 1000;
    assert.ok(admitted <= budget + (RATE * SPARE_BURST_MS) / 1000 + fetch, `admitted ${admitted} of a ${budget}-byte budget`);
    assert.ok(admitted >= budget - fetch, `admitted ${admitted} of a ${budget}-byte budget`);
  });
});

describe('spare budget in the egress queue', () => {
  test('spare fetches over the budget are refused at once, with or without an uplink cap; seeds and HTTP fallbacks never', () => {
    for (const kbps of [0, 8000]) {
      const clock = new ManualClock(0);
      const egress = new Egress(kbps, clock, () => 1000); // 1000 bytes/s for spare
      const sent: string[] = [];
      const send = (cls: EgressClass, name: string) => {
        const refused = egress.send(cls, 1000, () => sent.push(name));
        return refused ? `${name} refused ${refused.retryAfterS}` : `${name} taken`;
      };
      // The first second's burst, then the second paid for ahead: refused until the budget catches up.
      assert.deepEqual(
        [send('spare', 's1'), send('spare', 's2'), send('spare', 's3'), send('http', 'h1'), send('seed', 'p1')],
        ['s1 taken', 's2 taken', 's3 refused 1', 'h1 taken', 'p1 taken'],
        `kbps ${kbps}`,
      );
      clock.advance(1000);
      assert.deepEqual([send('spare', 's4'), send('spare', 's5')], ['s4 taken', 's5 refused 1'], `kbps ${kbps}`);
      clock.advance(10_000);
      assert.deepEqual(sent.sort(), ['h1', 'p1', 's1', 's2', 's4'], `kbps ${kbps}`);
    }
  });

  test('an HTTP fallback that would wait past the bound behind queued seeds and fallbacks is refused at once; spare ones queue behind as before', () => {
    const clock = new ManualClock(0);
    // 8000 kbit/s: 1000 bytes per ms, so each 200 KB item takes 200 ms on the wire; fallbacks wait at most 500 ms.
    const egress = new Egress(8000, clock, () => 1e9, 500);
    const sent: string[] = [];
    const send = (cls: EgressClass, name: string) => {
      const refused = egress.send(cls, 200_000, () => sent.push(name));
      return refused ? `${name} refused ${refused.retryAfterS}` : `${name} taken`;
    };
    // On the wire at once: p1. Queued ahead of a new fallback: p2 (200 ms), then h1 (400 ms), then h2 (600 ms).
    assert.deepEqual(
      [send('seed', 'p1'), send('seed', 'p2'), send('http', 'h1'), send('http', 'h2'), send('http', 'h3'), send('spare', 'x1'), send('seed', 'p3')],
      ['p1 taken', 'p2 taken', 'h1 taken', 'h2 taken', 'h3 refused 1', 'x1 taken', 'p3 taken'],
    );
    // As the queue drains, fallbacks are taken again.
    clock.advance(400);
    assert.deepEqual(sent, ['p1', 'p2']);
    assert.equal(send('http', 'h4'), 'h4 taken');
    clock.advance(10_000);
    assert.deepEqual(sent, ['p1', 'p2', 'p3', 'h1', 'h2', 'h4', 'x1']);
    // Unbounded (0), or an uncapped uplink: every fallback is taken.
    for (const [kbps, bound] of [[8000, 0], [0, 500]] as const) {
      const e = new Egress(kbps, new ManualClock(0), () => 1e9, bound);
      for (let i = 0; i < 10; i++) assert.equal(e.send('http', 200_000, () => {}), null, `kbps ${kbps}, bound ${bound}`);
    }
  });

  test('the budget follows the stream: read at each fetch', () => {
    const clock = new ManualClock(0);
    let rate = 0;
    const egress = new Egress(0, clock, () => rate);
    assert.deepEqual(egress.send('spare', 1, () => {}), { retryAfterS: MAX_RETRY_AFTER_S });
    rate = 1000;
    assert.equal(egress.send('spare', 1, () => {}), null);
  });
});
