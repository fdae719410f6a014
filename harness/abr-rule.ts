/**
 * (harness/: shared by tests and scripts, see process.ts.)
 * The ABR rule of the benchmark's ladder player (abr-playback-model.ts), as
 * pure functions: hls.js's by its defaults, reduced to what a live stream of
 * short segments exercises.
 *
 * - Estimate: hls.js's EwmaBandWidthEstimator (1.7). Each segment download
 *   is a sample, its bits over the time from the request to the last byte (a
 *   peer node paces that to its own downloads), less the time to the first
 *   byte up to hls.js's estimate of it: a server that is usually quick to
 *   answer and once slow (a segment the swarm had not finished) costs the
 *   sample the part of that wait beyond what it expects. Two exponentially weighted averages, weighted by the
 *   seconds each download took, with half-lives of 3 s and 9 s
 *   (abrEwmaFastLive, abrEwmaSlowLive); the estimate is the lower of the two,
 *   and 500 kbit/s before any sample (abrEwmaDefaultEstimate). The time to
 *   first byte is a third average (9 s half-life, 100 ms before any sample),
 *   whose samples weigh less the longer they are.
 * - Choice, at every segment boundary (before the next segment is fetched):
 *   up to the highest rung whose BANDWIDTH is at most 0.7 x the estimate
 *   (abrBandWidthUpFactor), several rungs at once if it is; else stay while
 *   the current rung's BANDWIDTH is at most 0.95 x the estimate
 *   (abrBandWidthFactor); else down to the highest rung within 0.95 x, or
 *   the lowest.
 * - Not modelled: hls.js's buffer-aware emergency switch in the middle of a
 *   segment.
 */

export const ABR_DEFAULTS = {
  fastHalfLifeS: 3,
  slowHalfLifeS: 9,
  defaultEstimateBps: 500_000,
  upFactor: 0.7,
  stayFactor: 0.95,
  /** A download is read as at least this long, or bytes / 100,000 ms if less (hls.js 1.7): a burst from loopback claims almost any speed. */
  minSampleMs: 50,
  defaultTtfbMs: 100,
} as const;

export type AbrSettings = typeof ABR_DEFAULTS;

/** One exponentially weighted average, with the total weight it has seen to correct its start from zero. */
export interface Ewma {
  estimate: number;
  totalWeight: number;
}

export interface BandwidthEstimator {
  fast: Ewma;
  slow: Ewma;
  ttfb: Ewma;
}

export function newEstimator(): BandwidthEstimator {
  return { fast: { estimate: 0, totalWeight: 0 }, slow: { estimate: 0, totalWeight: 0 }, ttfb: { estimate: 0, totalWeight: 0 } };
}

const alphaOf = (halfLifeS: number) => Math.exp(Math.log(0.5) / halfLifeS);

function sampleEwma(e: Ewma, halfLifeS: number, weight: number, value: number): Ewma {
  const a = alphaOf(halfLifeS) ** weight;
  return { estimate: value * (1 - a) + a * e.estimate, totalWeight: e.totalWeight + weight };
}

function readEwma(e: Ewma, halfLifeS: number): number {
  const zeroFactor = 1 - alphaOf(halfLifeS) ** e.totalWeight;
  return zeroFactor > 0 ? e.estimate / zeroFactor : 0;
}

/** What the estimator expects the time to first byte to be, in ms. */
export function estimateTtfbMs(est: BandwidthEstimator, s: AbrSettings = ABR_DEFAULTS): number {
  return est.ttfb.totalWeight > 0 ? readEwma(est.ttfb, s.slowHalfLifeS) : s.defaultTtfbMs;
}

/**
 * The estimator after a download of `bytes` that took `durationMs` from
 * request to last byte, its first byte `ttfbMs` after the request (0: read
 * as the whole time spent on bytes). As hls.js does, the time to first byte
 * is sampled first, and the download's sample is its time less that wait up
 * to the estimate of it.
 */
export function sampleDownload(est: BandwidthEstimator, durationMs: number, bytes: number, ttfbMs = 0, s: AbrSettings = ABR_DEFAULTS): BandwidthEstimator {
  if (bytes <= 0) return est;
  const weight = Math.SQRT2 * Math.exp(-((ttfbMs / 1000) ** 2) / 2);
  const ttfb = sampleEwma(est.ttfb, s.slowHalfLifeS, weight, Math.max(ttfbMs, 5));
  const withTtfb = { ...est, ttfb };
  const processingMs = durationMs - Math.min(ttfbMs, estimateTtfbMs(withTtfb, s));
  const seconds = Math.max(processingMs, Math.min(s.minSampleMs, bytes / 100_000)) / 1000;
  const bps = (8 * bytes) / seconds;
  return { fast: sampleEwma(est.fast, s.fastHalfLifeS, seconds, bps), slow: sampleEwma(est.slow, s.slowHalfLifeS, seconds, bps), ttfb };
}

/** Bits per second the player believes it can download. */
export function estimateBps(est: BandwidthEstimator, s: AbrSettings = ABR_DEFAULTS): number {
  if (est.fast.totalWeight <= 0) return s.defaultEstimateBps;
  return Math.min(readEwma(est.fast, s.fastHalfLifeS), readEwma(est.slow, s.slowHalfLifeS));
}

/**
 * The rung to fetch the next segment from. `bandwidths` are the rungs'
 * BANDWIDTH (bits/s) in ascending order; `current` an index into them.
 */
export function chooseRung(bandwidths: readonly number[], current: number, estimate: number, s: AbrSettings = ABR_DEFAULTS): number {
  if (bandwidths.length === 0) throw new Error('a ladder has one rung at least');
  const highestWithin = (budget: number) => {
    let best = -1;
    bandwidths.forEach((b, i) => {
      if (b <= budget) best = i;
    });
    return best;
  };
  const up = highestWithin(s.upFactor * estimate);
  if (up > current) return up;
  if ((bandwidths[current] ?? Number.POSITIVE_INFINITY) <= s.stayFactor * estimate) return current;
  return Math.max(0, highestWithin(s.stayFactor * estimate));
}

/** The rung the rule settles on from the lowest under a steady estimate: where a link of that rate belongs. */
export function settledRung(bandwidths: readonly number[], estimate: number, s: AbrSettings = ABR_DEFAULTS): number {
  let rung = 0;
  for (let next = chooseRung(bandwidths, rung, estimate, s); next !== rung; next = chooseRung(bandwidths, rung, estimate, s)) rung = next;
  return rung;
}
