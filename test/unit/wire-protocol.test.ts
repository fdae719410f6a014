import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ProtocolErrorCode } from '../../shared/errors.ts';
import {
  MAX_HAVE_ENTRIES,
  MAX_PIECE_SIZE,
  MAX_PIECES_PER_SEGMENT,
  MAX_WINDOW_SEGMENTS,
  PROTOCOL_VERSION,
} from '../../shared/limits.ts';
import { seededRng } from '../../shared/rng.ts';
import {
  PIECE_HEADER_BYTES,
  type WireMessage,
  bitsetBytes,
  decodeWire,
  encodeWire,
  hasBit,
  setBit,
} from '../../shared/wire-protocol.ts';

// Frame building blocks, big-endian as on the wire.
const u16 = (v: number): number[] => [(v >>> 8) & 0xff, v & 0xff];
const u32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));
const frame = (...parts: (number | number[])[]): Uint8Array => new Uint8Array(parts.flat());
/** An id on the wire: u8 length, then the bytes. */
const idBytes = (b: number[]): number[] => [b.length, ...b];

/** Deterministic filler bytes, so large payloads are not all zero. */
function filler(n: number, seed = 1): Uint8Array {
  const rng = seededRng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rng() * 256);
  return out;
}

const OP = { handshake: 0, bitfield: 1, have: 2, request: 7, cancel: 8, reject: 9, piece: 10, keepAlive: 11 };
const MAX_FRAME = MAX_PIECE_SIZE + PIECE_HEADER_BYTES;

describe('wire protocol: round trip of every message', () => {
  const id64 = 'A-_z09'.repeat(11).slice(0, 64);
  const bits1024 = filler(bitsetBytes(1024), 7);
  const full = Array.from({ length: MAX_WINDOW_SEGMENTS }, (_, i) => ({ seq: 1000 + i, pieceCount: 3, bits: new Uint8Array([0b1010_0000]) }));
  const manyHaves = Array.from({ length: MAX_HAVE_ENTRIES }, (_, i) => ({ seq: 10 + Math.floor(i / MAX_PIECES_PER_SEGMENT), piece: i % MAX_PIECES_PER_SEGMENT }));

  const rows: { name: string; msg: WireMessage; bytes?: number }[] = [
    { name: 'handshake', msg: { type: 'handshake', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'peer-1' }, bytes: 5 + 4 + 6 },
    { name: 'handshake, 1-char and 64-char ids', msg: { type: 'handshake', version: 1, streamId: 'x', peerId: id64 }, bytes: 5 + 1 + 64 },
    { name: 'handshake, version 0 and 65535 are carried (the swarm checks them)', msg: { type: 'handshake', version: 65535, streamId: 's', peerId: 'p' } },
    { name: 'handshake, version 0', msg: { type: 'handshake', version: 0, streamId: 's', peerId: 'p' } },
    { name: 'bitfield, no segments', msg: { type: 'bitfield', segments: [] }, bytes: 3 },
    {
      name: 'bitfield, odd piece counts',
      msg: {
        type: 'bitfield',
        segments: [
          { seq: 0, pieceCount: 1, bits: new Uint8Array([0x80]) },
          { seq: 1, pieceCount: 9, bits: new Uint8Array([0xff, 0x80]) },
          { seq: 0xffff_ffff, pieceCount: 8, bits: new Uint8Array([0x5a]) },
        ],
      },
      bytes: 3 + (6 + 1) + (6 + 2) + (6 + 1),
    },
    { name: 'bitfield, MAX_PIECES_PER_SEGMENT pieces', msg: { type: 'bitfield', segments: [{ seq: 42, pieceCount: 1024, bits: bits1024 }] } },
    { name: 'bitfield, MAX_WINDOW_SEGMENTS segments', msg: { type: 'bitfield', segments: full } },
    { name: 'have, empty batch', msg: { type: 'have', pieces: [] }, bytes: 1 },
    {
      name: 'have, grouped by segment, a run per piece apart',
      msg: { type: 'have', pieces: [{ seq: 5, piece: 0 }, { seq: 5, piece: 1023 }, { seq: 0xffff_ffff, piece: 2 }] },
      bytes: 1 + 3 * 7,
    },
    {
      name: 'have, pieces in a row are one run',
      msg: { type: 'have', pieces: Array.from({ length: 12 }, (_, i) => ({ seq: 7, piece: 3 + i })) },
      bytes: 1 + 7,
    },
    { name: 'have, MAX_HAVE_ENTRIES entries', msg: { type: 'have', pieces: manyHaves } },
    { name: 'interested', msg: { type: 'interested' }, bytes: 1 },
    { name: 'not-interested', msg: { type: 'not-interested' }, bytes: 1 },
    { name: 'choke', msg: { type: 'choke' }, bytes: 1 },
    { name: 'unchoke', msg: { type: 'unchoke' }, bytes: 1 },
    { name: 'keep-alive', msg: { type: 'keep-alive' }, bytes: 1 },
    { name: 'pushes-on', msg: { type: 'pushes-on' }, bytes: 1 },
    { name: 'pushes-off', msg: { type: 'pushes-off' }, bytes: 1 },
    { name: 'request', msg: { type: 'request', seq: 7, piece: 3 }, bytes: 7 },
    { name: 'request, extreme seq and last piece', msg: { type: 'request', seq: 0xffff_ffff, piece: MAX_PIECES_PER_SEGMENT - 1 } },
    { name: 'cancel', msg: { type: 'cancel', seq: 0, piece: 0 }, bytes: 7 },
    { name: 'reject', msg: { type: 'reject', seq: 123456, piece: 999 }, bytes: 7 },
    { name: 'piece, 1 byte', msg: { type: 'piece', seq: 9, piece: 1, data: new Uint8Array([0xab]) }, bytes: PIECE_HEADER_BYTES + 1 },
    { name: 'piece, 16 KiB', msg: { type: 'piece', seq: 9, piece: 2, data: filler(16 * 1024) }, bytes: PIECE_HEADER_BYTES + 16 * 1024 },
    { name: 'piece, MAX_PIECE_SIZE (the largest frame)', msg: { type: 'piece', seq: 1, piece: 1023, data: filler(MAX_PIECE_SIZE, 3) }, bytes: MAX_FRAME },
  ];

  for (const row of rows) {
    test(row.name, () => {
      const encoded = encodeWire(row.msg);
      if (row.bytes !== undefined) assert.equal(encoded.byteLength, row.bytes);
      const decoded = decodeWire(encoded);
      assert.ok(decoded.ok, decoded.ok ? '' : `${decoded.error.code}: ${decoded.error.message}`);
      assert.deepEqual(decoded.value, row.msg);
      // Canonical: encoding the decoded value gives the same bytes.
      assert.deepEqual(encodeWire(decoded.value), encoded);
    });
  }

  test('every opcode 0..13 is covered by the table', () => {
    const ops = new Set(rows.map((r) => encodeWire(r.msg)[0]));
    assert.deepEqual([...ops].sort((a, b) => (a ?? 0) - (b ?? 0)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
  });
});

describe('wire protocol: byte layout matches docs/protocol.md', () => {
  const rows: { name: string; msg: WireMessage; bytes: number[] }[] = [
    { name: 'handshake', msg: { type: 'handshake', version: 1, streamId: 'ab', peerId: 'c' }, bytes: [0, ...u16(1), 2, ...ascii('ab'), 1, ...ascii('c')] },
    {
      name: 'bitfield',
      msg: { type: 'bitfield', segments: [{ seq: 0x01020304, pieceCount: 10, bits: new Uint8Array([0x80, 0x40]) }] },
      bytes: [1, ...u16(1), ...u32(0x01020304), ...u16(10), 0x80, 0x40],
    },
    {
      name: 'have, runs of each segment in first-seen order',
      msg: { type: 'have', pieces: [{ seq: 3, piece: 1 }, { seq: 4, piece: 2 }, { seq: 3, piece: 2 }, { seq: 3, piece: 0x3ff }] },
      bytes: [2, ...u32(3), ...u16(1), 2, ...u32(3), ...u16(0x3ff), 1, ...u32(4), ...u16(2), 1],
    },
    { name: 'interested', msg: { type: 'interested' }, bytes: [3] },
    { name: 'not-interested', msg: { type: 'not-interested' }, bytes: [4] },
    { name: 'choke', msg: { type: 'choke' }, bytes: [5] },
    { name: 'unchoke', msg: { type: 'unchoke' }, bytes: [6] },
    { name: 'request', msg: { type: 'request', seq: 0xdeadbeef, piece: 0x102 }, bytes: [7, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02] },
    { name: 'cancel', msg: { type: 'cancel', seq: 1, piece: 2 }, bytes: [8, ...u32(1), ...u16(2)] },
    { name: 'reject', msg: { type: 'reject', seq: 1, piece: 2 }, bytes: [9, ...u32(1), ...u16(2)] },
    { name: 'piece', msg: { type: 'piece', seq: 1, piece: 2, data: new Uint8Array([9, 8, 7]) }, bytes: [10, ...u32(1), ...u16(2), 9, 8, 7] },
    { name: 'keep-alive', msg: { type: 'keep-alive' }, bytes: [11] },
    { name: 'pushes-on', msg: { type: 'pushes-on' }, bytes: [12] },
    { name: 'pushes-off', msg: { type: 'pushes-off' }, bytes: [13] },
  ];
  for (const row of rows) {
    test(row.name, () => assert.deepEqual(encodeWire(row.msg), new Uint8Array(row.bytes)));
  }

  test('bitfield encoding pads short bitsets with zeros and cuts long ones to ceil(pieceCount / 8)', () => {
    const short = encodeWire({ type: 'bitfield', segments: [{ seq: 1, pieceCount: 20, bits: new Uint8Array([0xff]) }] });
    assert.deepEqual(short, frame(1, u16(1), u32(1), u16(20), [0xff, 0, 0]));
    const long = encodeWire({ type: 'bitfield', segments: [{ seq: 1, pieceCount: 3, bits: new Uint8Array([0xe0, 0xff, 0xff]) }] });
    assert.deepEqual(long, frame(1, u16(1), u32(1), u16(3), [0xe0]));
  });
});

describe('wire protocol: decoding', () => {
  test('decodes a frame that is a view at an offset inside a larger buffer (pooled Buffer)', () => {
    const enc = encodeWire({ type: 'piece', seq: 77, piece: 5, data: new Uint8Array([1, 2, 3, 4]) });
    const big = new Uint8Array(enc.byteLength + 20).fill(0xee);
    big.set(enc, 13);
    const decoded = decodeWire(big.subarray(13, 13 + enc.byteLength));
    assert.ok(decoded.ok);
    assert.deepEqual(decoded.value, { type: 'piece', seq: 77, piece: 5, data: new Uint8Array([1, 2, 3, 4]) });
    const fromBuffer = decodeWire(Buffer.from(enc));
    assert.ok(fromBuffer.ok);
    assert.equal(fromBuffer.value.type, 'piece');
  });

  test('piece data and bitfield bits are views of the frame, not copies', () => {
    const enc = encodeWire({ type: 'piece', seq: 1, piece: 0, data: new Uint8Array([5, 6]) });
    const decoded = decodeWire(enc);
    assert.ok(decoded.ok && decoded.value.type === 'piece');
    assert.equal(decoded.value.data.buffer, enc.buffer);
    assert.equal(decoded.value.data.byteOffset, enc.byteOffset + PIECE_HEADER_BYTES);
  });

  test('spare bits after pieceCount in the last bitset byte are kept as sent', () => {
    const decoded = decodeWire(frame(OP.bitfield, u16(1), u32(4), u16(3), [0xff]));
    assert.ok(decoded.ok && decoded.value.type === 'bitfield');
    assert.deepEqual(decoded.value.segments, [{ seq: 4, pieceCount: 3, bits: new Uint8Array([0xff]) }]);
  });

  test('a have batch naming one segment in two places decodes every entry (re-encoding groups them)', () => {
    const decoded = decodeWire(frame(OP.have, u32(1), u16(5), 1, u32(2), u16(6), 1, u32(1), u16(7), 1));
    assert.ok(decoded.ok);
    const pieces = [{ seq: 1, piece: 5 }, { seq: 2, piece: 6 }, { seq: 1, piece: 7 }];
    assert.deepEqual(decoded.value, { type: 'have', pieces });
    // encodeWire groups by segment, so the order of entries across segments is not preserved.
    const again = decodeWire(encodeWire(decoded.value));
    assert.ok(again.ok && again.value.type === 'have');
    assert.deepEqual(again.value.pieces, [{ seq: 1, piece: 5 }, { seq: 1, piece: 7 }, { seq: 2, piece: 6 }]);
  });

  test('overlapping runs and a piece named twice decode as sent, and re-encode as one run', () => {
    const decoded = decodeWire(frame(OP.have, u32(1), u16(0), 3, u32(1), u16(2), 2));
    assert.ok(decoded.ok && decoded.value.type === 'have');
    assert.deepEqual(decoded.value.pieces.map((p) => p.piece), [0, 1, 2, 2, 3]);
    assert.deepEqual(encodeWire(decoded.value), Uint8Array.from([OP.have, ...u32(1), ...u16(0), 4]));
  });
});

describe('wire protocol: malformed frames give typed errors', () => {
  const handshakeHead = [OP.handshake, ...u16(1)];
  const okId = idBytes(ascii('peer'));
  // n pieces as runs of 255 (the longest), a segment's 1024 pieces then the next segment's.
  const haveOf = (n: number) => {
    const runs: number[] = [];
    for (let i = 0; i < n; ) {
      const seq = 1 + Math.floor(i / 1024);
      const first = i % 1024;
      const count = Math.min(255, n - i, 1024 - first);
      runs.push(...u32(seq), ...u16(first), count);
      i += count;
    }
    return frame(OP.have, runs);
  };

  const rows: { name: string; frame: Uint8Array; code: ProtocolErrorCode }[] = [
    // Framing
    { name: 'empty frame', frame: frame(), code: 'ERR_MALFORMED' },
    { name: 'unknown opcode 14', frame: frame(14), code: 'ERR_UNKNOWN_TYPE' },
    { name: 'unknown opcode 255 with payload', frame: frame(255, 1, 2, 3), code: 'ERR_UNKNOWN_TYPE' },
    { name: 'oversized frame (one byte over a max piece)', frame: new Uint8Array(MAX_FRAME + 1).fill(OP.piece, 0, 1), code: 'ERR_TOO_LARGE' },
    { name: 'oversized frame with an unknown opcode: size is checked first', frame: new Uint8Array(MAX_FRAME + 1).fill(200), code: 'ERR_TOO_LARGE' },
    { name: 'oversized keep-alive-looking frame', frame: new Uint8Array(2 * MAX_FRAME).fill(OP.keepAlive, 0, 1), code: 'ERR_TOO_LARGE' },

    // Truncation
    { name: 'handshake: opcode only', frame: frame(OP.handshake), code: 'ERR_MALFORMED' },
    { name: 'handshake: half a version', frame: frame(OP.handshake, 0), code: 'ERR_MALFORMED' },
    { name: 'handshake: no streamId length', frame: frame(handshakeHead), code: 'ERR_MALFORMED' },
    { name: 'handshake: streamId shorter than its length', frame: frame(handshakeHead, 5, ascii('abc')), code: 'ERR_MALFORMED' },
    { name: 'handshake: no peerId', frame: frame(handshakeHead, okId), code: 'ERR_MALFORMED' },
    { name: 'handshake: peerId shorter than its length', frame: frame(handshakeHead, okId, 3, ascii('pe')), code: 'ERR_MALFORMED' },
    { name: 'request: one byte short', frame: frame(OP.request, u32(1), 0), code: 'ERR_MALFORMED' },
    { name: 'request: opcode only', frame: frame(OP.request), code: 'ERR_MALFORMED' },
    { name: 'cancel: seq only', frame: frame(OP.cancel, u32(1)), code: 'ERR_MALFORMED' },
    { name: 'reject: half a seq', frame: frame(OP.reject, 0, 0), code: 'ERR_MALFORMED' },
    { name: 'piece: header one byte short', frame: frame(OP.piece, u32(1), 0), code: 'ERR_MALFORMED' },
    { name: 'bitfield: no count', frame: frame(OP.bitfield, 0), code: 'ERR_MALFORMED' },
    { name: 'bitfield: count 1, no segment', frame: frame(OP.bitfield, u16(1)), code: 'ERR_MALFORMED' },
    { name: 'bitfield: segment without pieceCount', frame: frame(OP.bitfield, u16(1), u32(1)), code: 'ERR_MALFORMED' },
    { name: 'bitfield: bitset one byte short', frame: frame(OP.bitfield, u16(1), u32(1), u16(9), 0xff), code: 'ERR_MALFORMED' },
    { name: 'bitfield: count 2, one segment', frame: frame(OP.bitfield, u16(2), u32(1), u16(8), 0xff), code: 'ERR_MALFORMED' },
    { name: 'have: half a seq', frame: frame(OP.have, 0, 0), code: 'ERR_MALFORMED' },
    { name: 'have: seq, no first piece', frame: frame(OP.have, u32(9)), code: 'ERR_MALFORMED' },
    { name: 'have: run without its count', frame: frame(OP.have, u32(9), u16(0)), code: 'ERR_MALFORMED' },
    { name: 'have: second run cut short', frame: frame(OP.have, u32(9), u16(0), 1, u32(9), u16(1)), code: 'ERR_MALFORMED' },

    // Trailing bytes
    { name: 'interested + 1 byte', frame: frame(3, 0), code: 'ERR_MALFORMED' },
    { name: 'keep-alive + 1 byte', frame: frame(OP.keepAlive, 0), code: 'ERR_MALFORMED' },
    { name: 'choke + 4 bytes', frame: frame(5, u32(0)), code: 'ERR_MALFORMED' },
    { name: 'request + 1 byte', frame: frame(OP.request, u32(1), u16(2), 0), code: 'ERR_MALFORMED' },
    { name: 'cancel + 1 byte', frame: frame(OP.cancel, u32(1), u16(2), 0), code: 'ERR_MALFORMED' },
    { name: 'reject + 1 byte', frame: frame(OP.reject, u32(1), u16(2), 0), code: 'ERR_MALFORMED' },
    { name: 'handshake + 1 byte', frame: frame(handshakeHead, okId, okId, 0), code: 'ERR_MALFORMED' },
    { name: 'bitfield + 1 byte', frame: frame(OP.bitfield, u16(1), u32(1), u16(8), 0xff, 0), code: 'ERR_MALFORMED' },
    { name: 'empty bitfield + 1 byte', frame: frame(OP.bitfield, u16(0), 0), code: 'ERR_MALFORMED' },
    { name: 'have + 1 byte', frame: frame(OP.have, u32(9), u16(0), 1, 0), code: 'ERR_MALFORMED' },

    // Piece indices and payload sizes
    { name: 'request piece = MAX_PIECES_PER_SEGMENT', frame: frame(OP.request, u32(1), u16(MAX_PIECES_PER_SEGMENT)), code: 'ERR_BAD_FIELD' },
    { name: 'cancel piece = 0xFFFF', frame: frame(OP.cancel, u32(1), u16(0xffff)), code: 'ERR_BAD_FIELD' },
    { name: 'reject piece = 1024', frame: frame(OP.reject, u32(1), u16(1024)), code: 'ERR_BAD_FIELD' },
    { name: 'piece index = 1024', frame: frame(OP.piece, u32(1), u16(1024), 1), code: 'ERR_BAD_FIELD' },
    { name: 'have run from piece 1024', frame: frame(OP.have, u32(1), u16(3), 1, u32(1), u16(1024), 1), code: 'ERR_BAD_FIELD' },
    { name: 'have run past piece 1023', frame: frame(OP.have, u32(1), u16(1000), 25), code: 'ERR_BAD_FIELD' },
    { name: 'have run of no pieces', frame: frame(OP.have, u32(1), u16(3), 0), code: 'ERR_BAD_FIELD' },
    { name: 'empty piece (header only)', frame: frame(OP.piece, u32(1), u16(0)), code: 'ERR_BAD_FIELD' },

    // Counts
    { name: 'bitfield count = MAX_WINDOW_SEGMENTS + 1', frame: frame(OP.bitfield, u16(MAX_WINDOW_SEGMENTS + 1)), code: 'ERR_BAD_FIELD' },
    { name: 'bitfield count = 0xFFFF', frame: frame(OP.bitfield, u16(0xffff), u32(1), u16(8), 0), code: 'ERR_BAD_FIELD' },
    { name: 'bitfield pieceCount 0', frame: frame(OP.bitfield, u16(1), u32(1), u16(0)), code: 'ERR_BAD_FIELD' },
    { name: 'bitfield pieceCount 1025', frame: frame(OP.bitfield, u16(1), u32(1), u16(1025), new Array(129).fill(0)), code: 'ERR_BAD_FIELD' },
    { name: 'bitfield pieceCount 0xFFFF', frame: frame(OP.bitfield, u16(1), u32(1), u16(0xffff)), code: 'ERR_BAD_FIELD' },
    { name: 'have: runs of MAX_HAVE_ENTRIES + 1 pieces', frame: haveOf(MAX_HAVE_ENTRIES + 1), code: 'ERR_BAD_FIELD' },
    {
      name: 'have: one piece named over and over, past MAX_HAVE_ENTRIES',
      frame: frame(OP.have, Array.from({ length: 33 }, () => [...u32(1), ...u16(0), 255]).flat()),
      code: 'ERR_BAD_FIELD',
    },

    // Handshake ids
    { name: 'streamId length 0', frame: frame(handshakeHead, 0, okId), code: 'ERR_BAD_FIELD' },
    { name: 'peerId length 0', frame: frame(handshakeHead, okId, 0), code: 'ERR_BAD_FIELD' },
    { name: 'streamId length 65', frame: frame(handshakeHead, idBytes(new Array(65).fill(0x61)), okId), code: 'ERR_BAD_FIELD' },
    { name: 'peerId length 255', frame: frame(handshakeHead, okId, idBytes(new Array(255).fill(0x61))), code: 'ERR_BAD_FIELD' },
    { name: 'peerId with a space', frame: frame(handshakeHead, okId, idBytes(ascii('a b'))), code: 'ERR_BAD_FIELD' },
    { name: 'peerId with a dot', frame: frame(handshakeHead, okId, idBytes(ascii('a.b'))), code: 'ERR_BAD_FIELD' },
    { name: 'peerId with a slash', frame: frame(handshakeHead, okId, idBytes(ascii('../x'))), code: 'ERR_BAD_FIELD' },
    { name: 'streamId with a NUL', frame: frame(handshakeHead, idBytes([0x61, 0]), okId), code: 'ERR_BAD_FIELD' },
    { name: 'streamId with a newline', frame: frame(handshakeHead, idBytes([0x61, 0x0a]), okId), code: 'ERR_BAD_FIELD' },
    { name: 'peerId valid UTF-8 but not ASCII (é)', frame: frame(handshakeHead, okId, idBytes([0xc3, 0xa9])), code: 'ERR_BAD_FIELD' },
    { name: 'peerId invalid UTF-8 (0xFF)', frame: frame(handshakeHead, okId, idBytes([0xff])), code: 'ERR_BAD_FIELD' },
    { name: 'peerId lone continuation byte', frame: frame(handshakeHead, okId, idBytes([0x61, 0x80])), code: 'ERR_BAD_FIELD' },
    { name: 'peerId truncated 2-byte sequence', frame: frame(handshakeHead, okId, idBytes([0x61, 0xc3])), code: 'ERR_BAD_FIELD' },
    { name: 'streamId overlong encoding of "/"', frame: frame(handshakeHead, idBytes([0xc0, 0xaf]), okId), code: 'ERR_BAD_FIELD' },
    { name: 'streamId UTF-16 surrogate encoded in UTF-8', frame: frame(handshakeHead, idBytes([0xed, 0xa0, 0x80]), okId), code: 'ERR_BAD_FIELD' },
  ];

  for (const row of rows) {
    test(`${row.name} -> ${row.code}`, () => {
      const decoded = decodeWire(row.frame);
      assert.equal(decoded.ok, false, `accepted: ${JSON.stringify(decoded.ok ? decoded.value : null)}`);
      if (decoded.ok) return;
      assert.equal(decoded.error.name, 'ProtocolError');
      assert.equal(decoded.error.code, row.code, decoded.error.message);
    });
  }

  test('bounds are inclusive where documented: 600 segments, 1024 pieces, 8192 haves, piece 1023, 256 KiB data', () => {
    const ok: Uint8Array[] = [
      frame(OP.bitfield, u16(MAX_WINDOW_SEGMENTS), Array.from({ length: MAX_WINDOW_SEGMENTS }, (_, i) => [...u32(i), ...u16(1), 0]).flat()),
      frame(OP.bitfield, u16(1), u32(1), u16(1024), new Array(128).fill(0xff)),
      haveOf(MAX_HAVE_ENTRIES),
      frame(OP.request, u32(0xffffffff), u16(1023)),
      new Uint8Array(MAX_FRAME).fill(OP.piece, 0, 1),
    ];
    for (const f of ok) {
      const d = decodeWire(f);
      assert.ok(d.ok, d.ok ? '' : `${d.error.code}: ${d.error.message}`);
    }
  });

  // Production bug (see the report): TextDecoder strips a leading UTF-8 BOM by default, so an
  // id whose bytes are EF BB BF 'a' 'b' decodes as "ab": a second byte form for the same id.
  test('an id starting with a UTF-8 byte order mark is refused', () => {
    const decoded = decodeWire(frame(handshakeHead, idBytes([0xef, 0xbb, 0xbf, 0x61, 0x62]), okId));
    assert.equal(decoded.ok, false);
  });
});

describe('bit helpers', () => {
  test('bitsetBytes is ceil(pieceCount / 8)', () => {
    const rows: [number, number][] = [[0, 0], [1, 1], [7, 1], [8, 1], [9, 2], [16, 2], [17, 3], [1023, 128], [1024, 128]];
    for (const [count, bytes] of rows) assert.equal(bitsetBytes(count), bytes, `pieceCount ${count}`);
  });

  test('piece i is bit 7 - i % 8 of byte i / 8', () => {
    const rows: { i: number; bytes: number[] }[] = [
      { i: 0, bytes: [0x80, 0, 0] },
      { i: 1, bytes: [0x40, 0, 0] },
      { i: 7, bytes: [0x01, 0, 0] },
      { i: 8, bytes: [0, 0x80, 0] },
      { i: 15, bytes: [0, 0x01, 0] },
      { i: 17, bytes: [0, 0, 0x40] },
    ];
    for (const { i, bytes } of rows) {
      const bits = new Uint8Array(3);
      setBit(bits, i);
      assert.deepEqual([...bits], bytes, `setBit ${i}`);
      for (let j = 0; j < 24; j++) assert.equal(hasBit(bits, j), j === i, `hasBit ${j} after setBit ${i}`);
    }
  });

  test('setBit is idempotent and keeps other bits', () => {
    const bits = new Uint8Array([0b0000_0101]);
    setBit(bits, 0);
    setBit(bits, 0);
    assert.deepEqual([...bits], [0b1000_0101]);
  });

  test('hasBit outside the bitset is false', () => {
    const bits = new Uint8Array([0xff]);
    const rows = [8, 9, 1000, -1];
    for (const i of rows) assert.equal(hasBit(bits, i), false, `index ${i}`);
    assert.equal(hasBit(new Uint8Array(0), 0), false);
  });

  test('setBit outside the bitset leaves it unchanged (typed arrays drop the write)', () => {
    const bits = new Uint8Array(1);
    setBit(bits, 8);
    assert.deepEqual([...bits], [0]);
    assert.equal(bits.byteLength, 1);
  });

  test('bits set with setBit survive a bitfield round trip', () => {
    const pieceCount = 37;
    const set = [0, 5, 8, 31, 36];
    const bits = new Uint8Array(bitsetBytes(pieceCount));
    for (const i of set) setBit(bits, i);
    const d = decodeWire(encodeWire({ type: 'bitfield', segments: [{ seq: 3, pieceCount, bits }] }));
    assert.ok(d.ok && d.value.type === 'bitfield');
    const got = d.value.segments[0]!;
    const held = Array.from({ length: pieceCount }, (_, i) => i).filter((i) => hasBit(got.bits, i));
    assert.deepEqual(held, set);
  });
});
