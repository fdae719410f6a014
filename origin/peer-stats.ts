/**
 * What the origin credits a peer for in an `announce`. Statistics are
 * self-reported, so they are clamped: a counter that went down counts as no
 * growth (honest counters only grow for the life of a tracker connection),
 * and no counter grows faster than a fast honest node could make it grow in
 * the time since the peer's previous report. Pure: the tracker passes the
 * elapsed time from its clock.
 */
import {
  MAX_REPORTED_BYTES_PER_SEC,
  MAX_REPORTED_HASH_FAILURES_PER_SEC,
  MAX_REPORTED_NEIGHBOURS,
  MAX_REPORTED_STALLS_PER_SEC,
} from '../shared/limits.ts';
import type { PeerStats } from '../shared/tracker-protocol.ts';

export const ZERO_STATS: PeerStats = Object.freeze({
  p2pBytes: 0,
  originBytes: 0,
  uploadedBytes: 0,
  stalls: 0,
  stallMs: 0,
  neighbours: 0,
  hashFailures: 0,
});

type Counter = Exclude<keyof PeerStats, 'neighbours'>;

/** Most a counter may grow per second. */
const PER_SEC: Readonly<Record<Counter, number>> = {
  p2pBytes: MAX_REPORTED_BYTES_PER_SEC,
  originBytes: MAX_REPORTED_BYTES_PER_SEC,
  uploadedBytes: MAX_REPORTED_BYTES_PER_SEC,
  stalls: MAX_REPORTED_STALLS_PER_SEC,
  stallMs: 1000,
  hashFailures: MAX_REPORTED_HASH_FAILURES_PER_SEC,
};
const COUNTERS = Object.keys(PER_SEC) as Counter[];

export interface Credit {
  /** Growth credited for this report (`neighbours` is 0: it is a gauge). */
  growth: PeerStats;
  /** What the peer has been credited with since it joined. */
  credited: PeerStats;
}

/**
 * `previous` is the peer's last report as sent (or zeros), `report` the new
 * one, `elapsedMs` the time between them on the origin's clock.
 */
export function creditReport(credited: PeerStats, previous: PeerStats, report: PeerStats, elapsedMs: number): Credit {
  const seconds = Math.max(0, elapsedMs) / 1000;
  const growth = { ...ZERO_STATS };
  const next = { ...credited, neighbours: Math.min(report.neighbours, MAX_REPORTED_NEIGHBOURS) };
  for (const k of COUNTERS) {
    const grew = Math.max(0, report[k] - previous[k]);
    growth[k] = Math.min(grew, Math.floor(PER_SEC[k] * seconds));
    next[k] = credited[k] + growth[k];
  }
  return { growth, credited: next };
}
