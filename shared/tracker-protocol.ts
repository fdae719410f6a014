/**
 * Tracker protocol: peer node <-> origin over one WebSocket at /tracker.
 * Control messages are JSON text frames; seeded pieces are binary frames.
 * Documented message by message in docs/protocol.md.
 */
import { type Decoded, ProtocolError, fail } from './errors.ts';
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
import type { SegmentAnnouncement } from './segment.ts';
import {
  B64URL_SHA256,
  FieldError,
  HEX_SHA256,
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
    }
  | { type: 'announce'; stats: PeerStats }
  | { type: 'get-peers'; max: number }
  | { type: 'leave' };

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
      segments: SegmentAnnouncement[];
      peers: PeerAddress[];
    }
  | { type: 'segment'; segment: SegmentAnnouncement }
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

export function encodeTrackerMessage(msg: PeerToTracker | TrackerToPeer): string {
  return JSON.stringify(msg);
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
    case 'leave':
      return { ok: true, value: { type: 'leave' } };
    default:
      return fail('ERR_UNKNOWN_TYPE', `unknown message type ${JSON.stringify(String(m.type).slice(0, 32))}`);
  }
}

export function readSegmentAnnouncement(v: unknown): SegmentAnnouncement {
  const s = obj(v, 'segment');
  const size = int(s, 'size', 1, MAX_SEGMENT_BYTES);
  const hashes = arr(s, 'pieceHashes', MAX_PIECES_PER_SEGMENT);
  const pieceHashes = hashes.map((h) => {
    if (typeof h !== 'string' || !B64URL_SHA256.test(h)) throw new FieldError('pieceHashes must be base64url SHA-256');
    return h;
  });
  if (pieceHashes.length === 0) throw new FieldError('pieceHashes must not be empty');
  return {
    seq: int(s, 'seq', 0, 2 ** 32 - 1),
    durationMs: int(s, 'durationMs', 1, MAX_SEGMENT_DURATION_MS),
    size,
    sha256: str(s, 'sha256', HEX_SHA256, 64),
    pieceHashes,
    publishedAtMs: int(s, 'publishedAtMs', 0, MAX_COUNTER_VALUE),
    discontinuity: bool(s, 'discontinuity'),
  };
}

function readPeers(m: Obj): PeerAddress[] {
  return arr(m, 'peers', MAX_PEERS_PER_LIST).map((p) => {
    const o = obj(p, 'peer');
    return { peerId: id(o, 'peerId'), url: wsUrl(o, 'url') };
  });
}

export function decodeTrackerToPeer(text: string): Decoded<TrackerToPeer> {
  const parsed = parseJson(text);
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
          segments: arr(m, 'segments', MAX_WINDOW_SEGMENTS).map(readSegmentAnnouncement),
          peers: readPeers(m),
        };
      });
    case 'segment':
      return guard(() => ({ type: 'segment', segment: readSegmentAnnouncement(m.segment) }));
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

/**
 * Binary tracker frame: the origin seeding one piece into the swarm.
 * Layout: u8 kind (1) | u32 seq | u16 piece index | piece bytes.
 */
export interface SeedPiece {
  seq: number;
  piece: number;
  data: Uint8Array;
}

const SEED_PIECE_KIND = 1;
const SEED_HEADER_BYTES = 7;

export function encodeSeedPiece(p: SeedPiece): Uint8Array {
  const out = new Uint8Array(SEED_HEADER_BYTES + p.data.byteLength);
  const view = new DataView(out.buffer);
  view.setUint8(0, SEED_PIECE_KIND);
  view.setUint32(1, p.seq);
  view.setUint16(5, p.piece);
  out.set(p.data, SEED_HEADER_BYTES);
  return out;
}

export function decodeSeedPiece(frame: Uint8Array): Decoded<SeedPiece> {
  if (frame.byteLength > MAX_PIECE_SIZE + SEED_HEADER_BYTES) return fail('ERR_TOO_LARGE', 'seed frame too large');
  if (frame.byteLength <= SEED_HEADER_BYTES) return fail('ERR_MALFORMED', 'seed frame too short');
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (view.getUint8(0) !== SEED_PIECE_KIND) return fail('ERR_UNKNOWN_TYPE', 'unknown binary frame kind');
  const piece = view.getUint16(5);
  if (piece >= MAX_PIECES_PER_SEGMENT) return fail('ERR_BAD_FIELD', 'piece index out of range');
  return { ok: true, value: { seq: view.getUint32(1), piece, data: frame.subarray(SEED_HEADER_BYTES) } };
}
