import type { KeyObject } from 'node:crypto';
import type { SignedAnnouncement, SignedPartial } from '../../shared/tracker-protocol.ts';
import { type Verifier, directVerifier } from '../../shared/verifier.ts';

/** Answers kept for this many segments (and signatures), the oldest forgotten first: a window's worth and then some. */
const KEPT = 256;

/**
 * The real checks, each answer remembered: in the simulator a piece's bytes
 * are one buffer that travels from viewer to viewer (segment-store.ts keeps
 * the frame a piece came in), so every viewer would hash the same bytes
 * against the same hash, and verify the same signature, again. Code takes no
 * virtual time, so this changes no figure, only the simulator's own cost.
 * Nothing is assumed: the first check of any bytes is a real one, and bytes
 * are told apart by their buffer, offset and length (none is written to once
 * stored), a segment by its hash and its pieces' hashes.
 */
export function sharedVerifier(): Verifier {
  const pieces = new WeakMap<ArrayBufferLike, Map<string, boolean>>();
  const segments = new Map<string, boolean>();
  const signatures = new Map<string, { key: KeyObject; record: Uint8Array; ok: boolean }>();
  // Signed records of either kind: the kind is part of the key, so an answer for one is never given for the other.
  const signed = (kind: 'whole' | 'part', key: KeyObject, channel: string, a: { record: Uint8Array; signature: Uint8Array }, check: () => boolean) => {
    const id = `${kind}:${channel}:${Buffer.from(a.signature).toString('base64')}`;
    const known = signatures.get(id);
    if (known && (known.key === key || known.key.equals(key)) && Buffer.compare(known.record, a.record) === 0) return known.ok;
    const ok = check();
    signatures.set(id, { key, record: a.record, ok });
    bounded(signatures);
    return ok;
  };
  const bounded = <V>(m: Map<string, V>) => {
    if (m.size > KEPT) m.delete(m.keys().next().value as string);
  };
  return {
    piece(data, expected) {
      let known = pieces.get(data.buffer);
      if (!known) pieces.set(data.buffer, (known = new Map()));
      const key = `${data.byteOffset}:${data.byteLength}:${expected}`;
      let ok = known.get(key);
      if (ok === undefined) known.set(key, (ok = directVerifier.piece(data, expected)));
      return ok;
    },
    // Each piece matched its hash, so the pieces' hashes name the bytes whole.
    segment(info, parts) {
      const key = `${info.sha256}:${info.pieceHashes.join(',')}`;
      let ok = segments.get(key);
      if (ok === undefined) {
        segments.set(key, (ok = directVerifier.segment(info, parts)));
        bounded(segments);
      }
      return ok;
    },
    announcement(key: KeyObject, channel: string, a: SignedAnnouncement) {
      return signed('whole', key, channel, a, () => directVerifier.announcement(key, channel, a));
    },
    partial(key: KeyObject, channel: string, a: SignedPartial) {
      return signed('part', key, channel, a, () => directVerifier.partial(key, channel, a));
    },
  };
}
