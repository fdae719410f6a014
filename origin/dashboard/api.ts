/**
 * The JSON of `GET /api/dashboard`, shared by the origin (which samples it)
 * and the dashboard page (which charts it). Types only: nothing here runs.
 * Rates are bytes per second over a trailing window (`rateWindowMs`), since
 * peers report their counters only every few seconds.
 */

/** One sample of the origin's time series, taken every `sampleEveryMs`. */
export interface DashboardPoint {
  /** Origin wall clock, ms since the epoch. */
  tMs: number;
  /** Segment bytes the origin served over HTTP (fallback fetches, plain HLS players). */
  originHttpBps: number;
  /** Segment bytes the origin pushed into the swarm over tracker connections. */
  originSeedBps: number;
  /** Segment bytes peers report receiving from other peers. */
  p2pBps: number;
  /** Segment bytes peers report receiving from the origin (seeded or over HTTP). */
  peerOriginBps: number;
  /** p2pBps / (p2pBps + peerOriginBps) over the window; null while no bytes flow. */
  offload: number | null;
  peers: number;
  /** Segments published since the origin started. */
  segments: number;
  /** Stalls peers reported since the origin started. */
  stalls: number;
}

/** One row of the per-peer table: the tracker's record of a joined peer. */
export interface DashboardPeer {
  peerId: string;
  /** Where other peers reach it, or null for a peer that only dials out. */
  url: string | null;
  /** Upload capacity the peer declared when it joined. */
  uploadKbps: number;
  neighbours: number;
  p2pBps: number;
  originBps: number;
  uploadBps: number;
  p2pBytes: number;
  originBytes: number;
  uploadedBytes: number;
  stalls: number;
  stallMs: number;
  hashFailures: number;
  joinedAtMs: number;
  lastSeenMs: number;
}

export interface DashboardTotals {
  /** Share of bytes peers got from peers since the origin started (the origin_offload_ratio gauge). */
  offloadRatio: number;
  originHttpBytes: number;
  originSeedBytes: number;
  p2pBytes: number;
  peerOriginBytes: number;
  uploadedBytes: number;
  segments: number;
  stalls: number;
  hashFailures: number;
}

export interface DashboardSnapshot {
  nowMs: number;
  startedAtMs: number;
  streamId: string;
  sampleEveryMs: number;
  rateWindowMs: number;
  /** How far back the series reaches at most. */
  historyMs: number;
  totals: DashboardTotals;
  /** Samples newer than the request's `since` (all held when it has none), oldest first. */
  series: DashboardPoint[];
  /** Joined peers, longest connected first; at most `maxPeerRows` of `peerCount`. */
  peers: DashboardPeer[];
  peerCount: number;
}
