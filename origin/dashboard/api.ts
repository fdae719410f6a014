/**
 * The JSON of `GET /api/dashboard`, shared by the origin (which samples it)
 * and the dashboard page (which charts it). Types only: nothing here runs.
 * Rates are bytes per second over a trailing window (`rateWindowMs`), since
 * peers report their counters only every few seconds.
 *
 * Headline figures (offload, egress, audience, peers, segments) are the
 * origin's own measurements. Figures "reported by peers" are self-reported
 * counters, clamped by the tracker (origin/peer-stats.ts): a liar can move
 * them only as much as a fast honest node could.
 */

/** One sample of the origin's time series, taken every `sampleEveryMs`. */
export interface DashboardPoint {
  /** Origin wall clock, ms since the epoch. */
  tMs: number;
  /** Segment bytes the origin served over HTTP (fallback fetches, plain HLS players). */
  originHttpBps: number;
  /** Segment bytes the origin pushed into the swarm over tracker connections. */
  originSeedBps: number;
  /** Segment bytes the audience needed: published segment bytes × peers joined then. */
  audienceBps: number;
  /** Reported by peers: segment bytes received from other peers. */
  p2pBps: number;
  /** Reported by peers: segment bytes received from the origin (seeded or over HTTP). */
  peerOriginBps: number;
  /** Measured: 1 − (originHttpBps + originSeedBps) / audienceBps within [0, 1]; null while no segment reaches an audience. */
  offload: number | null;
  peers: number;
  /** Segments published since the origin started. */
  segments: number;
  /** Reported by peers: stalls since the origin started. */
  stalls: number;
}

/** One row of the per-peer table: the tracker's record of a joined peer. */
export interface DashboardPeer {
  /** The channel whose swarm it joined. */
  channel: string;
  peerId: string;
  /** Where other peers would reach it (its connection's address, the port it gave), or null if it gave none. */
  url: string | null;
  /** Whether its address answered the connect-back probe; only `reachable` peers are handed to others. */
  reachability: 'probing' | 'reachable' | 'unreachable';
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
  /** Measured offload since the origin started (the origin_offload_ratio gauge). */
  offloadRatio: number;
  originHttpBytes: number;
  originSeedBytes: number;
  audienceBytes: number;
  /** This and the rest: reported by peers, clamped. */
  p2pBytes: number;
  peerOriginBytes: number;
  uploadedBytes: number;
  segments: number;
  stalls: number;
  hashFailures: number;
}

/** One live channel of the origin, as measured since it started. */
export interface DashboardChannel {
  name: string;
  streamId: string;
  /** Where its HLS playlist is on the origin. */
  playlistPath: string;
  peers: number;
  segments: number;
  /** Its segment bytes the origin sent, over HTTP and seeded. */
  egressBytes: number;
  audienceBytes: number;
  /** 1 − egressBytes / audienceBytes within [0, 1] (its origin_offload_ratio gauge). */
  offloadRatio: number;
  /** With --ladder: each rendition's own swarm, highest first (the channel's figures are their sums). */
  renditions?: DashboardRendition[];
}

/** One rendition of a channel's ladder: its own swarm, its figures measured as a channel's are. */
export type DashboardRendition = Omit<DashboardChannel, 'renditions'>;

export interface DashboardSnapshot {
  nowMs: number;
  startedAtMs: number;
  streamId: string;
  sampleEveryMs: number;
  rateWindowMs: number;
  /** How far back the series reaches at most. */
  historyMs: number;
  /** Over all channels. */
  totals: DashboardTotals;
  channels: DashboardChannel[];
  /** Samples newer than the request's `since` (all held when it has none), oldest first. */
  series: DashboardPoint[];
  /** Joined peers, longest connected first; at most `maxPeerRows` of `peerCount`. */
  peers: DashboardPeer[];
  peerCount: number;
  /** Joined peers whose address answered the probe, and those whose did not (the rest are being probed). */
  reachablePeers: number;
  unreachablePeers: number;
}
