import type { Rng } from '../shared/rng.ts';
import { shuffle } from '../shared/rng.ts';
import type { PeerAddress } from '../shared/tracker-protocol.ts';

/** Longest list of known addresses kept; the tracker can always hand out more. */
const MAX_KNOWN = 200;
const RETRY_AFTER_FAILURE_MS = 10_000;

/**
 * Who this node knows and may dial: addresses from the tracker, peers banned
 * for lying, and recent dial failures. Plain state; the node dials.
 */
export class Neighbourhood {
  private readonly known = new Map<string, string>();
  private readonly banned = new Set<string>();
  private readonly failedAt = new Map<string, number>();

  constructor(private readonly selfId: string) {}

  learn(peers: readonly PeerAddress[]): void {
    for (const p of peers) {
      if (p.peerId === this.selfId || this.banned.has(p.peerId)) continue;
      this.known.delete(p.peerId);
      this.known.set(p.peerId, p.url);
    }
    while (this.known.size > MAX_KNOWN) this.known.delete(this.known.keys().next().value as string);
  }

  ban(peerId: string): void {
    this.banned.add(peerId);
    this.known.delete(peerId);
  }

  isBanned(peerId: string): boolean {
    return this.banned.has(peerId);
  }

  dialFailed(peerId: string, nowMs: number): void {
    this.failedAt.set(peerId, nowMs);
  }

  /** Up to `count` addresses to dial now, excluding those `skip` names (connected, or their host is full). */
  toDial(count: number, skip: (peerId: string, url: string) => boolean, nowMs: number, rng: Rng): PeerAddress[] {
    if (count <= 0) return [];
    const out: PeerAddress[] = [];
    for (const [peerId, url] of this.known) {
      if (skip(peerId, url)) continue;
      const failed = this.failedAt.get(peerId);
      if (failed !== undefined && nowMs - failed < RETRY_AFTER_FAILURE_MS) continue;
      out.push({ peerId, url });
    }
    return shuffle(out, rng).slice(0, count);
  }

  get size(): number {
    return this.known.size;
  }
}
