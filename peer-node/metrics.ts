import { getHeapSpaceStatistics } from 'node:v8';
import { Counter, Gauge, Registry } from 'prom-client';
import type { RenditionStats } from '../shared/player-api.ts';
import type { SwarmCounters } from './swarm-counters.ts';

/**
 * The process figures an operator of a viewer's node reads, under
 * prom-client's default names, taken at scrape time only. prom-client's
 * default set also watches the event loop with a 10 ms timer and every
 * collection through a performance observer: work on every tick and every
 * scavenge for figures no one
 * reads on a viewer's machine.
 */
function processMetrics(r: Registry[]): void {
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registers: r,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    registers: r,
    collect() {
      const { user, system } = process.cpuUsage();
      this.reset();
      this.inc((user + system) / 1e6);
    },
  });
  const memory = (name: string, help: string, key: 'heapUsed' | 'heapTotal' | 'external' | 'arrayBuffers') =>
    new Gauge({
      name,
      help,
      registers: r,
      collect() {
        this.set(process.memoryUsage()[key]);
      },
    });
  memory('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', 'heapUsed');
  memory('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', 'heapTotal');
  memory('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', 'external');
  memory('nodejs_array_buffers_bytes', 'Memory of ArrayBuffers and SharedArrayBuffers, in external memory, in bytes.', 'arrayBuffers');
  const spaces = (name: string, help: string, key: 'space_size' | 'space_used_size') =>
    new Gauge({
      name,
      help,
      labelNames: ['space'],
      registers: r,
      collect() {
        for (const s of getHeapSpaceStatistics()) this.set({ space: s.space_name.replace(/_space$/, '') }, s[key]);
      },
    });
  spaces('nodejs_heap_space_size_total_bytes', 'Process heap space size total from Node.js in bytes.', 'space_size');
  spaces('nodejs_heap_space_size_used_bytes', 'Process heap space size used from Node.js in bytes.', 'space_used_size');
}

/**
 * The peer node's Prometheus metrics. Counters are read from the swarm's plain
 * counters at scrape time (collect), so the hot path only adds numbers; a
 * node in a ladder's swarms reads the sum over them.
 */
export function createPeerMetrics(
  counters: () => SwarmCounters,
  gauges: () => { neighbours: number; unchoked: number; interested: number; segments: number },
  renditions: () => readonly RenditionStats[] = () => [],
) {
  const registry = new Registry();
  const r = [registry];
  processMetrics(r);
  const fromCounter = (name: string, help: string, key: keyof SwarmCounters) =>
    new Counter({
      name,
      help,
      registers: r,
      collect() {
        this.reset();
        this.inc(counters()[key]);
      },
    });
  fromCounter('peer_p2p_bytes_total', 'Segment bytes received from other peers (verified)', 'p2pBytes');
  fromCounter('peer_origin_bytes_total', 'Segment bytes received from the origin (HTTP fallback and seeding)', 'originBytes');
  fromCounter('peer_seed_bytes_total', 'Segment bytes the origin seeded to this peer', 'seedBytes');
  fromCounter('peer_uploaded_bytes_total', 'Segment bytes uploaded to other peers', 'uploadedBytes');
  fromCounter('peer_duplicate_bytes_total', 'Segment bytes received twice (wasted)', 'duplicateBytes');
  fromCounter('peer_hash_failures_total', 'Pieces that failed their hash and were dropped', 'hashFailures');
  fromCounter('peer_announcement_signature_failures_total', 'Segment announcements, whole or partial, dropped: not signed by the origin key', 'badAnnouncements');
  fromCounter('peer_pieces_early_total', 'Pieces stored while their segment was still open (progressive announcement in low-latency mode)', 'earlyPieces');
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
  // A ladder's renditions, each its own swarm: where the node's bytes came from, per rendition (none for one stream).
  const perRendition = (name: string, help: string, key: 'p2pBytes' | 'originBytes' | 'uploadedBytes') =>
    new Counter({
      name,
      help,
      labelNames: ['rendition'],
      registers: r,
      collect() {
        this.reset();
        for (const rs of renditions()) this.inc({ rendition: rs.name }, rs[key]);
      },
    });
  perRendition('peer_rendition_p2p_bytes_total', 'Segment bytes received from other peers, per rendition of a ladder', 'p2pBytes');
  perRendition('peer_rendition_origin_bytes_total', 'Segment bytes received from the origin, per rendition of a ladder', 'originBytes');
  perRendition('peer_rendition_uploaded_bytes_total', 'Segment bytes uploaded to other peers, per rendition of a ladder', 'uploadedBytes');
  return registry;
}
