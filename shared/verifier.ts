import { createHash, type KeyObject } from 'node:crypto';
import { verifyAnnouncement, verifyPartial } from './announcement-signature.ts';
import { pieceMatches } from './hashing.ts';
import type { SegmentAnnouncement } from './segment.ts';
import type { SignedAnnouncement, SignedPartial } from './tracker-protocol.ts';

/**
 * The checks a peer node makes before it trusts bytes: a piece against its
 * announced hash, a whole segment against its own, an announcement against
 * the origin's signature. A node makes each itself (`directVerifier`); a
 * simulator of many nodes in one process may remember answers, since there
 * every viewer checks the very same bytes (scripts/sim/shared-verifier.ts).
 */
export interface Verifier {
  /** True if `data` hashes to `expectedBase64Url`. */
  piece(data: Uint8Array, expectedBase64Url: string): boolean;
  /** True if `pieces`, each already found to match its hash in `info.pieceHashes`, together hash to `info.sha256`. */
  segment(info: Pick<SegmentAnnouncement, 'sha256' | 'pieceHashes'>, pieces: readonly Uint8Array[]): boolean;
  /** True only if `a.signature` is `key`'s signature of `a.record` in `channel`. */
  announcement(key: KeyObject, channel: string, a: SignedAnnouncement): boolean;
  /** True only if `a.signature` is `key`'s signature of the partial record `a.record` in `channel`. */
  partial(key: KeyObject, channel: string, a: SignedPartial): boolean;
}

export const directVerifier: Verifier = {
  piece: pieceMatches,
  segment(info, pieces) {
    const hash = createHash('sha256');
    for (const p of pieces) hash.update(p);
    return hash.digest('hex') === info.sha256;
  },
  announcement: verifyAnnouncement,
  partial: verifyPartial,
};
