/**
 * Which egress class an HTTP segment fetch waits in (egress.ts), from what
 * the tracker knows of the peer whose fetch token it carries. Free-riders
 * are served from spare egress only: when the uplink is short, what they
 * fetch must not delay the fallbacks of peers that upload.
 */
import type { EgressClass } from './egress.ts';

/**
 * How long a peer that declared upload capacity may report uploading nothing
 * before its fallbacks count as a free-rider's. The origin seeds such a peer
 * from its first segment, so it soon holds pieces its neighbours lack and is
 * asked for them within seconds; 30 s is fifteen reports at the default 2 s
 * announce interval, so a late or lost report is no matter, and it is the
 * period of the choker's optimistic unchoke, by which a newcomer has been
 * tried by its neighbours too.
 */
export const UPLOAD_PROOF_MS = 30_000;

/** What the tracker knows of a fetching peer (a PeerRecord satisfies it). */
export interface FetchingPeer {
  uploadKbps: number;
  joinedAtMs: number;
  /** Bytes it has reported uploading since it joined, as credited (peer-stats.ts). */
  stats: { uploadedBytes: number };
}

export type FetchClassReason =
  /** No token, or one no joined peer holds: a plain HLS viewer, or a peer that left or rejoined. */
  | 'not-a-peer'
  | 'declared-no-upload'
  | 'uploaded-nothing'
  /** Declared upload and has not had UPLOAD_PROOF_MS to show it yet. */
  | 'newcomer'
  | 'uploads';

export interface FetchClass {
  cls: Extract<EgressClass, 'http' | 'spare'>;
  reason: FetchClassReason;
}

/**
 * `peer` is the joined peer whose token the fetch carries, or null. Plain
 * viewers are not punished: the origin cannot tell them from a peer that
 * dropped its token, and they are who the origin serves without a swarm.
 */
export function fetchClass(peer: FetchingPeer | null, nowMs: number): FetchClass {
  if (peer === null) return { cls: 'http', reason: 'not-a-peer' };
  if (peer.uploadKbps === 0) return { cls: 'spare', reason: 'declared-no-upload' };
  if (peer.stats.uploadedBytes > 0) return { cls: 'http', reason: 'uploads' };
  if (nowMs - peer.joinedAtMs < UPLOAD_PROOF_MS) return { cls: 'http', reason: 'newcomer' };
  return { cls: 'spare', reason: 'uploaded-nothing' };
}
