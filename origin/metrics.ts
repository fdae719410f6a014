import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { FetchClass } from './egress-class.ts';

/**
 * prom-client's default metrics include three gauges whose names end in
 * `_total`, which Prometheus keeps for counters (`promtool check metrics`
 * flags them). Their per-type breakdowns (nodejs_active_handles{type}, ...)
 * stay, and `sum()` over those gives the same totals.
 */
export const MISNAMED_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

/** Drops MISNAMED_DEFAULT_METRICS from a registry that collectDefaultMetrics filled. */
export function dropMisnamedDefaultMetrics(registry: Registry): void {
  for (const name of MISNAMED_DEFAULT_METRICS) registry.removeSingleMetric(name);
}

const HTTP_CLASSES: readonly FetchClass['cls'][] = ['http', 'spare'];

/**
 * The origin's Prometheus metrics, in a registry of its own so several origins
 * can run in one process (tests). What belongs to one live channel carries a
 * `channel` label; the process's own metrics do not.
 */
export function createOriginMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  dropMisnamedDefaultMetrics(registry);
  const r = [registry];
  // A rendition of a ladder (shared/rendition.ts) is a swarm of its own: its series carry its name beside the channel's.
  const ch = ['channel', 'rendition'] as const;
  const channelOnly = ['channel'] as const;
  return {
    registry,
    httpSegmentBytes: new Counter({
      name: 'origin_http_segment_bytes_total',
      help: 'Segment bytes the origin served over HTTP (playlists excluded), by egress class: spare for free-riders\' fallbacks, http for everyone else\'s',
      labelNames: ['channel', 'rendition', 'class'] as const,
      registers: r,
    }),
    // Behind a cache (deploy/nginx/) this is what reaches the origin: one 200 per segment, whatever the audience.
    httpSegmentRequests: new Counter({
      name: 'origin_http_segment_requests_total',
      help: 'HTTP requests for segments (GET and HEAD) the origin answered, by status code',
      labelNames: ['channel', 'rendition', 'status'] as const,
      registers: r,
    }),
    seedBytes: new Counter({ name: 'origin_seed_bytes_total', help: 'Segment bytes the origin pushed into the swarm over tracker connections', labelNames: ch, registers: r }),
    peerP2pBytes: new Counter({ name: 'origin_peer_p2p_bytes_total', help: 'Segment bytes peers report having received from other peers (self-reported, clamped)', labelNames: ch, registers: r }),
    peerOriginBytes: new Counter({ name: 'origin_peer_origin_bytes_total', help: 'Segment bytes peers report having received from the origin (self-reported, clamped)', labelNames: ch, registers: r }),
    peerUploadedBytes: new Counter({ name: 'origin_peer_uploaded_bytes_total', help: 'Segment bytes peers report having uploaded to other peers (self-reported, clamped)', labelNames: ch, registers: r }),
    peerStalls: new Counter({ name: 'origin_peer_stalls_total', help: 'Playback stalls peers report (self-reported, clamped)', labelNames: ch, registers: r }),
    peerHashFailures: new Counter({ name: 'origin_peer_hash_failures_total', help: 'Pieces peers report as failing their hash (self-reported, clamped)', labelNames: ch, registers: r }),
    audienceBytes: new Counter({
      name: 'origin_audience_segment_bytes_total',
      help: 'Segment bytes the audience needed: each published segment\'s size times the peers joined when it was published',
      labelNames: ch,
      registers: r,
    }),
    offloadRatio: new Gauge({
      name: 'origin_offload_ratio',
      help: 'Measured by the origin since it started: 1 - (HTTP + seeded segment bytes) / audience segment bytes, within 0-1 (0 before any audience); peer reports play no part',
      labelNames: ch,
      registers: r,
    }),
    peers: new Gauge({ name: 'origin_peers', help: 'Peers connected to the tracker', labelNames: ch, registers: r }),
    reachablePeers: new Gauge({ name: 'origin_peers_reachable', help: 'Joined peers whose address answered the connect-back probe: the only ones handed out', labelNames: ch, registers: r }),
    trackerProbes: new Counter({ name: 'origin_tracker_probes_total', help: 'Connect-back probes of joined peers, by result', labelNames: ['channel', 'rendition', 'result'] as const, registers: r }),
    segmentsPublished: new Counter({ name: 'origin_segments_published_total', help: 'Segments published to the live window', labelNames: ch, registers: r }),
    windowSegments: new Gauge({ name: 'origin_live_window_segments', help: 'Segments held in the live window', labelNames: ch, registers: r }),
    windowBytes: new Gauge({ name: 'origin_live_window_bytes', help: 'Bytes held in the live window', labelNames: ch, registers: r }),
    ingestRestarts: new Counter({ name: 'origin_ingest_restarts_total', help: 'Times ingest (ffmpeg) stopped and was restarted', labelNames: channelOnly, registers: r }),
    ingestRejected: new Counter({ name: 'origin_ingest_rejected_total', help: 'Ingest requests refused', labelNames: ['channel', 'reason'] as const, registers: r }),
    trackerMessages: new Counter({ name: 'origin_tracker_messages_total', help: 'Tracker messages by type and direction', labelNames: ['channel', 'rendition', 'type', 'direction'] as const, registers: r }),
    trackerRejected: new Counter({ name: 'origin_tracker_rejected_total', help: 'Tracker connections refused or closed for bad input, by error code', labelNames: ['channel', 'rendition', 'code'] as const, registers: r }),
  };
}

export type OriginMetrics = ReturnType<typeof createOriginMetrics>;

type Labels<L extends string> = Partial<Record<L, string | number>>;
interface Inc {
  inc(value?: number): void;
}
interface IncBy<L extends string> {
  inc(labels: Labels<L>, value?: number): void;
}
interface SetTo {
  set(value: number): void;
}

/** What the tracker counts: a channel's view (channelMetrics), or the metrics themselves where one channel is all there is (simulator, unit tests). */
export interface TrackerMetrics {
  seedBytes: Inc;
  peerP2pBytes: Inc;
  peerOriginBytes: Inc;
  peerUploadedBytes: Inc;
  peerStalls: Inc;
  peerHashFailures: Inc;
  peers: SetTo;
  reachablePeers: SetTo;
  trackerProbes: IncBy<'result'>;
  trackerMessages: IncBy<'type' | 'direction'>;
  trackerRejected: IncBy<'code'>;
}

/** One channel's metrics: the same names, every series labelled with the channel. */
export interface ChannelMetrics extends TrackerMetrics {
  readonly channel: string;
  httpSegmentBytes: IncBy<'class'>;
  httpSegmentRequests: IncBy<'status'>;
  audienceBytes: Inc;
  offloadRatio: SetTo;
  segmentsPublished: Inc;
  windowSegments: SetTo;
  windowBytes: SetTo;
  ingestRestarts: Inc;
  ingestRejected: IncBy<'reason'>;
}

/**
 * One swarm's view of the metrics: a channel's, or with `rendition` one
 * rendition's of a ladder (its series labelled with both). The ingest series
 * are the channel's, whose one ffmpeg feeds every rendition.
 */
export function channelMetrics(m: OriginMetrics, channel: string, rendition?: string): ChannelMetrics {
  const c: { channel: string; rendition?: string } = rendition === undefined ? { channel } : { channel, rendition };
  const inc = (counter: { inc(labels: typeof c, value?: number): void }): Inc => ({ inc: (value) => counter.inc(c, value) });
  const set = (gauge: { set(labels: typeof c, value: number): void }): SetTo => ({ set: (value) => gauge.set(c, value) });
  function incBy<L extends string>(counter: Counter<L>): IncBy<Exclude<L, 'channel' | 'rendition'>> {
    return { inc: (labels, value) => counter.inc({ ...c, ...labels } as Labels<L>, value) };
  }
  // Series that exist from the start, so a sum over them, or a rate of one, is never empty.
  for (const cls of HTTP_CLASSES) m.httpSegmentBytes.inc({ ...c, class: cls }, 0);
  for (const counter of [m.seedBytes, m.audienceBytes, m.segmentsPublished]) counter.inc(c, 0);
  for (const gauge of [m.offloadRatio, m.peers, m.reachablePeers]) gauge.set(c, 0);
  return {
    channel,
    httpSegmentBytes: incBy(m.httpSegmentBytes),
    httpSegmentRequests: incBy(m.httpSegmentRequests),
    seedBytes: inc(m.seedBytes),
    peerP2pBytes: inc(m.peerP2pBytes),
    peerOriginBytes: inc(m.peerOriginBytes),
    peerUploadedBytes: inc(m.peerUploadedBytes),
    peerStalls: inc(m.peerStalls),
    peerHashFailures: inc(m.peerHashFailures),
    audienceBytes: inc(m.audienceBytes),
    offloadRatio: set(m.offloadRatio),
    peers: set(m.peers),
    reachablePeers: set(m.reachablePeers),
    trackerProbes: incBy(m.trackerProbes),
    segmentsPublished: inc(m.segmentsPublished),
    windowSegments: set(m.windowSegments),
    windowBytes: set(m.windowBytes),
    ...ingestMetrics(m, channel),
    trackerMessages: incBy(m.trackerMessages),
    trackerRejected: incBy(m.trackerRejected),
  };
}

/** The series of a channel's ingest, its one ffmpeg's: what a channel published as a ladder counts beside its renditions' swarms. */
export function ingestMetrics(m: OriginMetrics, channel: string): Pick<ChannelMetrics, 'ingestRestarts' | 'ingestRejected'> {
  return {
    ingestRestarts: { inc: (value) => m.ingestRestarts.inc({ channel }, value) },
    ingestRejected: { inc: (labels, value) => m.ingestRejected.inc({ channel, ...labels }, value) },
  };
}

/** A counter's value for one channel, summed over its other labels. */
export async function channelCounterTotal(counter: Counter, channel: string): Promise<number> {
  const m = await counter.get();
  return m.values.reduce((n, v) => (v.labels.channel === channel ? n + v.value : n), 0);
}

/** A counter's value summed over its labels. */
export async function counterTotal(counter: Counter): Promise<number> {
  const m = await counter.get();
  return m.values.reduce((n, v) => n + v.value, 0);
}
