import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ABR_DEFAULTS, chooseRung, estimateBps, estimateTtfbMs, newEstimator, sampleDownload, settledRung } from '../../harness/abr-rule.ts';

// A ladder's BANDWIDTHs, lowest first (bits/s).
const LADDER = [500_000, 1_000_000, 2_000_000];

describe('the benchmark player\'s ABR rule', () => {
  test('choice at a segment boundary: up within 0.7 x the estimate, stay within 0.95 x, else down', () => {
    const cases: { current: number; estimate: number; want: number; why: string }[] = [
      { current: 0, estimate: 500_000, want: 0, why: 'the default estimate keeps the lowest rung' },
      { current: 0, estimate: 1_400_000, want: 0, why: '0.7 x 1.4 M = 980 k: rung 1 does not fit with the up margin' },
      { current: 0, estimate: 1_430_000, want: 1, why: '0.7 x 1.43 M = 1.001 M: up one rung' },
      { current: 0, estimate: 3_000_000, want: 2, why: 'up two rungs at once' },
      { current: 2, estimate: 2_200_000, want: 2, why: '0.95 x 2.2 M = 2.09 M: the top rung still fits, stay' },
      { current: 2, estimate: 2_000_000, want: 1, why: '0.95 x 2 M = 1.9 M: down to the highest rung within it' },
      { current: 2, estimate: 600_000, want: 0, why: 'down two rungs at once' },
      { current: 1, estimate: 300_000, want: 0, why: 'nothing fits: the lowest rung' },
      { current: 1, estimate: 1_100_000, want: 1, why: 'between the margins: stay' },
    ];
    for (const c of cases) assert.equal(chooseRung(LADDER, c.current, c.estimate), c.want, c.why);
  });

  test('where a steady estimate settles, from the lowest rung', () => {
    assert.deepEqual([400_000, 1_000_000, 1_500_000, 2_900_000, 10_000_000].map((e) => settledRung(LADDER, e)), [0, 0, 1, 2, 2]);
  });

  test('a ladder of one rung always plays it; an empty one is an error', () => {
    assert.equal(chooseRung([1_000_000], 0, 10), 0);
    assert.equal(chooseRung([1_000_000], 0, 1e9), 0);
    assert.throws(() => chooseRung([], 0, 1e6));
  });

  test('the estimate: the default before any sample, then the rate of steady downloads', () => {
    let e = newEstimator();
    assert.equal(estimateBps(e), ABR_DEFAULTS.defaultEstimateBps);
    // 125,000 bytes in 500 ms: 2 Mbit/s, every time.
    for (let i = 0; i < 5; i++) e = sampleDownload(e, 500, 125_000);
    assert.ok(Math.abs(estimateBps(e) - 2_000_000) < 1, `${estimateBps(e)}`);
  });

  test('the estimate falls fast and rises slowly: the lower of a 3 s and a 9 s half-life', () => {
    let e = newEstimator();
    for (let i = 0; i < 20; i++) e = sampleDownload(e, 500, 125_000); // 2 Mbit/s for 10 s
    const fastLink = estimateBps(e);
    // Then 1 s downloads at 500 kbit/s: after 3 s of them the fast average is about halfway down, and it is the estimate.
    for (let i = 0; i < 3; i++) e = sampleDownload(e, 1000, 62_500);
    const afterDrop = estimateBps(e);
    const halfway = 500_000 + (fastLink - 500_000) / 2;
    assert.ok(Math.abs(afterDrop - halfway) < 0.1 * halfway, `about halfway down in one half-life: ${afterDrop}`);
    // Back at 2 Mbit/s: the slow average holds the estimate under the fast one.
    for (let i = 0; i < 3; i++) e = sampleDownload(e, 500, 125_000);
    assert.ok(estimateBps(e) < 1_600_000, `still held down by the slow average: ${estimateBps(e)}`);
  });

  test('a download is read as at least bytes / 100,000 ms long (hls.js 1.7): a burst from loopback claims almost any speed', () => {
    const e = sampleDownload(newEstimator(), 0, 125_000);
    assert.ok(Math.abs(estimateBps(e) - 800_000_000) < 1, `${estimateBps(e)}`);
  });

  test('the wait for the first byte is taken off a download up to its estimate, which a usual quick answer keeps small', () => {
    let e = newEstimator();
    // Before any sample the estimate is 100 ms: a 100 ms wait then 500 ms of bytes reads as 500 ms.
    e = sampleDownload(e, 600, 125_000, 100);
    assert.ok(Math.abs(estimateBps(e) - 2_000_000) < 1, `${estimateBps(e)}`);
    // Quick answers teach it a wait of ~5 ms.
    for (let i = 0; i < 20; i++) e = sampleDownload(e, 500, 125_000, 0);
    assert.ok(estimateTtfbMs(e) < 20, `${estimateTtfbMs(e)}`);
    // One answer that waited a second for the swarm costs that sample almost all of the second.
    const before = estimateBps(e);
    e = sampleDownload(e, 1500, 125_000, 1000);
    assert.ok(estimateBps(e) < before * 0.9, `${estimateBps(e)} against ${before}`);
  });
});
