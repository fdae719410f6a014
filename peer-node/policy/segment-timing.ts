import { MAX_WINDOW_SEGMENTS } from '../../shared/limits.ts';

/**
 * The node's time windows (--list-delay-ms, --urgent-window-ms,
 * --rescue-window-ms) are budgets out of the time a player holds back, which
 * is a number of segments: they are set for segments of REFERENCE_SEGMENT_MS,
 * the origin's default. Shorter segments (the origin's --low-latency) leave
 * less time, so each window shrinks in proportion; longer ones keep the
 * configured values, as before.
 *
 * Measured in the simulator (`npm run sim -- --scenario low-latency`, 0.5 s
 * segments, seeds 1 and 2): with the 1 s windows as they are, the origin sent
 * 1.40 and 1.49 copies of each segment, players 1.80 and 1.88 s behind live;
 * scaled, 1.17 and 1.20 copies, 1.67 and 1.50 s (continuity 0.999 in all).
 * The push window (relay.ts) is not scaled: it is how long a piece takes to
 * spread, not a share of the hold-back, and halving it measured slightly worse.
 */
export const REFERENCE_SEGMENT_MS = 1000;

/** A window configured for segments of REFERENCE_SEGMENT_MS, for segments of `segmentMs`. */
export function windowForSegment(configuredMs: number, segmentMs: number): number {
  if (!(segmentMs > 0) || segmentMs >= REFERENCE_SEGMENT_MS) return configuredMs;
  return Math.round((configuredMs * segmentMs) / REFERENCE_SEGMENT_MS);
}

/** Shorter segments are kept in proportion to their duration, up to this many times --store-segments. */
const MAX_STORE_SCALE = 4;

/**
 * --store-segments is the local live window for segments of
 * REFERENCE_SEGMENT_MS: shorter ones are kept in proportion, so the window
 * spans the same time. Kept as a count, 12 segments of the low-latency 0.5 s
 * were 6 s, and a player further behind than that was behind everything the
 * node held.
 */
export function keptSegments(configured: number, segmentMs: number): number {
  if (!(segmentMs > 0) || segmentMs >= REFERENCE_SEGMENT_MS) return configured;
  // A neighbour's bitfield names at most MAX_WINDOW_SEGMENTS: a node never holds more than one can tell of.
  return Math.max(configured, Math.min(MAX_WINDOW_SEGMENTS, Math.ceil(configured * Math.min(MAX_STORE_SCALE, REFERENCE_SEGMENT_MS / segmentMs))));
}
