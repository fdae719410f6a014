import type { PeerAddress, PeerStats } from '../shared/tracker-protocol.ts';
import { type Rng, shuffle } from '../shared/rng.ts';

export interface PeerRecord {
  peerId: string;
  url: string | null;
  uploadKbps: number;
  joinedAtMs: number;
  lastSeenMs: number;
  stats: PeerStats;
}

export const ZERO_STATS: PeerStats = Object.freeze({
  p2pBytes: 0,
  originBytes: 0,
  uploadedBytes: 0,
  stalls: 0,
  stallMs: 0,
  neighbours: 0,
  hashFailures: 0,
});

/**
 * Growth of cumulative counters between two reports. A counter that went down
 * means the peer restarted, so its new value is all growth.
 */
export function statsDelta(before: PeerStats, after: PeerStats): PeerStats {
  const d = { ...ZERO_STATS };
  for (const k of Object.keys(d) as (keyof PeerStats)[]) {
    d[k] = after[k] >= before[k] ? after[k] - before[k] : after[k];
  }
  return d;
}

/** The tracker's view of the swarm: plain records, no sockets. */
export class PeerRegistry {
  private readonly peers = new Map<string, PeerRecord>();

  get size(): number {
    return this.peers.size;
  }

  has(peerId: string): boolean {
    return this.peers.has(peerId);
  }

  get(peerId: string): PeerRecord | undefined {
    return this.peers.get(peerId);
  }

  all(): IterableIterator<PeerRecord> {
    return this.peers.values();
  }

  add(peerId: string, url: string | null, uploadKbps: number, nowMs: number): PeerRecord {
    const rec: PeerRecord = { peerId, url, uploadKbps, joinedAtMs: nowMs, lastSeenMs: nowMs, stats: { ...ZERO_STATS } };
    this.peers.set(peerId, rec);
    return rec;
  }

  remove(peerId: string): void {
    this.peers.delete(peerId);
  }

  /** Up to `max` reachable peers other than `exclude`, in random order. */
  sample(exclude: string, max: number, rng: Rng): PeerAddress[] {
    const candidates: PeerAddress[] = [];
    for (const p of this.peers.values()) {
      if (p.peerId !== exclude && p.url !== null) candidates.push({ peerId: p.peerId, url: p.url });
    }
    return shuffle(candidates, rng).slice(0, max);
  }

  /** Peers not heard from since `cutoffMs`. */
  stale(cutoffMs: number): string[] {
    return [...this.peers.values()].filter((p) => p.lastSeenMs < cutoffMs).map((p) => p.peerId);
  }
}
