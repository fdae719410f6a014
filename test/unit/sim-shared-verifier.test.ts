/**
 * The simulator's verifier remembers answers: it must give the answers the
 * direct checks give, for good bytes and bad, however often it is asked.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { sharedDigest, sharedVerifier } from '../../scripts/sim/shared-verifier.ts';
import { generateSigner, publicKeyFromBase64 } from '../../shared/announcement-signature.ts';
import { hashPieces, sha256Base64Url, sha256Hex } from '../../shared/hashing.ts';
import { type SegmentAnnouncement, pieceRange } from '../../shared/segment.ts';
import { directVerifier } from '../../shared/verifier.ts';

const PIECE = 1024;

function segment(seq: number, data: Uint8Array): SegmentAnnouncement {
  return { seq, durationMs: 1000, size: data.byteLength, sha256: sha256Hex(data), pieceHashes: hashPieces(data, PIECE), publishedAtMs: 0, discontinuity: false };
}

function piecesOf(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i * PIECE < data.byteLength; i++) {
    const { start, end } = pieceRange(data.byteLength, PIECE, i);
    out.push(data.subarray(start, end));
  }
  return out;
}

test('pieces: the same answers as the direct check, asked once or many times, by view or by copy', () => {
  const v = sharedVerifier();
  const data = randomBytes(3 * PIECE);
  const [a, b] = piecesOf(data) as [Uint8Array, Uint8Array];
  const hashA = sha256Base64Url(a);
  for (let round = 0; round < 3; round++) {
    assert.equal(v.piece(a, hashA), true);
    assert.equal(v.piece(b, hashA), false, 'another piece of the same buffer');
    assert.equal(v.piece(Uint8Array.from(a), hashA), true, 'a copy of the bytes');
    const bad = Uint8Array.from(a);
    bad[0] = (bad[0] as number) ^ 1;
    assert.equal(v.piece(bad, hashA), directVerifier.piece(bad, hashA));
    assert.equal(v.piece(bad, hashA), false, 'a flipped bit');
    assert.equal(v.piece(a, sha256Base64Url(b)), false, 'the right bytes against the wrong hash');
  }
});

test('segments: a whole segment passes, one announced with another hash fails, each time', () => {
  const v = sharedVerifier();
  const data = randomBytes(2 * PIECE + 100);
  const info = segment(1, data);
  const pieces = piecesOf(data);
  const lying = { ...info, sha256: sha256Hex(randomBytes(10)) };
  for (let round = 0; round < 2; round++) {
    assert.equal(v.segment(info, pieces), true);
    assert.equal(v.segment(lying, pieces), false);
  }
});

test('announcements: genuine ones pass, another key or channel or a forged signature fails, each time', () => {
  const v = sharedVerifier();
  const signer = generateSigner();
  const other = generateSigner();
  const data = randomBytes(PIECE);
  const good = signer.sign(segment(7, data));
  const key = publicKeyFromBase64(signer.publicKeyBase64);
  const sameKeyAgain = publicKeyFromBase64(signer.publicKeyBase64);
  const otherKey = publicKeyFromBase64(other.publicKeyBase64);
  const forged = { ...good, record: signer.sign(segment(8, data)).record };
  for (let round = 0; round < 2; round++) {
    assert.equal(v.announcement(key, signer.channel, good), true);
    assert.equal(v.announcement(sameKeyAgain, signer.channel, good), true, 'the same key, another object');
    assert.equal(v.announcement(otherKey, signer.channel, good), false, 'checked with another key');
    assert.equal(v.announcement(key, 'sports', good), false, 'for another channel');
    assert.equal(v.announcement(key, signer.channel, forged), false, "another record under this one's signature");
  }
});

test('partials: genuine ones pass; a tampered hash, another key, or a whole record under its signature fails, each time', () => {
  const v = sharedVerifier();
  const signer = generateSigner();
  const data = randomBytes(3 * PIECE);
  const whole = signer.sign(segment(9, data));
  const part = signer.signPartial({ seq: 9, first: 0, pieceHashes: hashPieces(data, PIECE).slice(0, 2), openedAtMs: 5, discontinuity: false });
  const key = publicKeyFromBase64(signer.publicKeyBase64);
  const otherKey = publicKeyFromBase64(generateSigner().publicKeyBase64);
  const tampered = { ...part, record: Uint8Array.from(part.record, (b, i) => (i === part.record.byteLength - 1 ? b ^ 1 : b)) };
  for (let round = 0; round < 2; round++) {
    assert.equal(v.partial(key, signer.channel, part), true);
    assert.equal(v.partial(key, signer.channel, tampered), false, 'a hash changed');
    assert.equal(v.partial(otherKey, signer.channel, part), false, 'checked with another key');
    // A remembered answer for one kind is never given for the other: same signature, same record.
    assert.equal(v.announcement(key, signer.channel, { segment: whole.segment, record: part.record, signature: part.signature }), false);
    assert.equal(v.partial(key, signer.channel, { partial: part.partial, record: whole.record, signature: whole.signature }), false);
    assert.equal(v.announcement(key, signer.channel, whole), true);
  }
});

test('digests: the SHA-256 of the bytes, for shared buffers asked again, for a copy, and for bytes that differ', () => {
  const digest = sharedDigest();
  const data = randomBytes(5 * PIECE + 100);
  const pieces = piecesOf(data);
  const expected = sha256Hex(data);
  assert.equal(digest(pieces), expected);
  assert.equal(digest(pieces), expected);
  const copy = piecesOf(Uint8Array.from(data));
  assert.equal(digest(copy), expected);
  const other = Uint8Array.from(data);
  other[3 * PIECE] = (other[3 * PIECE] as number) ^ 1;
  assert.equal(digest(piecesOf(other)), sha256Hex(other));
  // The same buffer, cut at other places, is other bytes in order.
  assert.equal(digest([data.subarray(0, PIECE)]), sha256Hex(data.subarray(0, PIECE)));
  assert.equal(digest(pieces.slice(1)), sha256Hex(data.subarray(PIECE)));
});
