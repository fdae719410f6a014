/**
 * The whole swarm of a channel as every tracker replica and the origin see it
 * when replicas share it over Redis (tracker-replica.ts): each process keeps
 * this mirror of the members in memory, fed by the replicas' events and
 * resynchronised from Redis now and then, so a join, a peer list or a seeding
 * decision never waits on Redis, and a Redis outage leaves the last view in
 * place. Plain data; no Redis here.
 */
import { createHash } from 'node:crypto';
import type { Rng } from '../shared/rng.ts';
import type { PeerAddress } from '../shared/tracker-protocol.ts';
import { FieldError, bool, id, int, isObj, str, wsUrl } from '../shared/validate.ts';
import type { FetchingPeer } from './egress-class.ts';
import type { PeerRecord } from './peer-registry.ts';
import { SampleSet } from './sample-set.ts';
import type { SeedCandidate } from './seeder.ts';

export interface Member {
  peerId: string;
  /** Where other peers dial it, or null if it gave no address. */
  url: string | null;
  /** Its connect-back probe passed, so it is handed out in peer lists. */
  listed: boolean;
  uploadKbps: number;
  /** It only relays the stream now (PeerRecord.relayOnly): not seeded. */
  relayOnly: boolean;
  /** The replica it is joined to: where the origin's seeds for it go. */
  replica: string;
  /** Hex SHA-256 of its fetch token: the origin classes its fetches by it, and a rejoin proves itself with the token. */
  tokenHash: string;
  joinedAtMs: number;
  /** It has been credited with uploading something (egress-class.ts). */
  uploads: boolean;
}

/** A replica's id: also part of Redis channel names. */
export const REPLICA_ID = /^[A-Za-z0-9_-]{1,64}$/;
const HEX64 = /^[0-9a-f]{64}$/;

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** What the swarm is told of a tracker's own peer, joined to `replica`. */
export function memberOf(peer: PeerRecord, replica: string): Member {
  return {
    peerId: peer.peerId,
    url: peer.url,
    listed: peer.reachability === 'reachable',
    uploadKbps: peer.uploadKbps,
    relayOnly: peer.relayOnly,
    replica,
    tokenHash: hashToken(peer.fetchToken),
    joinedAtMs: peer.joinedAtMs,
    uploads: peer.stats.uploadedBytes > 0,
  };
}

export function encodeMember(m: Member): string {
  return JSON.stringify(m);
}

/** A member as stored in Redis and sent in events (JSON text, or parsed); anything else is an error naming the field. */
export function decodeMember(json: string | unknown): Member {
  let v = json;
  if (typeof json === 'string') {
    try {
      v = JSON.parse(json);
    } catch {
      throw new FieldError('member is not JSON');
    }
  }
  if (!isObj(v)) throw new FieldError('member must be an object');
  if (typeof v.listed !== 'boolean' || typeof v.uploads !== 'boolean') throw new FieldError('listed and uploads must be booleans');
  return {
    peerId: id(v, 'peerId'),
    url: v.url === null ? null : wsUrl(v, 'url'),
    listed: v.listed && v.url !== null,
    uploadKbps: int(v, 'uploadKbps', 0, 100_000_000),
    // Absent from what a replica of older code wrote: it fetches.
    relayOnly: v.relayOnly === undefined ? false : bool(v, 'relayOnly'),
    replica: str(v, 'replica', REPLICA_ID, 64),
    tokenHash: str(v, 'tokenHash', HEX64, 64),
    joinedAtMs: int(v, 'joinedAtMs', 0, Number.MAX_SAFE_INTEGER),
    uploads: v.uploads,
  };
}

export class SwarmMembers {
  private readonly members = new Map<string, Member>();
  private readonly listed = new SampleSet<Member>();
  private readonly byToken = new Map<string, Member>();

  get size(): number {
    return this.members.size;
  }

  get(peerId: string): Member | undefined {
    return this.members.get(peerId);
  }

  all(): IterableIterator<Member> {
    return this.members.values();
  }

  /**
   * Takes a member's latest state. Says which replica held it before if that
   * was another (it rejoined elsewhere), and whether it just became listed.
   */
  upsert(m: Member): { movedFrom: string | null; newlyListed: boolean } {
    const before = this.members.get(m.peerId);
    if (before) this.byToken.delete(before.tokenHash);
    this.members.set(m.peerId, m);
    this.byToken.set(m.tokenHash, m);
    if (m.listed) this.listed.set(m);
    else this.listed.delete(m.peerId);
    return { movedFrom: before && before.replica !== m.replica ? before.replica : null, newlyListed: m.listed && !before?.listed };
  }

  /** `replica` says its peer left: true if that replica held it (one that rejoined elsewhere since stays). */
  remove(peerId: string, replica: string): boolean {
    const m = this.members.get(peerId);
    if (!m || m.replica !== replica) return false;
    this.members.delete(peerId);
    this.byToken.delete(m.tokenHash);
    this.listed.delete(peerId);
    return true;
  }

  /** Up to `max` listed members other than `exclude`, in random order. */
  sample(exclude: string, max: number, rng: Rng): PeerAddress[] {
    return this.listed.sample(exclude, max, rng).map((m) => ({ peerId: m.peerId, url: m.url as string }));
  }

  /**
   * True if a member with this id is held by a replica other than `self` and
   * the joiner does not prove it is that peer with its last fetch token: a
   * live peer keeps its id across the whole swarm, and a peer whose replica
   * died takes its id with it to the next.
   */
  takenElsewhere(peerId: string, resume: string | null, self: string): boolean {
    const m = this.members.get(peerId);
    if (!m || m.replica === self) return false;
    return resume === null || hashToken(resume) !== m.tokenHash;
  }

  /** Every member that fetches the stream (not relay-only) and its declared capacity: the origin seeds across the whole swarm, once per piece. */
  seedCandidates(): SeedCandidate[] {
    const out: SeedCandidate[] = [];
    for (const m of this.members.values()) if (!m.relayOnly) out.push({ peerId: m.peerId, uploadKbps: m.uploadKbps });
    return out;
  }

  /** The member an origin fetch's token names, as egress-class.ts judges it. */
  fetchingPeer(token: string): FetchingPeer | null {
    const m = this.byToken.get(hashToken(token));
    return m ? { uploadKbps: m.uploadKbps, joinedAtMs: m.joinedAtMs, stats: { uploadedBytes: m.uploads ? 1 : 0 } } : null;
  }
}
