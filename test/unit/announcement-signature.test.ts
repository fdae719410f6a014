import assert from 'node:assert/strict';
import { type KeyObject, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadSigningKey } from '../../origin/signing-key.ts';
import { peerConfig } from '../../peer-node/config.ts';
import { loadOriginKey } from '../../peer-node/origin-key.ts';
import { type PeerCore, createPeerCore } from '../../peer-node/peer-core.ts';
import {
  ANNOUNCE_DOMAIN,
  AnnouncementSigner,
  PARTIAL_DOMAIN,
  generateSigner,
  publicKeyFromBase64,
  publicKeyToBase64,
  signedMessage,
  signedPartialMessage,
  verifyAnnouncement,
  verifyPartial,
} from '../../shared/announcement-signature.ts';
import { DEFAULT_CHANNEL } from '../../shared/channel.ts';
import { ManualClock } from '../../shared/clock.ts';
import { hashPieces, sha256Hex } from '../../shared/hashing.ts';
import { PROTOCOL_VERSION } from '../../shared/limits.ts';
import { seededRng } from '../../shared/rng.ts';
import type { SegmentAnnouncement } from '../../shared/segment.ts';
import { type SignedAnnouncement, type SignedPartial, decodeTrackerToPeer, encodeTrackerToPeer } from '../../shared/tracker-protocol.ts';
import { directVerifier } from '../../shared/verifier.ts';
import { capturingLog } from '../helpers/origin.ts';

const PIECE = 16 * 1024;

/** A signer and its private key, so a test can sign as the same origin under another channel. */
function keyed(): { key: KeyObject; signer: AnnouncementSigner } {
  const key = generateKeyPairSync('ed25519').privateKey;
  return { key, signer: new AnnouncementSigner(key, 'main') };
}

function segment(seq: number, fill = seq): { info: SegmentAnnouncement; data: Buffer } {
  const data = Buffer.alloc(40_000, fill);
  return {
    data,
    info: { seq, durationMs: 1000, size: data.byteLength, sha256: sha256Hex(data), pieceHashes: hashPieces(data, PIECE), publishedAtMs: 1_764_000_000_000 + seq, discontinuity: false },
  };
}

/** A copy of `a` with one byte of its record changed at `offset`: what a relay that edits the record sends on. */
function tampered(a: SignedAnnouncement, offset: number): SignedAnnouncement {
  const record = Uint8Array.from(a.record);
  record[offset] = (record[offset] as number) ^ 0x01;
  return { ...a, record };
}

/** What a peer gets after the bytes went through the wire: decoded from the segment frame. */
function overTheWire(a: SignedAnnouncement): SignedAnnouncement {
  const d = decodeTrackerToPeer(encodeTrackerToPeer({ type: 'segment', announcement: a }));
  assert.ok(d.ok && d.value.type === 'segment');
  return d.value.announcement;
}

describe('announcement signatures', () => {
  const { key: originPrivate, signer } = keyed();
  const good = signer.sign(segment(100).info);

  test('what is signed: the domain, the channel and the exact record, each of the first two ended by a zero byte', () => {
    const m = signedMessage('main', good.record);
    assert.equal(ANNOUNCE_DOMAIN, 'p2p-live/announce/v1');
    assert.deepEqual(m, Buffer.concat([Buffer.from('p2p-live/announce/v1\0main\0'), good.record]));
    assert.throws(() => signedMessage('Main', good.record), /channel name/);
    assert.throws(() => signedMessage('a\0b', good.record), /channel name/);
    assert.throws(() => new AnnouncementSigner(generateKeyPairSync('ed25519').privateKey, ''), /channel name/);
  });

  test('the origin key signs, the peer verifies, after the wire as before it', () => {
    assert.equal(signer.channel, DEFAULT_CHANNEL);
    assert.equal(good.signature.byteLength, 64);
    assert.equal(verifyAnnouncement(signer.publicKey, 'main', good), true);
    assert.equal(verifyAnnouncement(signer.publicKey, 'main', overTheWire(good)), true);
    assert.equal(verifyAnnouncement(publicKeyFromBase64(signer.publicKeyBase64), 'main', good), true);
  });

  const refusals: { name: string; a: () => SignedAnnouncement; key?: () => KeyObject; channel?: string }[] = [
    // Record offsets: seq at 0, durationMs 4, size 6, publishedAtMs 10, flags 16, sha256 17, count 49, piece hashes from 51.
    { name: 'a piece hash changed', a: () => tampered(good, 51 + 32 + 5) },
    { name: 'the last bit of the last piece hash changed', a: () => tampered(good, good.record.byteLength - 1) },
    { name: 'the segment hash changed', a: () => tampered(good, 20) },
    { name: 'seq changed', a: () => tampered(good, 3) },
    { name: 'size changed', a: () => tampered(good, 9) },
    { name: 'durationMs changed', a: () => tampered(good, 5) },
    { name: 'the discontinuity flag set', a: () => tampered(good, 16) },
    { name: 'a genuine record with the signature of another genuine record', a: () => ({ ...good, signature: signer.sign(segment(101).info).signature }) },
    { name: 'a flipped signature bit', a: () => ({ ...good, signature: Uint8Array.from(good.signature, (b, i) => (i === 10 ? b ^ 0x80 : b)) }) },
    { name: 'a short signature', a: () => ({ ...good, signature: good.signature.subarray(0, 63) }) },
    { name: 'signed by another key', a: () => generateSigner().sign(segment(100).info) },
    { name: 'checked with another key', a: () => good, key: () => generateSigner().publicKey },
    { name: 'signed for another channel', a: () => new AnnouncementSigner(originPrivate, 'sports').sign(segment(100).info) },
    { name: 'checked as another channel', a: () => good, channel: 'sports' },
  ];
  for (const r of refusals) {
    test(`refused: ${r.name}`, () => {
      assert.equal(verifyAnnouncement(r.key?.() ?? signer.publicKey, r.channel ?? 'main', r.a()), false);
    });
  }

  test('public keys: 32 raw bytes in base64, one spelling', () => {
    const text = signer.publicKeyBase64;
    assert.match(text, /^[A-Za-z0-9+/]{43}=$/);
    assert.equal(Buffer.from(text, 'base64').byteLength, 32);
    assert.equal(publicKeyToBase64(publicKeyFromBase64(text)), text);
    assert.throws(() => publicKeyFromBase64(`${'A'.repeat(42)}B=`), /32 bytes in base64/);
    assert.throws(() => publicKeyFromBase64(text.slice(1)), /32 bytes in base64/);
    assert.throws(() => publicKeyFromBase64(Buffer.from(text, 'base64').toString('base64url')), /32 bytes in base64/);
  });
});

describe('partial announcement signatures', () => {
  const { key: originPrivate, signer } = keyed();
  const whole = segment(100);
  // The partial a segment's first two pieces went out in before it was whole.
  const part = signer.signPartial({ seq: 100, first: 0, pieceHashes: whole.info.pieceHashes.slice(0, 2), openedAtMs: 1_764_000_000_000, discontinuity: false });
  const partOverTheWire = (a: SignedPartial): SignedPartial => {
    const d = decodeTrackerToPeer(encodeTrackerToPeer({ type: 'segment-part', announcement: a }));
    assert.ok(d.ok && d.value.type === 'segment-part');
    return d.value.announcement;
  };
  const tamperedPart = (a: SignedPartial, offset: number): SignedPartial => ({ ...a, record: Uint8Array.from(a.record, (b, i) => (i === offset ? b ^ 0x01 : b)) });

  test('signed under their own domain, ended by a zero byte like the whole record', () => {
    assert.equal(PARTIAL_DOMAIN, 'p2p-live/announce-part/v1');
    assert.deepEqual(signedPartialMessage('main', part.record), Buffer.concat([Buffer.from('p2p-live/announce-part/v1\0main\0'), part.record]));
    assert.throws(() => signedPartialMessage('Main', part.record), /channel name/);
  });

  test('the origin key signs, the peer verifies, after the wire as before it, directly or through the Verifier', () => {
    assert.equal(verifyPartial(signer.publicKey, 'main', part), true);
    assert.equal(verifyPartial(signer.publicKey, 'main', partOverTheWire(part)), true);
    assert.equal(directVerifier.partial(signer.publicKey, 'main', part), true);
  });

  test("a partial's signature never verifies as a whole record's, nor a whole record's as a partial's", () => {
    const good = signer.sign(whole.info);
    // The same bytes and signature presented as the other kind: only the domain differs, and it decides.
    assert.equal(verifyAnnouncement(signer.publicKey, 'main', { segment: whole.info, record: part.record, signature: part.signature }), false);
    assert.equal(verifyPartial(signer.publicKey, 'main', { partial: part.partial, record: good.record, signature: good.signature }), false);
    assert.equal(directVerifier.announcement(signer.publicKey, 'main', { segment: whole.info, record: part.record, signature: part.signature }), false);
    assert.equal(directVerifier.partial(signer.publicKey, 'main', { partial: part.partial, record: good.record, signature: good.signature }), false);
  });

  const refusals: { name: string; a: () => SignedPartial; key?: () => KeyObject; channel?: string }[] = [
    // Record offsets: seq at 0, openedAtMs 4, flags 10, first 11, count 13, piece hashes from 15.
    { name: 'a piece hash changed', a: () => tamperedPart(part, 15 + 32 + 7) },
    { name: 'the last bit of the last hash changed', a: () => tamperedPart(part, part.record.byteLength - 1) },
    { name: 'first changed', a: () => tamperedPart(part, 12) },
    { name: 'seq changed', a: () => tamperedPart(part, 3) },
    { name: 'openedAtMs changed', a: () => tamperedPart(part, 9) },
    { name: 'the discontinuity flag set', a: () => tamperedPart(part, 10) },
    { name: 'a short signature', a: () => ({ ...part, signature: part.signature.subarray(0, 63) }) },
    { name: 'signed by another key', a: () => generateSigner().signPartial(part.partial) },
    { name: 'signed for another channel', a: () => new AnnouncementSigner(originPrivate, 'sports').signPartial(part.partial) },
    { name: 'checked as another channel', a: () => part, channel: 'sports' },
  ];
  for (const r of refusals) {
    test(`refused: ${r.name}`, () => {
      assert.equal(verifyPartial(r.key?.() ?? signer.publicKey, r.channel ?? 'main', r.a()), false);
    });
  }
});

describe('a peer trusts only the origin key', () => {
  function core(originKey: string | null = null) {
    const { log, entries } = capturingLog('info');
    const c: PeerCore = createPeerCore(peerConfig({ streamId: 'live' }), {
      peerId: 'p',
      clock: new ManualClock(1_764_000_000_000),
      rng: seededRng(1),
      log,
      originKey: originKey === null ? null : publicKeyFromBase64(originKey),
      advertisedUrl: () => 'mem://p',
      dial: () => {},
      trackerSend: () => {},
      trackerJoined: () => true,
      fetchOrigin: (_s, _p, _z, _ps, _t, done) => done(null),
    });
    const welcome = (key: string, segments: SignedAnnouncement[]) =>
      c.onWelcome({ type: 'welcome', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'p', pieceSize: PIECE, announceIntervalMs: 5000, originTimeMs: 1_764_000_000_000, segments, peers: [], fetchToken: 'a'.repeat(22), originKey: key });
    const logged = (msg: string) => entries().filter((e) => e.msg === msg);
    return { c, welcome, logged };
  }
  const { key: originPrivate, signer: origin } = keyed();
  const impostor = generateSigner();

  test('pinned from the first welcome; a later welcome with another key is refused, and the pinned key still decides', () => {
    const { c, welcome, logged } = core();
    welcome(origin.publicKeyBase64, [origin.sign(segment(1).info)]);
    assert.equal(logged('origin key pinned from the tracker welcome').length, 1);
    assert.deepEqual(c.store.all().map((e) => e.info.seq), [1]);

    // Reconnected through a tracker that names another key and offers its own window.
    welcome(impostor.publicKeyBase64, [impostor.sign(segment(2).info), origin.sign(segment(3).info)]);
    const refused = logged('origin key in the welcome differs from the pinned key: refused, keeping the pinned key (restart the node if the origin really changed its key)');
    assert.equal(refused.length, 1);
    assert.equal(refused[0]?.pinned, origin.publicKeyBase64);
    assert.equal(refused[0]?.offered, impostor.publicKeyBase64);
    assert.deepEqual(c.store.all().map((e) => e.info.seq), [1, 3], 'the impostor-signed segment 2 is not known');

    c.onSegment(impostor.sign(segment(4).info));
    c.onSegment(origin.sign(segment(5).info));
    assert.deepEqual(c.store.all().map((e) => e.info.seq), [1, 3, 5]);
    assert.equal(c.counters.badAnnouncements, 2);
    assert.deepEqual(logged('announcement signature invalid').map((e) => e.seq), [2, 4]);
    assert.equal(logged('announcement signature invalid')[0]?.level, 40, 'a warning');
    c.close();
  });

  test('no piece of a refused segment is taken, even its true bytes', () => {
    const { c, welcome } = core();
    welcome(origin.publicKeyBase64, []);
    const s = segment(7);
    c.onSegment(impostor.sign(s.info));
    c.onSeed(7, 0, s.data.subarray(0, PIECE));
    assert.equal(c.store.get(7), undefined);
    assert.equal(c.counters.seedBytes, 0);
    c.close();
  });

  test('with --origin-key the welcome key is never pinned: a tracker naming its own is refused from the start', () => {
    const { c, welcome, logged } = core(origin.publicKeyBase64);
    welcome(impostor.publicKeyBase64, [impostor.sign(segment(1).info)]);
    assert.equal(logged('origin key pinned from the tracker welcome').length, 0);
    assert.equal(logged('origin key in the welcome differs from the pinned key: refused, keeping the pinned key (restart the node if the origin really changed its key)').length, 1);
    assert.equal(c.store.size, 0);
    c.onSegment(origin.sign(segment(2).info));
    assert.deepEqual(c.store.all().map((e) => e.info.seq), [2]);
    assert.equal(c.counters.badAnnouncements, 1);
    c.close();
  });

  test('an announcement before any key is known is refused', () => {
    const { c, logged } = core();
    c.onSegment(origin.sign(segment(1).info));
    assert.equal(c.store.size, 0);
    assert.equal(logged('announcement signature invalid')[0]?.reason, 'no origin key pinned yet');
    c.close();
  });

  test('an announcement of the origin for another channel is refused', () => {
    const { c, welcome } = core();
    welcome(origin.publicKeyBase64, [new AnnouncementSigner(originPrivate, 'sports').sign(segment(1).info)]);
    assert.equal(c.store.size, 0);
    assert.equal(c.counters.badAnnouncements, 1);
    c.close();
  });
});

describe('key files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'p2p-sign-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('--signing-key: created (mode 0600) when missing, the same key when read back', () => {
    const file = join(dir, 'origin-key.pem');
    const created = loadSigningKey(file);
    assert.equal(created.source, 'created');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.match(readFileSync(file, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    const read = loadSigningKey(file);
    assert.equal(read.source, 'file');
    assert.ok(read.key.equals(created.key));
    assert.equal(loadSigningKey(null).source, 'generated');
  });

  test('--signing-key: a key of another kind, or no key, is a clear error', () => {
    const rsa = join(dir, 'rsa.pem');
    writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
    assert.throws(() => loadSigningKey(rsa), /--signing-key: .*rsa key, not Ed25519/);
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'hello');
    assert.throws(() => loadSigningKey(junk), /--signing-key: .* is not a PEM private key/);
    assert.throws(() => loadSigningKey(join(dir, 'no-such-dir', 'k.pem')), /--signing-key: cannot create/);
  });

  test('--origin-key: base64, or a PEM public key file; never a private key', () => {
    const { key, signer: s } = keyed();
    assert.ok(loadOriginKey(s.publicKeyBase64)?.equals(s.publicKey));
    const pub = join(dir, 'pub.pem');
    writeFileSync(pub, s.publicKey.export({ format: 'pem', type: 'spki' }));
    assert.ok(loadOriginKey(pub)?.equals(s.publicKey));
    const priv = join(dir, 'priv.pem');
    writeFileSync(priv, key.export({ format: 'pem', type: 'pkcs8' }));
    assert.throws(() => loadOriginKey(priv), /is a private key; give peers the public key/);
    assert.throws(() => loadOriginKey(join(dir, 'missing.pem')), /--origin-key: neither a 44-character base64 key nor a readable file/);
    assert.equal(loadOriginKey(null), null);
  });
});
