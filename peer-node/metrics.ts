import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { SwarmCounters } from './swarm-counters.ts';

/**
 * The peer node's Prometheus metrics. Counters are read from the swarm's plain
 * counters at scrape time (collect), so the hot path only adds numbers.
 */
export function createPeerMetrics(counters: SwarmCounters, gauges: () => { neighbours: number; unchoked: number; interested: number; segments: number }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const r = [registry];
  const fromCounter = (name: string, help: string, key: keyof SwarmCounters) =>
    new Counter({
      name,
      help,
      registers: r,
      collect() {
        this.reset();
        this.inc(counters[key]);
      },
    });
  fromCounter('peer_p2p_bytes_total', 'Segment bytes received from other peers (verified)', 'p2pBytes');
  fromCounter('peer_origin_bytes_total', 'Segment bytes received from the origin (HTTP fallback and seeding)', 'originBytes');
  fromCounter('peer_seed_bytes_total', 'Segment bytes the origin seeded to this peer', 'seedBytes');
  fromCounter('peer_uploaded_bytes_total', 'Segment bytes uploaded to other peers', 'uploadedBytes');
  fromCounter('peer_duplicate_bytes_total', 'Segment bytes received twice (wasted)', 'duplicateBytes');
  fromCounter('peer_hash_failures_total', 'Pieces that failed their hash and were dropped', 'hashFailures');
  fromCounter('peer_announcement_signature_failures_total', 'Segment announcements dropped: not signed by the origin key', 'badAnnouncements');
  fromCounter('peer_protocol_errors_total', 'Malformed frames received', 'protocolErrors');
  fromCounter('peer_piece_requests_total', 'Piece requests sent to neighbours', 'peerRequests');
  fromCounter('peer_pieces_pushed_total', 'Fresh pieces sent to neighbours unasked (relay push)', 'piecesPushed');
  fromCounter('peer_origin_requests_total', 'Piece fetches from the origin', 'originRequests');
  fromCounter('peer_control_received_bytes_total', 'Peer-wire bytes received other than segment payload', 'controlBytesIn');
  fromCounter('peer_control_sent_bytes_total', 'Peer-wire bytes sent other than segment payload', 'controlBytesOut');
  fromCounter('peer_tracker_received_bytes_total', 'Tracker bytes received other than seeded payload', 'trackerBytesIn');
  fromCounter('peer_tracker_sent_bytes_total', 'Tracker bytes sent', 'trackerBytesOut');
  fromCounter('peer_stalls_total', 'Playback stalls the local player reported', 'stalls');
  const gauge = (name: string, help: string, key: 'neighbours' | 'unchoked' | 'interested' | 'segments') =>
    new Gauge({
      name,
      help,
      registers: r,
      collect() {
        this.set(gauges()[key]);
      },
    });
  gauge('peer_neighbours', 'Connected neighbours', 'neighbours');
  gauge('peer_unchoked_neighbours', 'Neighbours we unchoke', 'unchoked');
  gauge('peer_interested_neighbours', 'Neighbours interested in our pieces', 'interested');
  gauge('peer_store_segments', 'Segments in the local window', 'segments');
  return registry;
}
