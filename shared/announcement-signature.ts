/**
 * Signed segment announcements. The origin signs each segment record with its
 * Ed25519 key; a peer checks the signature with the origin's public key before
 * it trusts any hash in the record, so whatever carries announcements between
 * them (the tracker, a replica, a proxy) cannot make it accept other bytes.
 *
 * What is signed is `DOMAIN · 0x00 · channel · 0x00 · record`, where record is
 * the segment record exactly as it travels (shared/tracker-protocol.ts): the
 * prefix keeps the key's signatures from meaning anything in another protocol,
 * and the channel keeps one channel's announcements from being replayed into
 * another's swarm; a rendition of a ladder (shared/rendition.ts) signs under
 * `<channel>/<rendition>`, which no channel name can be (no `/`), so none
 * replays into another rendition either. Neither the domain nor a name holds a
 * zero byte, so the message splits one way only.
 *
 * A partial record (the next pieces of a segment still being received, in
 * low-latency mode) is signed the same way under its own domain,
 * `PARTIAL_DOMAIN`: the two domains differ before their zero byte, so no
 * partial's signature can pass as a whole record's, nor the reverse.
 */
import { type KeyObject, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { CHANNEL_NAME_PATTERN, DEFAULT_CHANNEL } from './channel.ts';
import { isSignedName } from './rendition.ts';
import type { PartialAnnouncement, SegmentAnnouncement } from './segment.ts';
import {
  ORIGIN_KEY_PATTERN,
  SIGNATURE_BYTES,
  type SignedAnnouncement,
  type SignedPartial,
  encodePartialRecord,
  encodeSegmentRecord,
} from './tracker-protocol.ts';

export const ANNOUNCE_DOMAIN = 'p2p-live/announce/v1';
export const PARTIAL_DOMAIN = 'p2p-live/announce-part/v1';

const DOMAIN_BYTES = Buffer.from(`${ANNOUNCE_DOMAIN}\0`, 'latin1');
const PARTIAL_DOMAIN_BYTES = Buffer.from(`${PARTIAL_DOMAIN}\0`, 'latin1');

function message(domain: Buffer, channel: string, record: Uint8Array): Buffer {
  if (!isSignedName(channel)) throw new Error(`channel name ${JSON.stringify(channel)} must match ${CHANNEL_NAME_PATTERN} or be <channel>/<rendition>`);
  return Buffer.concat([domain, Buffer.from(`${channel}\0`, 'latin1'), record]);
}

/** The exact bytes a signature over the segment record `record` in `channel` covers. */
export function signedMessage(channel: string, record: Uint8Array): Buffer {
  return message(DOMAIN_BYTES, channel, record);
}

/** The exact bytes a signature over the partial record `record` in `channel` covers. */
export function signedPartialMessage(channel: string, record: Uint8Array): Buffer {
  return message(PARTIAL_DOMAIN_BYTES, channel, record);
}

const view = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

function assertEd25519(key: KeyObject, type: 'private' | 'public', what: string): void {
  if (key.type !== type || key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`${what} must be an Ed25519 ${type} key (got ${key.asymmetricKeyType ?? 'a secret'} ${key.type} key)`);
  }
}

/** The origin's side: signs each announcement of one channel with its private key. */
export class AnnouncementSigner {
  readonly publicKey: KeyObject;
  /** The public key as peers are given it (`--origin-key`, the welcome's `originKey`). */
  readonly publicKeyBase64: string;

  constructor(
    private readonly privateKey: KeyObject,
    readonly channel: string,
  ) {
    assertEd25519(privateKey, 'private', 'the signing key');
    signedMessage(channel, new Uint8Array(0));
    this.publicKey = createPublicKey(privateKey);
    this.publicKeyBase64 = publicKeyToBase64(this.publicKey);
  }

  sign(segment: SegmentAnnouncement): SignedAnnouncement {
    const record = encodeSegmentRecord(segment);
    return { segment, record, signature: view(sign(null, signedMessage(this.channel, record), this.privateKey)) };
  }

  signPartial(partial: PartialAnnouncement): SignedPartial {
    const record = encodePartialRecord(partial);
    return { partial, record, signature: view(sign(null, signedPartialMessage(this.channel, record), this.privateKey)) };
  }
}

/** A signer with a fresh key: an origin given no --signing-key, the simulator, tests. */
export function generateSigner(channel: string = DEFAULT_CHANNEL): AnnouncementSigner {
  return new AnnouncementSigner(generateKeyPairSync('ed25519').privateKey, channel);
}

/** True only if `a.signature` is `key`'s signature of `a.record` in `channel`. */
export function verifyAnnouncement(key: KeyObject, channel: string, a: SignedAnnouncement): boolean {
  if (a.signature.byteLength !== SIGNATURE_BYTES) return false;
  return verify(null, signedMessage(channel, a.record), key, a.signature);
}

/** True only if `a.signature` is `key`'s signature of the partial record `a.record` in `channel`. */
export function verifyPartial(key: KeyObject, channel: string, a: SignedPartial): boolean {
  if (a.signature.byteLength !== SIGNATURE_BYTES) return false;
  return verify(null, signedPartialMessage(channel, a.record), key, a.signature);
}

/** 32 raw bytes in standard base64. */
export function publicKeyToBase64(key: KeyObject): string {
  assertEd25519(key, 'public', 'an origin key');
  const jwk = key.export({ format: 'jwk' });
  return Buffer.from(jwk.x as string, 'base64url').toString('base64');
}

/** The public key of 32 raw bytes in standard base64; throws on anything else. */
export function publicKeyFromBase64(text: string): KeyObject {
  if (!ORIGIN_KEY_PATTERN.test(text)) throw new Error('an origin key is 32 bytes in base64 (44 characters ending in =)');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(text, 'base64').toString('base64url') }, format: 'jwk' });
}
