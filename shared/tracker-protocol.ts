/**
 * Tracker protocol: peer node <-> origin over one WebSocket at /tracker.
 * The rare control messages are JSON text frames; what the origin sends every
 * peer for every segment (its announcement, and seeded pieces) are binary
 * frames. Kinds and layouts live only here; docs/protocol.md describes them.
 */
import { Reader, Truncated, Writer } from './bytes.ts';
import { type Decoded, ProtocolError, assertNever, fail } from './errors.ts';
import { FETCH_TOKEN_CHARS, FETCH_TOKEN_PATTERN } from './fetch-token.ts';
import {
  MAX_COUNTER_VALUE,
  MAX_PEERS_PER_LIST,
  MAX_PIECE_SIZE,
  MAX_PIECES_PER_SEGMENT,
  MAX_SEGMENT_BYTES,
  MAX_SEGMENT_DURATION_MS,
  MAX_TRACKER_MESSAGE_BYTES,
  MAX_WINDOW_SEGMENTS,
  MIN_PIECE_SIZE,
  PROTOCOL_VERSION,
} from './limits.ts';
import type { PartialAnnouncement, SegmentAnnouncement } from './segment.ts';
import {
  FieldError,
  type Obj,
  arr,
  bool,
  id,
  int,
  isObj,
  obj,
  str,
  wsUrl,
} from './validate.ts';

export interface PeerAddress {
  peerId: string;
  url: string;
}

/** Cumulative counters since the peer started; the origin turns them into deltas. */
export interface PeerStats {
  p2pBytes: number;
  originBytes: number;
  uploadedBytes: number;
  stalls: number;
  stallMs: number;
  neighbours: number;
  hashFailures: number;
}

export type PeerToTracker =
  | {
      type: 'join';
      version: number;
      streamId: string;
      peerId: string;
      /** Where other peers can reach this node, or null if it accepts no connections. */
      url: string | null;
      /** Declared upload capacity; 0 means the origin must not seed through this peer. */
      uploadKbps: number;
      /**
       * The fetch token of this peer's previous welcome, on a rejoin: it proves
       * the id is its own, so a tracker replica may take the peer over from
       * another replica that still lists it (a replica that died).
       */
      resume?: string;
    }
  | { type: 'announce'; stats: PeerStats }
  | { type: 'get-peers'; max: number }
  /**
   * Whether the peer only relays this stream now: it fetches nothing of it and
   * uploads what it holds (a rung of a ladder its player left or has not
   * reached). The origin seeds only peers that fetch: a piece's one copy must
   * go where the swarm that needs it will take it from at once.
   */
  | { type: 'relay-only'; on: boolean }
  | { type: 'leave' };

/** An Ed25519 signature's length. */
export const SIGNATURE_BYTES = 64;
/** An Ed25519 public key: 32 raw bytes in standard base64, as the welcome carries it and --origin-key takes it. */
export const ORIGIN_KEY_PATTERN = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/**
 * An announcement as the origin signed it (shared/announcement-signature.ts):
 * `record` is the segment record exactly as the origin encoded it, the bytes
 * its `signature` covers; `segment` is that record decoded. Whatever relays it
 * (tracker, replicas) passes `record` and `signature` on untouched.
 */
export interface SignedAnnouncement {
  segment: SegmentAnnouncement;
  record: Uint8Array;
  /** Ed25519, 64 bytes. */
  signature: Uint8Array;
}

/**
 * A partial announcement as the origin signed it (under its own domain:
 * shared/announcement-signature.ts), `record` being the partial record
 * exactly as encoded and `partial` that record decoded.
 */
export interface SignedPartial {
  partial: PartialAnnouncement;
  record: Uint8Array;
  /** Ed25519, 64 bytes. */
  signature: Uint8Array;
}

export type Welcome = Extract<TrackerToPeer, { type: 'welcome' }>;

export type TrackerToPeer =
  | {
      type: 'welcome';
      version: number;
      streamId: string;
      peerId: string;
      pieceSize: number;
      announceIntervalMs: number;
      /** The origin's clock when it sent this: peers age the window's segments by it, whatever their own clock says. */
      originTimeMs: number;
      segments: SignedAnnouncement[];
      peers: PeerAddress[];
      /** Sent with this peer's origin fetches for as long as this connection lasts (shared/fetch-token.ts). */
      fetchToken: string;
      /** The origin's Ed25519 public key, 32 raw bytes in base64: what a peer given no --origin-key pins. */
      originKey: string;
    }
  | { type: 'segment'; announcement: SignedAnnouncement }
  /** The next whole pieces' hashes of a segment the origin is still receiving (low-latency, progressive). */
  | { type: 'segment-part'; announcement: SignedPartial }
  /** The origin seeding one piece into the swarm through this peer. */
  | { type: 'seed'; seq: number; piece: number; data: Uint8Array }
  | { type: 'peers'; peers: PeerAddress[] }
  | { type: 'error'; code: string; message: string };

const COUNTER_KEYS = [
  'p2pBytes',
  'originBytes',
  'uploadedBytes',
  'stalls',
  'stallMs',
  'neighbours',
  'hashFailures',
] as const;

export function encodePeerToTracker(msg: PeerToTracker): string {
  return JSON.stringify(msg);
}

/** A string goes out as a text frame, bytes as a binary frame. */
export function encodeTrackerToPeer(msg: TrackerToPeer): string | Uint8Array {
  switch (msg.type) {
    case 'welcome':
      return encodeWelcome(msg, msg.segments.map(segmentFrame));
    case 'segment':
      return segmentFrame(msg.announcement);
    case 'segment-part':
      return partialFrame(msg.announcement);
    case 'seed':
      return new Writer(SEED_HEADER_BYTES + msg.data.byteLength).u8(KIND.seed).u32(msg.seq).u16(msg.piece).bytes(msg.data).done();
    case 'peers':
    case 'error':
      return JSON.stringify(msg);
    default:
      return assertNever(msg);
  }
}

/**
 * A signed announcement's binary frame, the bytes every peer is pushed: made
 * once by the origin (the kind byte, its record, its signature), and relayed
 * as they are by the tracker, Redis and the tracker replicas.
 */
export function segmentFrame(a: SignedAnnouncement): Uint8Array {
  return new Writer(1 + a.record.byteLength + a.signature.byteLength).u8(KIND.segment).bytes(a.record).bytes(a.signature).done();
}

/** A signed partial's binary frame: made once by the origin, the same bytes to every peer. */
export function partialFrame(a: SignedPartial): Uint8Array {
  return new Writer(1 + a.record.byteLength + a.signature.byteLength).u8(KIND.part).bytes(a.record).bytes(a.signature).done();
}

/**
 * A welcome whose window is given as segment frames (segmentFrame): each goes
 * into the welcome as the signed record it carries (signedRecord), byte for
 * byte, so a tracker replica relays the origin's announcements without
 * decoding and re-encoding them.
 */
export function encodeWelcome(msg: Omit<Welcome, 'segments'>, frames: readonly Uint8Array[]): string {
  return JSON.stringify({ ...msg, segments: frames.map((f) => base64url(f.subarray(1))) });
}

function parseJson(text: string): Decoded<Obj> {
  if (text.length > MAX_TRACKER_MESSAGE_BYTES) {
    return fail('ERR_TOO_LARGE', `message of ${text.length} bytes exceeds ${MAX_TRACKER_MESSAGE_BYTES}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return fail('ERR_MALFORMED', 'not valid JSON');
  }
  if (!isObj(parsed) || typeof parsed.type !== 'string') {
    return fail('ERR_MALFORMED', 'message must be an object with a string type');
  }
  return { ok: true, value: parsed };
}

function guard<T>(read: () => T): Decoded<T> {
  try {
    return { ok: true, value: read() };
  } catch (e) {
    if (e instanceof FieldError) return fail('ERR_BAD_FIELD', e.message);
    if (e instanceof ProtocolError) return { ok: false, error: e };
    throw e;
  }
}

export function decodePeerToTracker(text: string): Decoded<PeerToTracker> {
  const parsed = parseJson(text);
  if (!parsed.ok) return parsed;
  const m = parsed.value;
  switch (m.type) {
    case 'join':
      return guard(() => {
        const version = int(m, 'version', 0, 65535);
        if (version !== PROTOCOL_VERSION) {
          throw new ProtocolError('ERR_VERSION', `protocol version ${version} is not ${PROTOCOL_VERSION}`);
        }
        return {
          type: 'join',
          version,
          streamId: id(m, 'streamId'),
          peerId: id(m, 'peerId'),
          url: m.url === null ? null : wsUrl(m, 'url'),
          uploadKbps: int(m, 'uploadKbps', 0, 100_000_000),
          ...(m.resume === undefined ? {} : { resume: str(m, 'resume', FETCH_TOKEN_PATTERN, FETCH_TOKEN_CHARS) }),
        };
      });
    case 'announce':
      return guard(() => {
        const s = obj(m.stats, 'stats');
        const stats = {} as PeerStats;
        for (const k of COUNTER_KEYS) stats[k] = int(s, k, 0, MAX_COUNTER_VALUE);
        return { type: 'announce', stats };
      });
    case 'get-peers':
      return guard(() => ({ type: 'get-peers', max: int(m, 'max', 1, MAX_PEERS_PER_LIST) }));
    case 'relay-only':
      return guard(() => ({ type: 'relay-only', on: bool(m, 'on') }));
    case 'leave':
      return { ok: true, value: { type: 'leave' } };
    default:
      return fail('ERR_UNKNOWN_TYPE', `unknown message type ${JSON.stringify(String(m.type).slice(0, 32))}`);
  }
}

function readPeers(m: Obj): PeerAddress[] {
  return arr(m, 'peers', MAX_PEERS_PER_LIST).map((p) => {
    const o = obj(p, 'peer');
    return { peerId: id(o, 'peerId'), url: wsUrl(o, 'url') };
  });
}

/** Decodes a text frame (a string) or a binary frame (bytes) from the tracker. */
export function decodeTrackerToPeer(frame: string | Uint8Array): Decoded<TrackerToPeer> {
  if (typeof frame !== 'string') return decodeBinary(frame);
  const parsed = parseJson(frame);
  if (!parsed.ok) return parsed;
  const m = parsed.value;
  switch (m.type) {
    case 'welcome':
      return guard(() => {
        const version = int(m, 'version', 0, 65535);
        if (version !== PROTOCOL_VERSION) {
          throw new ProtocolError('ERR_VERSION', `protocol version ${version} is not ${PROTOCOL_VERSION}`);
        }
        return {
          type: 'welcome',
          version,
          streamId: id(m, 'streamId'),
          peerId: id(m, 'peerId'),
          pieceSize: int(m, 'pieceSize', MIN_PIECE_SIZE, MAX_PIECE_SIZE),
          announceIntervalMs: int(m, 'announceIntervalMs', 100, 600_000),
          originTimeMs: int(m, 'originTimeMs', 0, MAX_COUNTER_VALUE),
          segments: arr(m, 'segments', MAX_WINDOW_SEGMENTS).map(readWindowSegment),
          peers: readPeers(m),
          fetchToken: str(m, 'fetchToken', FETCH_TOKEN_PATTERN, FETCH_TOKEN_CHARS),
          originKey: str(m, 'originKey', ORIGIN_KEY_PATTERN, 44),
        };
      });
    case 'peers':
      return guard(() => ({ type: 'peers', peers: readPeers(m) }));
    case 'error':
      return guard(() => ({
        type: 'error',
        code: str(m, 'code', /^[A-Z0-9_]{1,64}$/, 64),
        message: str(m, 'message', /^[\s\S]*$/, 1024),
      }));
    default:
      return fail('ERR_UNKNOWN_TYPE', `unknown message type ${JSON.stringify(String(m.type).slice(0, 32))}`);
  }
}

/** First byte of a binary frame from the tracker. */
const KIND = { seed: 1, segment: 2, part: 3 } as const;
const KIND_NAME: Record<number, TrackerToPeer['type']> = { [KIND.seed]: 'seed', [KIND.segment]: 'segment', [KIND.part]: 'segment-part' };

/** A seed frame: u8 kind · u32 seq · u16 piece index · the piece's bytes. */
const SEED_HEADER_BYTES = 7;
const HASH_BYTES = 32;
/** A segment record without its piece hashes: seq, durationMs, size, publishedAtMs, flags, sha256, piece count. */
const SEGMENT_RECORD_FIXED_BYTES = 4 + 2 + 4 + 6 + 1 + HASH_BYTES + 2;
const MAX_SEGMENT_RECORD_BYTES = SEGMENT_RECORD_FIXED_BYTES + HASH_BYTES * MAX_PIECES_PER_SEGMENT;
/** A segment record followed by the origin's signature of it: what a segment frame and a welcome's window carry. */
const MAX_SIGNED_RECORD_BYTES = MAX_SEGMENT_RECORD_BYTES + SIGNATURE_BYTES;
/** Largest binary frame the tracker sends: a seed frame of the largest piece (a segment frame is far smaller). */
const MAX_BINARY_FRAME_BYTES = SEED_HEADER_BYTES + MAX_PIECE_SIZE;
/** A partial record without its piece hashes: seq, openedAtMs, flags, first piece index, hash count. */
const PARTIAL_RECORD_FIXED_BYTES = 4 + 6 + 1 + 2 + 2;
const MAX_SIGNED_PARTIAL_BYTES = PARTIAL_RECORD_FIXED_BYTES + HASH_BYTES * MAX_PIECES_PER_SEGMENT + SIGNATURE_BYTES;
const FLAG_DISCONTINUITY = 0x01;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const MAX_RECORD_BASE64_CHARS = Math.ceil((MAX_SIGNED_RECORD_BYTES * 4) / 3);

const asBuffer = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
const base64url = (b: Uint8Array) => asBuffer(b).toString('base64url');

function segmentRecordBytes(s: SegmentAnnouncement): number {
  return SEGMENT_RECORD_FIXED_BYTES + HASH_BYTES * s.pieceHashes.length;
}

/** The encoder trusts its input: the origin made it. Hashes go raw, which is most of what the record saves over JSON. */
function writeSegmentRecord(w: Writer, s: SegmentAnnouncement): void {
  w.u32(s.seq)
    .u16(s.durationMs)
    .u32(s.size)
    .u48(s.publishedAtMs)
    .u8(s.discontinuity ? FLAG_DISCONTINUITY : 0)
    .bytes(Buffer.from(s.sha256, 'hex'))
    .u16(s.pieceHashes.length);
  for (const h of s.pieceHashes) w.bytes(Buffer.from(h, 'base64url'));
}

/** The segment record of `s`: the bytes the origin signs (shared/announcement-signature.ts). */
export function encodeSegmentRecord(s: SegmentAnnouncement): Uint8Array {
  const w = new Writer(segmentRecordBytes(s));
  writeSegmentRecord(w, s);
  return w.done();
}

/** The partial record of `p`: the bytes the origin signs under the partial domain. Trusts its input, like the segment record's. */
export function encodePartialRecord(p: PartialAnnouncement): Uint8Array {
  const w = new Writer(PARTIAL_RECORD_FIXED_BYTES + HASH_BYTES * p.pieceHashes.length);
  w.u32(p.seq)
    .u48(p.openedAtMs)
    .u8(p.discontinuity ? FLAG_DISCONTINUITY : 0)
    .u16(p.first)
    .u16(p.pieceHashes.length);
  for (const h of p.pieceHashes) w.bytes(Buffer.from(h, 'base64url'));
  return w.done();
}

/** A signed announcement as one byte string, record then signature: how it travels in a welcome, or through a relay. */
export function signedRecord(a: SignedAnnouncement): Uint8Array {
  return new Writer(a.record.byteLength + a.signature.byteLength).bytes(a.record).bytes(a.signature).done();
}

/**
 * Reads a segment record and the signature after it. `record` is a view of
 * exactly the bytes read, so a verifier checks the signature against what was
 * sent, never against a re-encoding of what was understood.
 */
function readSignedRecord(r: Reader): SignedAnnouncement {
  const start = r.offset;
  const segment = readSegmentRecord(r);
  const record = r.since(start);
  const signature = r.bytes(SIGNATURE_BYTES);
  return { segment, record, signature };
}

function ranged(v: number, min: number, max: number, name: string): number {
  if (v < min || v > max) throw new FieldError(`${name} ${v} out of [${min}, ${max}]`);
  return v;
}

function readSegmentRecord(r: Reader): SegmentAnnouncement {
  const seq = r.u32();
  const durationMs = ranged(r.u16(), 1, MAX_SEGMENT_DURATION_MS, 'durationMs');
  const size = ranged(r.u32(), 1, MAX_SEGMENT_BYTES, 'size');
  // Any u48 is a valid time: epoch milliseconds until the year 10889.
  const publishedAtMs = r.u48();
  const flags = r.u8();
  if ((flags & ~FLAG_DISCONTINUITY) !== 0) throw new FieldError(`unknown segment flags ${flags}`);
  const sha256 = asBuffer(r.bytes(HASH_BYTES)).toString('hex');
  const count = ranged(r.u16(), 1, MAX_PIECES_PER_SEGMENT, 'piece count');
  r.need(count * HASH_BYTES);
  const pieceHashes: string[] = [];
  for (let i = 0; i < count; i++) pieceHashes.push(base64url(r.bytes(HASH_BYTES)));
  return { seq, durationMs, size, sha256, pieceHashes, publishedAtMs, discontinuity: flags === FLAG_DISCONTINUITY };
}

/** A partial record and the signature after it; `record` is a view of exactly the bytes read, as in readSignedRecord. */
function readSignedPartial(r: Reader): SignedPartial {
  const start = r.offset;
  const seq = r.u32();
  const openedAtMs = r.u48();
  const flags = r.u8();
  if ((flags & ~FLAG_DISCONTINUITY) !== 0) throw new FieldError(`unknown segment flags ${flags}`);
  const first = ranged(r.u16(), 0, MAX_PIECES_PER_SEGMENT - 1, 'first piece');
  const count = ranged(r.u16(), 1, MAX_PIECES_PER_SEGMENT - first, 'hash count');
  r.need(count * HASH_BYTES);
  const pieceHashes: string[] = [];
  for (let i = 0; i < count; i++) pieceHashes.push(base64url(r.bytes(HASH_BYTES)));
  const record = r.since(start);
  const signature = r.bytes(SIGNATURE_BYTES);
  return { partial: { seq, first, pieceHashes, openedAtMs, discontinuity: flags === FLAG_DISCONTINUITY }, record, signature };
}

/** One segment of a welcome's window: a signed segment record in unpadded base64url, of exactly one spelling. */
function readWindowSegment(v: unknown): SignedAnnouncement {
  if (typeof v !== 'string' || v.length > MAX_RECORD_BASE64_CHARS || !BASE64URL.test(v)) {
    throw new FieldError('segments must be base64url signed segment records');
  }
  const decoded = Buffer.from(v, 'base64url');
  // Node ignores stray trailing bits and a dangling last character; a second spelling of the same record is refused.
  if (decoded.toString('base64url') !== v) throw new FieldError('segment record is not canonical base64url');
  // Plain bytes, as a binary frame's record is: a signed announcement is the same value whichever way it came.
  const r = new Reader(new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength));
  let s: SignedAnnouncement;
  try {
    s = readSignedRecord(r);
  } catch (e) {
    if (e instanceof Truncated) throw new FieldError('segment record truncated');
    throw e;
  }
  if (r.remaining !== 0) throw new FieldError(`${r.remaining} bytes after a segment record`);
  return s;
}

function decodeBinary(frame: Uint8Array): Decoded<TrackerToPeer> {
  if (frame.byteLength > MAX_BINARY_FRAME_BYTES) return fail('ERR_TOO_LARGE', `binary frame of ${frame.byteLength} bytes exceeds ${MAX_BINARY_FRAME_BYTES}`);
  if (frame.byteLength === 0) return fail('ERR_MALFORMED', 'empty binary frame');
  const r = new Reader(frame);
  const kind = r.u8();
  try {
    let msg: TrackerToPeer;
    if (kind === KIND.seed) {
      const seq = r.u32();
      const piece = ranged(r.u16(), 0, MAX_PIECES_PER_SEGMENT - 1, 'piece index');
      const data = r.rest();
      if (data.byteLength === 0) return fail('ERR_MALFORMED', 'seed frame without a piece');
      msg = { type: 'seed', seq, piece, data };
    } else if (kind === KIND.segment) {
      if (frame.byteLength > 1 + MAX_SIGNED_RECORD_BYTES) return fail('ERR_TOO_LARGE', `segment frame of ${frame.byteLength} bytes`);
      msg = { type: 'segment', announcement: readSignedRecord(r) };
    } else if (kind === KIND.part) {
      if (frame.byteLength > 1 + MAX_SIGNED_PARTIAL_BYTES) return fail('ERR_TOO_LARGE', `segment-part frame of ${frame.byteLength} bytes`);
      msg = { type: 'segment-part', announcement: readSignedPartial(r) };
    } else {
      return fail('ERR_UNKNOWN_TYPE', `unknown binary frame kind ${kind}`);
    }
    if (r.remaining !== 0) return fail('ERR_MALFORMED', `${r.remaining} trailing bytes after ${msg.type}`);
    return { ok: true, value: msg };
  } catch (e) {
    if (e instanceof Truncated) return fail('ERR_MALFORMED', `truncated ${KIND_NAME[kind]} frame`);
    if (e instanceof FieldError) return fail('ERR_BAD_FIELD', e.message);
    throw e;
  }
}
