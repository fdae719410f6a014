import { type KeyObject, createHash } from 'node:crypto';
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
  const bounded = <V>(m: Map<string, V>) => {
    if (m.size > KEPT) m.delete(m.keys().next().value as string);
  };
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

/** Digests kept: every viewer's copy of a segment is the same few buffers, shared. */
const DIGESTS_KEPT = 4096;

/**
 * The SHA-256 (hex) of a segment's bytes as a player got them, each answer
 * remembered for the same reason as the verifier's: every viewer plays the
 * same shared buffers. Bytes are told apart by their buffer, offset and
 * length, as above; the first digest of any of them is a real one.
 */
export function sharedDigest(): (pieces: readonly Uint8Array[]) => string {
  const ids = new WeakMap<ArrayBufferLike, number>();
  let nextId = 0;
  const digests = new Map<string, string>();
  const idOf = (b: ArrayBufferLike) => {
    let id = ids.get(b);
    if (id === undefined) ids.set(b, (id = nextId++));
    return id;
  };
  return (pieces) => {
    let key = '';
    for (const p of pieces) key += `${idOf(p.buffer)}:${p.byteOffset}:${p.byteLength},`;
    let digest = digests.get(key);
    if (digest === undefined) {
      const hash = createHash('sha256');
      for (const p of pieces) hash.update(p);
      digests.set(key, (digest = hash.digest('hex')));
      if (digests.size > DIGESTS_KEPT) digests.delete(digests.keys().next().value as string);
    }
    return digest;
  };
}
