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

/** The origin's Prometheus metrics, in a registry of its own so several origins can run in one process (tests). */
export function createOriginMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  dropMisnamedDefaultMetrics(registry);
  const r = [registry];
  const httpSegmentBytes = new Counter({
    name: 'origin_http_segment_bytes_total',
    help: 'Segment bytes the origin served over HTTP (playlists excluded), by egress class: spare for free-riders\' fallbacks, http for everyone else\'s',
    labelNames: ['class'] as const,
    registers: r,
  });
  // Both series exist from the start, so a sum over them, or a rate of either, is never empty.
  for (const cls of HTTP_CLASSES) httpSegmentBytes.inc({ class: cls }, 0);
  return {
    registry,
    httpSegmentBytes,
    // Behind a cache (deploy/nginx/) this is what reaches the origin: one 200 per segment, whatever the audience.
    httpSegmentRequests: new Counter({
      name: 'origin_http_segment_requests_total',
      help: 'HTTP requests for segments (GET and HEAD) the origin answered, by status code',
      labelNames: ['status'] as const,
      registers: r,
    }),
    seedBytes: new Counter({ name: 'origin_seed_bytes_total', help: 'Segment bytes the origin pushed into the swarm over tracker connections', registers: r }),
    peerP2pBytes: new Counter({ name: 'origin_peer_p2p_bytes_total', help: 'Segment bytes peers report having received from other peers (self-reported, clamped)', registers: r }),
    peerOriginBytes: new Counter({ name: 'origin_peer_origin_bytes_total', help: 'Segment bytes peers report having received from the origin (self-reported, clamped)', registers: r }),
    peerUploadedBytes: new Counter({ name: 'origin_peer_uploaded_bytes_total', help: 'Segment bytes peers report having uploaded to other peers (self-reported, clamped)', registers: r }),
    peerStalls: new Counter({ name: 'origin_peer_stalls_total', help: 'Playback stalls peers report (self-reported, clamped)', registers: r }),
    peerHashFailures: new Counter({ name: 'origin_peer_hash_failures_total', help: 'Pieces peers report as failing their hash (self-reported, clamped)', registers: r }),
    audienceBytes: new Counter({
      name: 'origin_audience_segment_bytes_total',
      help: 'Segment bytes the audience needed: each published segment\'s size times the peers joined when it was published',
      registers: r,
    }),
    offloadRatio: new Gauge({
      name: 'origin_offload_ratio',
      help: 'Measured by the origin since it started: 1 - (HTTP + seeded segment bytes) / audience segment bytes, within 0-1 (0 before any audience); peer reports play no part',
      registers: r,
    }),
    peers: new Gauge({ name: 'origin_peers', help: 'Peers connected to the tracker', registers: r }),
    reachablePeers: new Gauge({ name: 'origin_peers_reachable', help: 'Joined peers whose address answered the connect-back probe: the only ones handed out', registers: r }),
    trackerProbes: new Counter({ name: 'origin_tracker_probes_total', help: 'Connect-back probes of joined peers, by result', labelNames: ['result'] as const, registers: r }),
    segmentsPublished: new Counter({ name: 'origin_segments_published_total', help: 'Segments published to the live window', registers: r }),
    windowSegments: new Gauge({ name: 'origin_live_window_segments', help: 'Segments held in the live window', registers: r }),
    windowBytes: new Gauge({ name: 'origin_live_window_bytes', help: 'Bytes held in the live window', registers: r }),
    ingestRestarts: new Counter({ name: 'origin_ingest_restarts_total', help: 'Times ingest (ffmpeg) stopped and was restarted', registers: r }),
    ingestRejected: new Counter({ name: 'origin_ingest_rejected_total', help: 'Ingest requests refused', labelNames: ['reason'] as const, registers: r }),
    trackerMessages: new Counter({ name: 'origin_tracker_messages_total', help: 'Tracker messages by type and direction', labelNames: ['type', 'direction'] as const, registers: r }),
    trackerRejected: new Counter({ name: 'origin_tracker_rejected_total', help: 'Tracker connections refused or closed for bad input, by error code', labelNames: ['code'] as const, registers: r }),
  };
}

export type OriginMetrics = ReturnType<typeof createOriginMetrics>;

/** A counter's value summed over its labels. */
export async function counterTotal(counter: Counter): Promise<number> {
  const m = await counter.get();
  return m.values.reduce((n, v) => n + v.value, 0);
}
