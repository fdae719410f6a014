/**
 * Peer wire protocol: peer node <-> peer node, one binary WebSocket frame per
 * message. The first byte is the opcode; integers are big-endian. Opcodes and
 * layout live only here; docs/protocol.md describes them message by message.
 */
import { Reader, Truncated, Writer } from './bytes.ts';
import { type Decoded, assertNever, fail } from './errors.ts';
import { MAX_HAVE_ENTRIES, MAX_ID_LENGTH, MAX_PIECE_SIZE, MAX_PIECES_PER_SEGMENT, MAX_WINDOW_SEGMENTS } from './limits.ts';
import { ID_PATTERN } from './validate.ts';

export interface SegmentBits {
  seq: number;
  pieceCount: number;
  /** Bitset, piece i at bit (7 - i % 8) of byte i / 8. */
  bits: Uint8Array;
}

export interface PieceRef {
  seq: number;
  piece: number;
}

export type WireMessage =
  | { type: 'handshake'; version: number; streamId: string; peerId: string }
  | { type: 'bitfield'; segments: SegmentBits[] }
  | { type: 'have'; pieces: PieceRef[] }
  | { type: 'interested' }
  | { type: 'not-interested' }
  | { type: 'choke' }
  | { type: 'unchoke' }
  | { type: 'request'; seq: number; piece: number }
  | { type: 'cancel'; seq: number; piece: number }
  | { type: 'reject'; seq: number; piece: number }
  | { type: 'piece'; seq: number; piece: number; data: Uint8Array }
  | { type: 'keep-alive' }
  /** Whether the sender wants fresh pieces pushed to it unasked (peer-node/policy/push-welcome.ts); a connection starts with pushes on. */
  | { type: 'pushes-on' }
  | { type: 'pushes-off' };

const OP = {
  handshake: 0,
  bitfield: 1,
  have: 2,
  interested: 3,
  'not-interested': 4,
  choke: 5,
  unchoke: 6,
  request: 7,
  cancel: 8,
  reject: 9,
  piece: 10,
  'keep-alive': 11,
  'pushes-on': 12,
  'pushes-off': 13,
} as const;

const OP_NAMES = Object.fromEntries(Object.entries(OP).map(([k, v]) => [v, k])) as Record<number, WireMessage['type']>;

/** Bytes of a `piece` message that are not segment payload (counted as control overhead). */
export const PIECE_HEADER_BYTES = 7;

/** A `have` run: u32 seq, u16 first piece, u8 count. */
const HAVE_RUN_BYTES = 7;
const MAX_HAVE_RUN = 255;

interface HaveRun {
  seq: number;
  first: number;
  count: number;
}

/**
 * A batch of haves as runs of consecutive pieces of one segment, segments in
 * first-seen order, each one's pieces ascending: a batch names mostly the
 * newest pieces of one or two segments, often in a row, and a neighbour we
 * choke hears a whole segment's in one run (peer-node/have-batcher.ts).
 */
function haveRuns(pieces: readonly PieceRef[]): HaveRun[] {
  const bySeq = new Map<number, number[]>();
  for (const p of pieces) {
    const g = bySeq.get(p.seq);
    if (g) g.push(p.piece);
    else bySeq.set(p.seq, [p.piece]);
  }
  const runs: HaveRun[] = [];
  for (const [seq, list] of bySeq) {
    list.sort((a, b) => a - b);
    let run: HaveRun | null = null;
    for (const piece of list) {
      if (run && piece < run.first + run.count) continue;
      if (run && piece === run.first + run.count && run.count < MAX_HAVE_RUN) run.count++;
      else runs.push((run = { seq, first: piece, count: 1 }));
    }
  }
  return runs;
}

const utf8 = new TextEncoder();
// ignoreBOM: a leading byte-order mark stays in the string and fails the id pattern, so one id has one byte form.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function bitsetBytes(pieceCount: number): number {
  return Math.ceil(pieceCount / 8);
}

export function encodeWire(msg: WireMessage): Uint8Array {
  switch (msg.type) {
    case 'handshake': {
      const s = utf8.encode(msg.streamId);
      const p = utf8.encode(msg.peerId);
      return new Writer(5 + s.byteLength + p.byteLength)
        .u8(OP.handshake)
        .u16(msg.version)
        .u8(s.byteLength)
        .bytes(s)
        .u8(p.byteLength)
        .bytes(p)
        .done();
    }
    case 'bitfield': {
      let size = 3;
      for (const seg of msg.segments) size += 6 + bitsetBytes(seg.pieceCount);
      const w = new Writer(size).u8(OP.bitfield).u16(msg.segments.length);
      for (const seg of msg.segments) {
        const bits = new Uint8Array(bitsetBytes(seg.pieceCount));
        bits.set(seg.bits.subarray(0, bits.byteLength));
        w.u32(seg.seq).u16(seg.pieceCount).bytes(bits);
      }
      return w.done();
    }
    case 'have': {
      const runs = haveRuns(msg.pieces);
      const w = new Writer(1 + HAVE_RUN_BYTES * runs.length).u8(OP.have);
      for (const r of runs) w.u32(r.seq).u16(r.first).u8(r.count);
      return w.done();
    }
    case 'interested':
    case 'not-interested':
    case 'choke':
    case 'unchoke':
    case 'keep-alive':
    case 'pushes-on':
    case 'pushes-off':
      return new Writer(1).u8(OP[msg.type]).done();
    case 'request':
    case 'cancel':
    case 'reject':
      return new Writer(7).u8(OP[msg.type]).u32(msg.seq).u16(msg.piece).done();
    case 'piece':
      return new Writer(PIECE_HEADER_BYTES + msg.data.byteLength)
        .u8(OP.piece)
        .u32(msg.seq)
        .u16(msg.piece)
        .bytes(msg.data)
        .done();
    default:
      return assertNever(msg);
  }
}

function readId(r: Reader, what: string): string {
  const len = r.u8();
  if (len === 0 || len > MAX_ID_LENGTH) throw new RangeError(`${what} length ${len} out of range`);
  const s = utf8Decoder.decode(r.bytes(len));
  if (!ID_PATTERN.test(s)) throw new RangeError(`${what} has characters outside [A-Za-z0-9_-]`);
  return s;
}

function readPieceIndex(r: Reader): number {
  const piece = r.u16();
  if (piece >= MAX_PIECES_PER_SEGMENT) throw new RangeError(`piece index ${piece} out of range`);
  return piece;
}

function decodeBody(op: number, r: Reader): WireMessage {
  const type = OP_NAMES[op];
  switch (type) {
    case 'handshake': {
      const version = r.u16();
      return { type, version, streamId: readId(r, 'streamId'), peerId: readId(r, 'peerId') };
    }
    case 'bitfield': {
      const count = r.u16();
      if (count > MAX_WINDOW_SEGMENTS) throw new RangeError(`bitfield of ${count} segments exceeds ${MAX_WINDOW_SEGMENTS}`);
      const segments: SegmentBits[] = [];
      for (let i = 0; i < count; i++) {
        const seq = r.u32();
        const pieceCount = r.u16();
        if (pieceCount === 0 || pieceCount > MAX_PIECES_PER_SEGMENT) throw new RangeError(`piece count ${pieceCount} out of range`);
        segments.push({ seq, pieceCount, bits: r.bytes(bitsetBytes(pieceCount)) });
      }
      return { type, segments };
    }
    case 'have': {
      const pieces: PieceRef[] = [];
      while (r.remaining > 0) {
        const seq = r.u32();
        const first = readPieceIndex(r);
        const count = r.u8();
        if (count === 0) throw new RangeError('have run of no pieces');
        if (first + count > MAX_PIECES_PER_SEGMENT) throw new RangeError(`have run ${first}+${count} past piece ${MAX_PIECES_PER_SEGMENT - 1}`);
        if (pieces.length + count > MAX_HAVE_ENTRIES) throw new RangeError(`have batch exceeds ${MAX_HAVE_ENTRIES} entries`);
        for (let i = first; i < first + count; i++) pieces.push({ seq, piece: i });
      }
      return { type, pieces };
    }
    case 'interested':
    case 'not-interested':
    case 'choke':
    case 'unchoke':
    case 'keep-alive':
    case 'pushes-on':
    case 'pushes-off':
      return { type };
    case 'request':
    case 'cancel':
    case 'reject':
      return { type, seq: r.u32(), piece: readPieceIndex(r) };
    case 'piece': {
      const seq = r.u32();
      const piece = readPieceIndex(r);
      const data = r.rest();
      if (data.byteLength === 0 || data.byteLength > MAX_PIECE_SIZE) throw new RangeError(`piece of ${data.byteLength} bytes out of range`);
      return { type, seq, piece, data };
    }
    case undefined:
      throw new TypeError(`unknown opcode ${op}`);
    default:
      return assertNever(type);
  }
}

/** Decodes one frame. Never throws: bad input becomes a typed error the caller closes the link with. */
export function decodeWire(frame: Uint8Array): Decoded<WireMessage> {
  if (frame.byteLength === 0) return fail('ERR_MALFORMED', 'empty frame');
  if (frame.byteLength > MAX_PIECE_SIZE + PIECE_HEADER_BYTES) {
    return fail('ERR_TOO_LARGE', `frame of ${frame.byteLength} bytes exceeds the limit`);
  }
  const r = new Reader(frame);
  const op = r.u8();
  try {
    const msg = decodeBody(op, r);
    if (r.remaining !== 0) return fail('ERR_MALFORMED', `${r.remaining} trailing bytes after ${msg.type}`);
    return { ok: true, value: msg };
  } catch (e) {
    if (e instanceof Truncated) return fail('ERR_MALFORMED', `truncated ${OP_NAMES[op] ?? 'frame'}`);
    if (e instanceof TypeError && !OP_NAMES[op]) return fail('ERR_UNKNOWN_TYPE', `unknown opcode ${op}`);
    if (e instanceof RangeError || e instanceof TypeError) return fail('ERR_BAD_FIELD', e.message);
    throw e;
  }
}

export function hasBit(bits: Uint8Array, i: number): boolean {
  const byte = bits[i >> 3];
  return byte !== undefined && (byte & (0x80 >> (i & 7))) !== 0;
}

export function setBit(bits: Uint8Array, i: number): void {
  const idx = i >> 3;
  bits[idx] = (bits[idx] ?? 0) | (0x80 >> (i & 7));
}
