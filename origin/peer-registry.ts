import type { Rng } from '../shared/rng.ts';
import type { PeerAddress, PeerStats } from '../shared/tracker-protocol.ts';
import { ZERO_STATS } from './peer-stats.ts';
import { SampleSet } from './sample-set.ts';

/**
 * Whether other peers may be told to dial a peer: `probing` until the
 * connect-back probe answers, then `reachable` or `unreachable` for good.
 * A peer that gave no address is `unreachable` from the start.
 */
export type Reachability = 'probing' | 'reachable' | 'unreachable';

export interface PeerRecord {
  peerId: string;
  /** Where other peers would dial it: its connection's address, the port it gave, path /peer. */
  url: string | null;
  reachability: Reachability;
  uploadKbps: number;
  /** It said it only relays the stream now (`relay-only`): it is not seeded. */
  relayOnly: boolean;
  /** What its origin fetches carry, so the origin knows whose they are (egress-class.ts). */
  fetchToken: string;
  joinedAtMs: number;
  lastSeenMs: number;
  /** What the origin credits it with (clamped growth of its reports), for metrics and the dashboard. */
  stats: PeerStats;
  /** Its last report as sent: the baseline of the next. */
  reported: PeerStats;
  reportedAtMs: number;
}

/**
 * The tracker's view of the swarm: plain records, no sockets. Reachable peers
 * are also kept in a SampleSet, so a random sample costs O(k) for k peers
 * drawn, whatever the swarm's size.
 */
export class PeerRegistry {
  private readonly peers = new Map<string, PeerRecord>();
  private readonly listed = new SampleSet<PeerRecord>();
  private readonly byToken = new Map<string, PeerRecord>();

  get size(): number {
    return this.peers.size;
  }

  get reachableCount(): number {
    return this.listed.size;
  }

  has(peerId: string): boolean {
    return this.peers.has(peerId);
  }

  get(peerId: string): PeerRecord | undefined {
    return this.peers.get(peerId);
  }

  /** The joined peer an origin fetch's token names, if any. */
  byFetchToken(token: string): PeerRecord | undefined {
    return this.byToken.get(token);
  }

  all(): IterableIterator<PeerRecord> {
    return this.peers.values();
  }

  add(peerId: string, url: string | null, uploadKbps: number, fetchToken: string, nowMs: number): PeerRecord {
    const rec: PeerRecord = {
      peerId,
      url,
      reachability: url === null ? 'unreachable' : 'probing',
      uploadKbps,
      relayOnly: false,
      fetchToken,
      joinedAtMs: nowMs,
      lastSeenMs: nowMs,
      stats: { ...ZERO_STATS },
      reported: { ...ZERO_STATS },
      reportedAtMs: nowMs,
    };
    this.peers.set(peerId, rec);
    this.byToken.set(fetchToken, rec);
    return rec;
  }

  /** The probe's verdict on a peer still probing; a peer that left meanwhile is ignored. */
  settle(peerId: string, reachable: boolean): void {
    const rec = this.peers.get(peerId);
    if (!rec || rec.reachability !== 'probing') return;
    rec.reachability = reachable ? 'reachable' : 'unreachable';
    if (reachable) this.listed.set(rec);
  }

  remove(peerId: string): void {
    const rec = this.peers.get(peerId);
    if (rec) this.byToken.delete(rec.fetchToken);
    this.peers.delete(peerId);
    this.listed.delete(peerId);
  }

  /** Up to `max` distinct reachable peers other than `exclude`, in random order. */
  sample(exclude: string, max: number, rng: Rng): PeerAddress[] {
    return this.listed.sample(exclude, max, rng).map((rec) => ({ peerId: rec.peerId, url: rec.url as string }));
  }

  /** Peers not heard from since `cutoffMs`. */
  stale(cutoffMs: number): string[] {
    return [...this.peers.values()].filter((p) => p.lastSeenMs < cutoffMs).map((p) => p.peerId);
  }
}
