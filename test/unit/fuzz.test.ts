/**
 * Property/fuzz tests of every decoder against random and mutated input.
 *
 * Properties, for every input:
 * - the decoder never throws;
 * - it returns {ok: true, value} or {ok: false, error} with error a ProtocolError of a known code;
 * - binary (wire; the tracker's seed and segment frames): an accepted value is within the
 *   documented bounds, and encoding it and decoding again gives the same value (for `have`, the
 *   same entries grouped by segment; a tracker frame re-encodes to the very bytes);
 * - JSON (tracker): an accepted value has exactly the documented fields, each within its bounds,
 *   and survives encode -> decode unchanged.
 *
 * Each decoder gets fixed cases first (edge lengths, every truncation of valid frames), then
 * CASES generated ones run by fast-check. A generated case is data: random bytes, or a valid
 * message (named by the seed of its generator) with a list of mutations (each a mutator and
 * its seed). When a property fails, fast-check shrinks the case (fewer mutations, shorter byte
 * strings, smaller seeds) and prints the smallest failing one with its seed and path; to replay
 * exactly that case, run this file with FUZZ_SEED=<seed> FUZZ_PATH=<path>. Without them the seed
 * is fixed (SEED), so every run checks the same cases.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type Decoded, ProtocolError, type ProtocolErrorCode } from '../../shared/errors.ts';
import {
  MAX_COUNTER_VALUE,
  MAX_HAVE_ENTRIES,
  MAX_ID_LENGTH,
  MAX_PEERS_PER_LIST,
  MAX_PIECE_SIZE,
  MAX_PIECES_PER_SEGMENT,
  MAX_SEGMENT_BYTES,
  MAX_SEGMENT_DURATION_MS,
  MAX_TRACKER_MESSAGE_BYTES,
  MAX_URL_LENGTH,
  MAX_WINDOW_SEGMENTS,
  MAX_WIRE_FRAME_BYTES,
  MIN_PIECE_SIZE,
  PROTOCOL_VERSION,
} from '../../shared/limits.ts';
import { FETCH_TOKEN_CHARS, FETCH_TOKEN_PATTERN } from '../../shared/fetch-token.ts';
import { type Rng, seededRng } from '../../shared/rng.ts';
import type { PartialAnnouncement, SegmentAnnouncement } from '../../shared/segment.ts';
import {
  type PeerToTracker,
  type TrackerToPeer,
  decodePeerToTracker,
  ORIGIN_KEY_PATTERN,
  SIGNATURE_BYTES,
  type SignedAnnouncement,
  type SignedPartial,
  decodeTrackerToPeer,
  encodePartialRecord,
  encodePeerToTracker,
  encodeSegmentRecord,
  encodeTrackerToPeer,
} from '../../shared/tracker-protocol.ts';
import { PIECE_HEADER_BYTES, type PieceRef, type WireMessage, bitsetBytes, decodeWire, encodeWire } from '../../shared/wire-protocol.ts';

const SEED = 0x5eed_2024;
/** fast-check's seed and path for a replay (see the header), else SEED plus the decoder's offset. */
const REPLAY = process.env.FUZZ_SEED === undefined ? null : { seed: Number(process.env.FUZZ_SEED), path: process.env.FUZZ_PATH };
/** Cases per decoder; each decoder gets at least this many inputs. */
const CASES = 100_000;
const MAX_FRAME = MAX_PIECE_SIZE + PIECE_HEADER_BYTES;
const MAX_SEED_FRAME = MAX_PIECE_SIZE + 7;
/** A segment frame: kind, 51 bytes of fields and 32 per piece hash. */
const SEGMENT_FRAME_FIXED = 52;
const MAX_SEGMENT_FRAME = SEGMENT_FRAME_FIXED + 32 * MAX_PIECES_PER_SEGMENT;
/** A segment-part frame: kind, 14 bytes of fields, 32 per hash and the signature. */
const PART_FRAME_FIXED = 15;
const MAX_PART_FRAME = PART_FRAME_FIXED + 32 * MAX_PIECES_PER_SEGMENT + SIGNATURE_BYTES;
const MAX_PUBLISHED_AT_MS = 2 ** 48 - 1;
const KNOWN_CODES: ReadonlySet<ProtocolErrorCode> = new Set(['ERR_TOO_LARGE', 'ERR_MALFORMED', 'ERR_UNKNOWN_TYPE', 'ERR_BAD_FIELD', 'ERR_VERSION']);
const ID = /^[A-Za-z0-9_-]{1,64}$/;
const WS = /^wss?:\/\/\S+$/;
const B64URL_HASH = /^[A-Za-z0-9_-]{43}$/;
const HEX_HASH = /^[0-9a-f]{64}$/;

// ---------------------------------------------------------------- randomness

const between = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
const chance = (rng: Rng, p: number): boolean => rng() < p;
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)] as T;
/** Small numbers most of the time, up to `max` now and then. */
const skewed = (rng: Rng, max: number): number => Math.floor(max * rng() ** 4);

function randomBytes(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const v = Math.floor(rng() * 0x1_0000_0000);
    out[i] = v & 0xff;
    if (i + 1 < n) out[i + 1] = (v >>> 8) & 0xff;
    if (i + 2 < n) out[i + 2] = (v >>> 16) & 0xff;
    if (i + 3 < n) out[i + 3] = v >>> 24;
  }
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function hex(b: Uint8Array, max = 48): string {
  return `${b.byteLength} bytes: ${Buffer.from(b.buffer, b.byteOffset, Math.min(b.byteLength, max)).toString('hex')}${b.byteLength > max ? '…' : ''}`;
}

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
const HEX_CHARS = '0123456789abcdef';
const randomString = (rng: Rng, alphabet: string, n: number): string => {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rng() * alphabet.length)];
  return s;
};
const randomId = (rng: Rng): string => randomString(rng, ID_CHARS, chance(rng, 0.1) ? MAX_ID_LENGTH : between(rng, 1, 12));
const randomU32 = (rng: Rng): number => (chance(rng, 0.1) ? pick(rng, [0, 1, 0xffff_ffff, 0x8000_0000]) : Math.floor(rng() * 0x1_0000_0000));
const randomPieceIndex = (rng: Rng): number => (chance(rng, 0.1) ? pick(rng, [0, MAX_PIECES_PER_SEGMENT - 1]) : between(rng, 0, MAX_PIECES_PER_SEGMENT - 1));

// ---------------------------------------------------------------- binary mutations

type Mutator = (rng: Rng, f: Uint8Array, other: () => Uint8Array) => Uint8Array;

/** Values that sit on or just past a bound, or fill a field with ones. */
const INTERESTING_U16 = [0, 1, 0x7f, 0x80, 0xff, 0x100, MAX_WINDOW_SEGMENTS, MAX_WINDOW_SEGMENTS + 1, MAX_PIECES_PER_SEGMENT - 1, MAX_PIECES_PER_SEGMENT, MAX_PIECES_PER_SEGMENT + 1, MAX_HAVE_ENTRIES, MAX_HAVE_ENTRIES + 1, 0x7fff, 0x8000, 0xfffe, 0xffff];
const INTERESTING_U32 = [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff, 0x0000_ffff, 0xffff_0000];

function writeU16(o: Uint8Array, at: number, v: number): void {
  if (at + 2 > o.byteLength) return;
  new DataView(o.buffer, o.byteOffset, o.byteLength).setUint16(at, v);
}
function writeU32(o: Uint8Array, at: number, v: number): void {
  if (at + 4 > o.byteLength) return;
  new DataView(o.buffer, o.byteOffset, o.byteLength).setUint32(at, v >>> 0);
}

const MUTATORS: readonly (readonly [string, Mutator])[] = [
  [
    'bit-flip',
    (rng, f) => {
      const o = Uint8Array.from(f);
      if (o.byteLength === 0) return o;
      for (let k = between(rng, 1, 4); k > 0; k--) {
        const i = between(rng, 0, o.byteLength - 1);
        o[i] = (o[i] ?? 0) ^ (1 << between(rng, 0, 7));
      }
      return o;
    },
  ],
  ['truncate', (rng, f) => f.slice(0, between(rng, 0, Math.max(0, f.byteLength - 1)))],
  [
    'insert',
    (rng, f) => {
      const at = between(rng, 0, f.byteLength);
      return concat(f.subarray(0, at), randomBytes(rng, between(rng, 1, 8)), f.subarray(at));
    },
  ],
  [
    'delete',
    (rng, f) => {
      const at = between(rng, 0, f.byteLength);
      return concat(f.subarray(0, at), f.subarray(Math.min(f.byteLength, at + between(rng, 1, 8))));
    },
  ],
  [
    'duplicate-slice',
    (rng, f) => {
      const a = between(rng, 0, f.byteLength);
      const b = between(rng, a, Math.min(f.byteLength, a + 64));
      const at = between(rng, 0, f.byteLength);
      return concat(f.subarray(0, at), f.subarray(a, b), f.subarray(at));
    },
  ],
  [
    'overwrite-u16',
    (rng, f) => {
      const o = Uint8Array.from(f);
      // Bias to the offsets where counts and lengths live (1: count or version; 5, 7: piece, n, duration, size; 50: piece count of a segment frame).
      const at = chance(rng, 0.5) ? pick(rng, [1, 3, 5, 7, 9, 50]) : between(rng, 0, Math.max(0, o.byteLength - 2));
      writeU16(o, at, chance(rng, 0.8) ? pick(rng, INTERESTING_U16) : between(rng, 0, 0xffff));
      return o;
    },
  ],
  [
    'overwrite-u32',
    (rng, f) => {
      const o = Uint8Array.from(f);
      const at = chance(rng, 0.5) ? pick(rng, [1, 3, 5]) : between(rng, 0, Math.max(0, o.byteLength - 4));
      writeU32(o, at, pick(rng, INTERESTING_U32));
      return o;
    },
  ],
  [
    'overwrite-u8',
    (rng, f) => {
      const o = Uint8Array.from(f);
      if (o.byteLength === 0) return o;
      o[between(rng, 0, o.byteLength - 1)] = pick(rng, [0, 1, 0x3f, 0x40, 0x41, 0x7f, 0x80, 0xef, 0xff]);
      return o;
    },
  ],
  [
    'opcode-swap',
    (rng, f) => {
      const o = Uint8Array.from(f);
      if (o.byteLength > 0) o[0] = chance(rng, 0.8) ? between(rng, 0, 12) : between(rng, 0, 255);
      return o;
    },
  ],
  ['append', (rng, f) => concat(f, randomBytes(rng, between(rng, 1, 16)))],
  ['concat', (_rng, f, other) => concat(f, other())],
  [
    'splice',
    (rng, f, other) => {
      const g = other();
      return concat(f.subarray(0, between(rng, 0, f.byteLength)), g.subarray(between(rng, 0, g.byteLength)));
    },
  ],
];

// ---------------------------------------------------------------- fast-check cases

/** A seed for one of the generators above: shrinks towards 0. */
const genSeed = fc.integer({ min: 0, max: 0x7fff_ffff });
/** A mutator of `count` and the seed of its choices. */
const mutation = (count: number) => fc.record({ m: fc.nat({ max: count - 1 }), seed: genSeed, other: genSeed });
type Mutation = { m: number; seed: number; other: number };

/** Random bytes of a length in [lo, hi]; lengths past 600 from a seeded generator, so a 16 KiB case costs one draw. */
const bytes = (lo: number, hi: number) =>
  hi <= 600 ? fc.uint8Array({ minLength: lo, maxLength: hi }) : fc.tuple(fc.integer({ min: lo, max: hi }), genSeed).map(([n, s]) => randomBytes(seededRng(s), n));

/** Applies mutations in order, each from the frame the last one left; `other` makes the frame a splice takes from. */
function applyMutations(base: Uint8Array, ops: readonly Mutation[], other: (seed: number) => Uint8Array): Uint8Array {
  let out = base;
  for (const op of ops) out = (MUTATORS[op.m] as (typeof MUTATORS)[number])[1](seededRng(op.seed), out, () => other(op.other));
  return out;
}
const mutationNames = (ops: readonly Mutation[]) => ops.map((op) => MUTATORS[op.m]?.[0]).join('+');

type BinaryCase = { source: 'random'; frame: Uint8Array } | { source: 'mutated'; base: number; ops: Mutation[] } | { source: 'valid'; base: number };

/** Random frames (35 %, often with a plausible first byte), mutated valid frames (60 %) and valid frames (5 %). */
function binaryCases(random: fc.Arbitrary<Uint8Array>, firstByteMax: number): fc.Arbitrary<BinaryCase> {
  const framed = fc.tuple(random, fc.option(fc.nat({ max: firstByteMax }), { freq: 2 })).map(([f, op]) => {
    if (f.byteLength > 0 && op !== null) f[0] = op;
    return f;
  });
  return fc.oneof(
    { weight: 35, arbitrary: framed.map((frame): BinaryCase => ({ source: 'random', frame })) },
    { weight: 60, arbitrary: fc.record({ base: genSeed, ops: fc.array(mutation(MUTATORS.length), { minLength: 1, maxLength: 4, size: 'xsmall' }) }).map((c): BinaryCase => ({ source: 'mutated', ...c })) },
    { weight: 5, arbitrary: genSeed.map((base): BinaryCase => ({ source: 'valid', base })) },
  );
}

/** Runs `cases` generated cases through `feed`; a failure is shrunk and reported with its seed and path. */
function generated<C>(seed: number, arb: fc.Arbitrary<C>, feed: (c: C) => void, cases: number): void {
  fc.assert(
    fc.property(arb, (c) => {
      feed(c);
    }),
    { numRuns: cases, seed: REPLAY?.seed ?? seed, path: REPLAY?.path, endOnFailure: false },
  );
}

// ---------------------------------------------------------------- bookkeeping

class Tally {
  frames = 0;
  accepted = 0;
  rejected = 0;
  readonly codes = new Map<string, number>();
  readonly sources = new Map<string, number>();
  readonly notes = new Map<string, number>();
  /** Accepted values by message type: a decoder that rejects every message of a type passes the other properties vacuously. */
  readonly acceptedTypes = new Map<string, number>();

  count(source: string): void {
    this.frames++;
    this.sources.set(source, (this.sources.get(source) ?? 0) + 1);
  }
  note(what: string): void {
    this.notes.set(what, (this.notes.get(what) ?? 0) + 1);
  }
  summary(name: string, ms: number): string[] {
    const fmt = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(' ');
    return [
      `${name}: ${this.frames} frames, ${this.rejected} rejected, ${this.accepted} accepted, ${Math.round(ms)} ms`,
      `  by source: ${fmt(this.sources)}`,
      `  errors: ${fmt(this.codes)}`,
      `  accepted: ${fmt(this.acceptedTypes)}`,
      ...(this.notes.size > 0 ? [`  notes: ${fmt(this.notes)}`] : []),
    ];
  }
}

/**
 * Runs one input through a decoder and checks the result's shape. Returns the value if accepted.
 * `what` is only evaluated on failure, to describe the case.
 */
function run<I, T>(decode: (input: I) => Decoded<T>, input: I, tally: Tally, what: () => string): T | undefined {
  let r: Decoded<T>;
  try {
    r = decode(input);
  } catch (e) {
    failCase(`decoder threw ${String(e)} on ${what()}`);
  }
  if (r.ok === true) {
    if (!('value' in r)) failCase(`ok result without a value on ${what()}`);
    tally.accepted++;
    const type = (r.value as { type?: unknown }).type;
    const key = typeof type === 'string' ? type : 'value';
    tally.acceptedTypes.set(key, (tally.acceptedTypes.get(key) ?? 0) + 1);
    return r.value;
  }
  if (r.ok !== false || !(r.error instanceof ProtocolError) || !KNOWN_CODES.has(r.error.code) || typeof r.error.message !== 'string') {
    failCase(`bad result shape ${String(r)} on ${what()}`);
  }
  tally.rejected++;
  tally.codes.set(r.error.code, (tally.codes.get(r.error.code) ?? 0) + 1);
  return undefined;
}

/** Guards a property check so a failure names the case. */
function check(cond: boolean, msg: string, what: () => string): void {
  if (!cond) failCase(`${msg} on ${what()}`);
}

/**
 * Rejections build a ProtocolError each, and capturing its stack trace is most of the cost of a
 * rejection; the fuzz loops do not look at stacks, so they run with capture off, and a failure
 * turns it back on before it throws.
 */
const STACK_LIMIT = Error.stackTraceLimit;
function failCase(msg: string): never {
  Error.stackTraceLimit = STACK_LIMIT;
  assert.fail(msg);
}
function withoutStacks<T>(fn: () => T): T {
  Error.stackTraceLimit = 0;
  try {
    return fn();
  } finally {
    Error.stackTraceLimit = STACK_LIMIT;
  }
}

// ---------------------------------------------------------------- peer wire

/**
 * A random message. With `overBound`, one field sits just past its documented bound (encodeWire
 * writes what it is given), so a decoder that let that bound slip would accept it and the bounds
 * check below would catch it.
 */
function randomWireMessage(rng: Rng, overBound = chance(rng, 0.05)): WireMessage {
  const kind = between(rng, 0, 11);
  const pieceIndex = () => (overBound ? pick(rng, [MAX_PIECES_PER_SEGMENT, MAX_PIECES_PER_SEGMENT + 1, 0xffff]) : randomPieceIndex(rng));
  switch (kind) {
    case 0: {
      const badId = () => pick(rng, ['', 'a'.repeat(MAX_ID_LENGTH + 1), 'a b', 'é', 'a\u0000', '\ufeffab']);
      return {
        type: 'handshake',
        version: chance(rng, 0.8) ? PROTOCOL_VERSION : between(rng, 0, 0xffff),
        streamId: overBound && chance(rng, 0.5) ? badId() : randomId(rng),
        peerId: overBound && chance(rng, 0.5) ? badId() : randomId(rng),
      };
    }
    case 1: {
      const n = overBound && chance(rng, 0.5) ? MAX_WINDOW_SEGMENTS + 1 : chance(rng, 0.01) ? MAX_WINDOW_SEGMENTS : skewed(rng, 8);
      const bad = overBound && n <= MAX_WINDOW_SEGMENTS ? between(rng, 0, Math.max(0, n - 1)) : -1;
      return {
        type: 'bitfield',
        segments: Array.from({ length: n }, (_, i) => {
          const pieceCount = i === bad ? pick(rng, [0, MAX_PIECES_PER_SEGMENT + 1]) : chance(rng, 0.05) ? MAX_PIECES_PER_SEGMENT : between(rng, 1, 40);
          return { seq: randomU32(rng), pieceCount, bits: randomBytes(rng, bitsetBytes(pieceCount)) };
        }),
      };
    }
    case 2: {
      const total = overBound && chance(rng, 0.5) ? MAX_HAVE_ENTRIES + 1 : chance(rng, 0.01) ? MAX_HAVE_ENTRIES : skewed(rng, 30);
      const seqs = Array.from({ length: between(rng, 1, 3) }, () => randomU32(rng));
      const pieces = Array.from({ length: total }, () => ({ seq: pick(rng, seqs), piece: randomPieceIndex(rng) }));
      const last = pieces[pieces.length - 1];
      if (overBound && total <= MAX_HAVE_ENTRIES && last) last.piece = pieceIndex();
      return { type: 'have', pieces };
    }
    case 3:
      return { type: 'interested' };
    case 4:
      return { type: 'not-interested' };
    case 5:
      return { type: 'choke' };
    case 6:
      return { type: 'unchoke' };
    case 7:
    case 8:
    case 9:
      return { type: pick(rng, ['request', 'cancel', 'reject'] as const), seq: randomU32(rng), piece: pieceIndex() };
    case 10: {
      if (overBound && chance(rng, 0.5)) {
        return { type: 'piece', seq: randomU32(rng), piece: randomPieceIndex(rng), data: randomBytes(rng, pick(rng, [0, MAX_PIECE_SIZE + 1])) };
      }
      const size = chance(rng, 0.005) ? MAX_PIECE_SIZE : chance(rng, 0.05) ? between(rng, 1, 20_000) : between(rng, 1, 48);
      return { type: 'piece', seq: randomU32(rng), piece: pieceIndex(), data: randomBytes(rng, size) };
    }
    default:
      return { type: 'keep-alive' };
  }
}

/** What decode(encode(v)) must equal: encodeWire sends `have` entries by segment, in first-seen order, each one's pieces once and ascending. */
function canonicalWire(msg: WireMessage): WireMessage {
  if (msg.type !== 'have') return msg;
  const groups = new Map<number, Set<number>>();
  for (const p of msg.pieces) {
    const g = groups.get(p.seq);
    if (g) g.add(p.piece);
    else groups.set(p.seq, new Set([p.piece]));
  }
  const pieces: PieceRef[] = [];
  for (const [seq, g] of groups) for (const piece of [...g].sort((a, b) => a - b)) pieces.push({ seq, piece });
  return { type: 'have', pieces };
}

function checkWireBounds(v: WireMessage, what: () => string): void {
  const pieceOk = (p: number) => Number.isInteger(p) && p >= 0 && p < MAX_PIECES_PER_SEGMENT;
  const seqOk = (s: number) => Number.isInteger(s) && s >= 0 && s <= 0xffff_ffff;
  switch (v.type) {
    case 'handshake':
      check(v.version >= 0 && v.version <= 0xffff, 'handshake version', what);
      check(ID.test(v.streamId) && ID.test(v.peerId), `handshake ids ${JSON.stringify([v.streamId, v.peerId])}`, what);
      break;
    case 'bitfield':
      check(v.segments.length <= MAX_WINDOW_SEGMENTS, 'bitfield segment count', what);
      for (const s of v.segments) {
        check(seqOk(s.seq) && s.pieceCount >= 1 && s.pieceCount <= MAX_PIECES_PER_SEGMENT, 'bitfield segment', what);
        check(s.bits.byteLength === bitsetBytes(s.pieceCount), 'bitfield bitset length', what);
      }
      break;
    case 'have':
      check(v.pieces.length <= MAX_HAVE_ENTRIES, 'have entry count', what);
      for (const p of v.pieces) check(seqOk(p.seq) && pieceOk(p.piece), 'have entry', what);
      break;
    case 'request':
    case 'cancel':
    case 'reject':
      check(seqOk(v.seq) && pieceOk(v.piece), `${v.type} fields`, what);
      break;
    case 'piece':
      check(seqOk(v.seq) && pieceOk(v.piece), 'piece fields', what);
      check(v.data.byteLength >= 1 && v.data.byteLength <= MAX_PIECE_SIZE, 'piece size', what);
      break;
    default:
      check(Object.keys(v).length === 1, `${v.type} carries no fields`, what);
  }
}

function fuzzWire(): Tally {
  const rng = seededRng(SEED);
  const tally = new Tally();
  const validFrame = () => encodeWire(randomWireMessage(rng));

  const feed = (source: string, frame: Uint8Array, describe: () => string) => {
    tally.count(source);
    const what = () => `decodeWire case ${tally.frames} (${source}) ${describe()}: ${hex(frame)}`;
    const v = run(decodeWire, frame, tally, what);
    if (v === undefined) return;
    checkWireBounds(v, what);
    const reencoded = encodeWire(v);
    const again = decodeWire(reencoded);
    check(again.ok, 're-encoded value was rejected', what);
    if (!again.ok) return;
    try {
      assert.deepStrictEqual(again.value, canonicalWire(v));
    } catch (e) {
      failCase(`decode(encode(v)) differs from v on ${what()}: ${String(e)}`);
    }
    if (!sameBytes(reencoded, frame)) tally.note(`accepted non-canonical ${v.type}`);
  };

  // 1. Edge lengths: 0, a header, the frame limit and just past it, the ws maxPayload and past it.
  const edges = [0, 1, 2, 3, 6, 7, 8, MAX_FRAME - 1, MAX_FRAME, MAX_FRAME + 1, MAX_WIRE_FRAME_BYTES, MAX_WIRE_FRAME_BYTES + 1, 2 * MAX_FRAME];
  for (const n of edges) {
    for (const op of [0, 1, 2, 3, 7, 10, 11, 12, 255]) {
      const f = randomBytes(rng, n);
      if (n > 0) f[0] = op;
      feed('edge-length', f, () => `length ${n} op ${op}`);
    }
  }

  // 2. Every truncation of a corpus of valid frames of every type (small frames only).
  for (let i = 0; i < 600; i++) {
    const f = validFrame();
    if (f.byteLength > 2048) continue;
    for (let n = 0; n < f.byteLength; n++) feed('truncate-all', f.subarray(0, n), () => `prefix ${n} of ${hex(f)}`);
  }

  // 3. Random frames, mutated valid frames and valid frames, CASES of them, by fast-check.
  const frameOf = (s: number) => encodeWire(randomWireMessage(seededRng(s)));
  const random = fc.oneof(
    { weight: 10, arbitrary: fc.constant(0).map(() => new Uint8Array(0)) },
    { weight: 54, arbitrary: bytes(1, 16) },
    { weight: 35, arbitrary: bytes(17, 600) },
    { weight: 1, arbitrary: bytes(601, MAX_FRAME + 16) },
  );
  generated(SEED, binaryCases(random, 11), (c) => {
    if (c.source === 'random') return feed('random', c.frame, () => 'random bytes');
    const base = frameOf(c.base);
    if (c.source === 'valid') return feed('valid', base, () => `valid frame (generator seed ${c.base})`);
    feed('mutated', applyMutations(base, c.ops, frameOf), () => `${mutationNames(c.ops)} of ${hex(base)} (generator seed ${c.base})`);
  }, CASES);
  return tally;
}

// ---------------------------------------------------------------- tracker binary frames

/** A random seed piece; now and then one with an index or size just past its bound. */
function randomSeedPiece(rng: Rng): TrackerToPeer {
  const overBound = chance(rng, 0.05);
  const size = overBound && chance(rng, 0.5) ? pick(rng, [0, MAX_PIECE_SIZE + 1]) : chance(rng, 0.005) ? MAX_PIECE_SIZE : chance(rng, 0.05) ? between(rng, 1, 20_000) : between(rng, 1, 32);
  const piece = overBound && size > 0 && size <= MAX_PIECE_SIZE ? pick(rng, [MAX_PIECES_PER_SEGMENT, 0xffff]) : randomPieceIndex(rng);
  return { type: 'seed', seq: randomU32(rng), piece, data: randomBytes(rng, size) };
}

/** A random segment announcement; now and then one with a field just past its bound (the encoder writes what it is given). */
function randomSegmentFrame(rng: Rng): TrackerToPeer {
  const segment = randomSegment(rng);
  if (chance(rng, 0.05)) {
    const field = between(rng, 0, 2);
    if (field === 0) segment.durationMs = pick(rng, [0, MAX_SEGMENT_DURATION_MS + 1]);
    else if (field === 1) segment.size = pick(rng, [0, MAX_SEGMENT_BYTES + 1]);
    else segment.pieceHashes = chance(rng, 0.5) ? [] : new Array(MAX_PIECES_PER_SEGMENT + 1).fill(randomHash(rng));
  }
  return { type: 'segment', announcement: randomlySigned(rng, segment) };
}

/** A random partial announcement; now and then one past its bounds (no hash, or hashes past the last piece index). */
function randomPartFrame(rng: Rng): TrackerToPeer {
  const count = chance(rng, 0.002) ? MAX_PIECES_PER_SEGMENT : between(rng, 1, 4);
  const partial: PartialAnnouncement = {
    seq: randomU32(rng),
    first: chance(rng, 0.01) ? MAX_PIECES_PER_SEGMENT - count : between(rng, 0, Math.min(40, MAX_PIECES_PER_SEGMENT - count)),
    pieceHashes: Array.from({ length: count }, () => randomHash(rng)),
    openedAtMs: chance(rng, 0.1) ? pick(rng, [0, MAX_PUBLISHED_AT_MS]) : skewed(rng, 4e12),
    discontinuity: chance(rng, 0.2),
  };
  if (chance(rng, 0.05)) {
    if (chance(rng, 0.5)) partial.pieceHashes = [];
    else partial.first = MAX_PIECES_PER_SEGMENT - count + 1;
  }
  const signed: SignedPartial = { partial, record: encodePartialRecord(partial), signature: randomBytes(rng, SIGNATURE_BYTES) };
  return { type: 'segment-part', announcement: signed };
}

/** An announcement with a random signature: the decoder checks its length, a peer its value. */
function randomlySigned(rng: Rng, segment: SegmentAnnouncement): SignedAnnouncement {
  return { segment, record: encodeSegmentRecord(segment), signature: randomBytes(rng, SIGNATURE_BYTES) };
}

const randomTrackerFrame = (rng: Rng): TrackerToPeer => {
  const r = rng();
  return r < 0.4 ? randomSeedPiece(rng) : r < 0.7 ? randomSegmentFrame(rng) : randomPartFrame(rng);
};

function binaryFrame(msg: TrackerToPeer): Uint8Array {
  const f = encodeTrackerToPeer(msg);
  if (typeof f === 'string') throw new Error(`${msg.type} encoded as text`);
  return f;
}

function fuzzTrackerBinary(): Tally {
  const rng = seededRng(SEED + 1);
  const tally = new Tally();
  const validFrame = () => binaryFrame(randomTrackerFrame(rng));

  const feed = (source: string, frame: Uint8Array, describe: () => string) => {
    tally.count(source);
    const what = () => `decodeTrackerToPeer (binary) case ${tally.frames} (${source}) ${describe()}: ${hex(frame)}`;
    const v = run(decodeTrackerToPeer, frame, tally, what);
    if (v === undefined) return;
    checkTrackerToPeer(v, what);
    check(v.type === 'seed' || v.type === 'segment' || v.type === 'segment-part', `a binary frame decoded as ${v.type}`, what);
    // Every field has a fixed width and one spelling: re-encoding gives the very bytes.
    const reencoded = binaryFrame(v);
    check(sameBytes(reencoded, frame), `${v.type} frame is not canonical`, what);
    const again = decodeTrackerToPeer(reencoded);
    check(again.ok, 're-encoded frame was rejected', what);
    if (again.ok) check(sameBytes(binaryFrame(again.value), reencoded), 'decode(encode(v)) differs from v', what);
  };

  const edges = [
    0, 1, 6, 7, 8, PART_FRAME_FIXED - 1, PART_FRAME_FIXED, PART_FRAME_FIXED + 32 + SIGNATURE_BYTES, SEGMENT_FRAME_FIXED - 1, SEGMENT_FRAME_FIXED, SEGMENT_FRAME_FIXED + 32, MAX_SEGMENT_FRAME,
    MAX_SEGMENT_FRAME + 1, MAX_PART_FRAME, MAX_PART_FRAME + 1, MAX_SEED_FRAME - 1, MAX_SEED_FRAME, MAX_SEED_FRAME + 1, 2 * MAX_SEED_FRAME,
  ];
  for (const n of edges) {
    for (const kind of [0, 1, 2, 3, 4, 255]) {
      const f = randomBytes(rng, n);
      if (n > 0) f[0] = kind;
      if (kind === 1 && n >= 7 && chance(rng, 0.5)) writeU16(f, 5, between(rng, 0, MAX_PIECES_PER_SEGMENT - 1));
      // A plausible segment header, so that random bytes get past the first checks now and then.
      if (kind === 2 && n >= SEGMENT_FRAME_FIXED && chance(rng, 0.5)) {
        writeU16(f, 5, between(rng, 1, MAX_SEGMENT_DURATION_MS));
        writeU32(f, 7, between(rng, 1, MAX_SEGMENT_BYTES));
        f[17] = between(rng, 0, 1);
        writeU16(f, 50, Math.floor((n - SEGMENT_FRAME_FIXED) / 32));
      }
      if (kind === 3 && n >= PART_FRAME_FIXED && chance(rng, 0.5)) {
        f[11] = between(rng, 0, 1);
        const count = Math.max(1, Math.floor((n - PART_FRAME_FIXED - SIGNATURE_BYTES) / 32));
        writeU16(f, 12, between(rng, 0, Math.max(0, MAX_PIECES_PER_SEGMENT - count)));
        writeU16(f, 14, count);
      }
      feed('edge-length', f, () => `length ${n} kind ${kind}`);
    }
  }
  for (let i = 0; i < 300; i++) {
    const f = validFrame();
    if (f.byteLength > 2048) continue;
    for (let n = 0; n < f.byteLength; n++) feed('truncate-all', f.subarray(0, n), () => `prefix ${n} of ${hex(f)}`);
  }
  const frameOf = (s: number) => binaryFrame(randomTrackerFrame(seededRng(s)));
  const random = fc.oneof(
    { weight: 10, arbitrary: fc.constant(0).map(() => new Uint8Array(0)) },
    { weight: 60, arbitrary: bytes(1, 64) },
    { weight: 27, arbitrary: bytes(65, 600) },
    { weight: 3, arbitrary: bytes(601, MAX_SEED_FRAME + 16) },
  );
  // The kinds are 1 to 3: random frames often start with one of them.
  generated(SEED + 1, binaryCases(random, 3), (c) => {
    if (c.source === 'random') return feed('random', c.frame, () => 'random bytes');
    const base = frameOf(c.base);
    if (c.source === 'valid') return feed('valid', base, () => `valid frame (generator seed ${c.base})`);
    feed('mutated', applyMutations(base, c.ops, frameOf), () => `${mutationNames(c.ops)} of ${hex(base)} (generator seed ${c.base})`);
  }, CASES);
  return tally;
}

// ---------------------------------------------------------------- tracker JSON

const B64URL_CHARS = ID_CHARS;
const randomHash = (rng: Rng): string => randomString(rng, B64URL_CHARS, 43);
const randomHex = (rng: Rng): string => randomString(rng, HEX_CHARS, 64);
const randomUrl = (rng: Rng): string =>
  `${pick(rng, ['ws', 'wss'])}://${pick(rng, ['127.0.0.1', 'localhost', '10.1.2.3', 'peer.example.org', '[::1]'])}:${between(rng, 1, 65535)}/peer`;
const randomCounter = (rng: Rng): number => (chance(rng, 0.1) ? pick(rng, [0, MAX_COUNTER_VALUE]) : skewed(rng, 1e12));

function randomSegment(rng: Rng): SegmentAnnouncement {
  return {
    seq: randomU32(rng),
    durationMs: between(rng, 1, MAX_SEGMENT_DURATION_MS),
    size: between(rng, 1, MAX_SEGMENT_BYTES),
    sha256: randomHex(rng),
    pieceHashes: Array.from({ length: chance(rng, 0.002) ? MAX_PIECES_PER_SEGMENT : chance(rng, 0.1) ? 12 : between(rng, 1, 4) }, () => randomHash(rng)),
    publishedAtMs: chance(rng, 0.1) ? pick(rng, [0, MAX_PUBLISHED_AT_MS]) : skewed(rng, 4e12),
    discontinuity: chance(rng, 0.2),
  };
}

const randomPeers = (rng: Rng): { peerId: string; url: string }[] =>
  Array.from({ length: chance(rng, 0.01) ? MAX_PEERS_PER_LIST : skewed(rng, 6) }, () => ({ peerId: randomId(rng), url: randomUrl(rng) }));

function randomPeerToTracker(rng: Rng): PeerToTracker {
  switch (between(rng, 0, 3)) {
    case 0:
      return {
        type: 'join',
        version: PROTOCOL_VERSION,
        streamId: randomId(rng),
        peerId: randomId(rng),
        url: chance(rng, 0.2) ? null : randomUrl(rng),
        uploadKbps: chance(rng, 0.1) ? pick(rng, [0, 100_000_000]) : between(rng, 0, 1_000_000),
      };
    case 1:
      return {
        type: 'announce',
        stats: {
          p2pBytes: randomCounter(rng),
          originBytes: randomCounter(rng),
          uploadedBytes: randomCounter(rng),
          stalls: randomCounter(rng),
          stallMs: randomCounter(rng),
          neighbours: randomCounter(rng),
          hashFailures: randomCounter(rng),
        },
      };
    case 2:
      return { type: 'get-peers', max: between(rng, 1, MAX_PEERS_PER_LIST) };
    default:
      return { type: 'leave' };
  }
}

/** The messages the tracker sends as JSON text. */
function randomTrackerToPeer(rng: Rng): TrackerToPeer {
  switch (between(rng, 0, 2)) {
    case 0:
      return {
        type: 'welcome',
        version: PROTOCOL_VERSION,
        streamId: randomId(rng),
        peerId: randomId(rng),
        pieceSize: between(rng, MIN_PIECE_SIZE, MAX_PIECE_SIZE),
        announceIntervalMs: between(rng, 100, 600_000),
        originTimeMs: randomCounter(rng),
        segments: Array.from({ length: chance(rng, 0.001) ? MAX_WINDOW_SEGMENTS : skewed(rng, 6) }, () => randomlySigned(rng, randomSegment(rng))),
        peers: randomPeers(rng),
        fetchToken: randomString(rng, B64URL_CHARS, FETCH_TOKEN_CHARS),
        originKey: Buffer.from(randomBytes(rng, 32)).toString('base64'),
      };
    case 1:
      return { type: 'peers', peers: randomPeers(rng) };
    default:
      return { type: 'error', code: pick(rng, ['MALFORMED', 'BAD_FIELD', 'SWARM_FULL', 'RATE_LIMITED', 'VERSION']), message: randomString(rng, 'abc \n"\\é✓', skewed(rng, 1024)) };
  }
}

function trackerText(msg: TrackerToPeer): string {
  const f = encodeTrackerToPeer(msg);
  if (typeof f !== 'string') throw new Error(`${msg.type} encoded as a binary frame`);
  return f;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Sets an own key, even "__proto__" (plain assignment would set the prototype instead), so it reaches the JSON text. */
function setKey(o: { [k: string]: Json }, key: string, value: Json): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Random JSON of bounded depth and size. */
function randomJson(rng: Rng, depth: number): Json {
  const r = rng();
  if (depth <= 0 || r < 0.5) return pick(rng, [null, true, false, 0, -1, 1.5, 1e300, '', 'x', 'ws://a', '\u0000', '\ud800']);
  if (r < 0.75) return Array.from({ length: skewed(rng, 6) }, () => randomJson(rng, depth - 1));
  const o: { [k: string]: Json } = {};
  for (let i = skewed(rng, 6); i > 0; i--) setKey(o, pick(rng, ['type', 'seq', 'url', 'peers', 'segments', 'stats', 'a', '__proto__', 'constructor']), randomJson(rng, depth - 1));
  return o;
}

/** Field values of the wrong type, past a bound, or shaped to confuse a lax parser. */
function garbage(rng: Rng, like?: Json): Json {
  const r = rng();
  if (r < 0.25) {
    return pick(rng, [
      -1, 0, 1, 1.5, -0.5, 0.1, 2, 99, 100, 101, 600, 601, 1023, 1024, 1025, 60_000, 60_001, 65_535, 65_536, 262_144, 262_145,
      2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 1e21, 1e308, -1e308, Number.MIN_VALUE, 100_000_000, 100_000_001,
      MAX_SEGMENT_BYTES, MAX_SEGMENT_BYTES + 1,
    ]);
  }
  if (r < 0.4) return pick(rng, ['NaN', 'Infinity', '-Infinity', '1e999', '-0', '0x10', ' 1', '1 ', '١', '1', 'true', 'null', '[]', '{}']);
  if (r < 0.55) return pick<Json>(rng, [null, true, false, [], {}, [null], [1, 2], { a: 1 }, [[[]]], { type: 'join' }]);
  if (r < 0.7) {
    return pick(rng, [
      '',
      ' ',
      'a b',
      'a.b',
      '../x',
      'é',
      'a\n',
      '\u0000',
      '\ud800',
      '\u2028',
      'A'.repeat(MAX_ID_LENGTH),
      'A'.repeat(MAX_ID_LENGTH + 1),
      'http://x',
      'ws://',
      'ws:// a',
      'WSS://x',
      `ws://${'h'.repeat(MAX_URL_LENGTH)}`,
      `${'A'.repeat(42)}=`,
      `+${'A'.repeat(42)}`,
      'A'.repeat(43),
      'a'.repeat(64),
      'F'.repeat(64),
    ]);
  }
  if (r < 0.71) return 'x'.repeat(chance(rng, 0.1) ? 100_000 : between(rng, 257, 5_000));
  if (r < 0.712) return new Array(100_000).fill(0);
  if (r < 0.9) return randomJson(rng, 5);
  // A plausible value of the same type as the field it replaces.
  if (typeof like === 'number') return chance(rng, 0.5) ? like + pick(rng, [-1, 1, 0.5]) : -like;
  if (typeof like === 'string') return like + pick(rng, ['', 'x', ' ', '=']);
  return randomJson(rng, 2);
}

type Slot = { parent: Json[] | { [k: string]: Json }; key: string | number };

function slots(v: Json, out: Slot[], depth = 0): Slot[] {
  if (depth > 6 || v === null || typeof v !== 'object') return out;
  if (Array.isArray(v)) {
    const n = v.length;
    const idx = n <= 8 ? Array.from({ length: n }, (_, i) => i) : [0, 1, n - 1, Math.floor(n / 2)];
    for (const i of idx) {
      out.push({ parent: v, key: i });
      slots(v[i] ?? null, out, depth + 1);
    }
  } else {
    for (const k of Object.keys(v)) {
      out.push({ parent: v, key: k });
      slots(v[k] ?? null, out, depth + 1);
    }
  }
  return out;
}

function getSlot(s: Slot): Json {
  return Array.isArray(s.parent) ? (s.parent[s.key as number] ?? null) : (s.parent[s.key as string] ?? null);
}
function setSlot(s: Slot, v: Json): void {
  if (Array.isArray(s.parent)) s.parent[s.key as number] = v;
  else s.parent[s.key as string] = v;
}

const ALL_TYPES = ['join', 'announce', 'get-peers', 'leave', 'welcome', 'segment', 'peers', 'error', 'JOIN', '', 'x'.repeat(100), 'toString', '__proto__'];

/** Mutates a message object in place, 1–3 times; returns the names of the changes. */
function mutateJson(rng: Rng, root: { [k: string]: Json }): string {
  const names: string[] = [];
  for (let k = chance(rng, 0.25) ? between(rng, 2, 3) : 1; k > 0; k--) {
    const all = slots(root, []);
    const r = rng();
    if (r < 0.08 || all.length === 0) {
      root.type = pick(rng, ALL_TYPES);
      names.push('type');
      continue;
    }
    const s = pick(rng, all);
    if (r < 0.6) {
      setSlot(s, garbage(rng, getSlot(s)));
      names.push(`replace ${String(s.key)}`);
    } else if (r < 0.72) {
      if (Array.isArray(s.parent)) s.parent.splice(s.key as number, 1);
      else delete s.parent[s.key as string];
      names.push(`delete ${String(s.key)}`);
    } else if (r < 0.8) {
      if (Array.isArray(s.parent)) s.parent.push(garbage(rng));
      else setKey(s.parent, pick(rng, ['extra', 'type', '__proto__', 'constructor', 'hasOwnProperty']), garbage(rng));
      names.push('add');
    } else if (r < 0.88) {
      // Grow an array past its bound with copies of one of its items.
      const arr = Array.isArray(s.parent) ? s.parent : null;
      if (arr && arr.length > 0) {
        const n = pick(rng, [MAX_PEERS_PER_LIST + 1, MAX_WINDOW_SEGMENTS + 1, MAX_PIECES_PER_SEGMENT + 1]);
        const item = arr[0] ?? null;
        while (arr.length < n) arr.push(item);
        names.push(`grow to ${n}`);
      } else {
        setSlot(s, [getSlot(s)]);
        names.push('wrap in array');
      }
    } else {
      setSlot(s, { value: getSlot(s) });
      names.push('wrap in object');
    }
  }
  return names.join('+');
}

/** Text literals JSON.stringify never writes: some are valid JSON with odd values, some are not JSON. */
const NUMBER_LITERALS = ['-0', '1e400', '-1e400', '1E2', '1.0', '0.1e1', '9007199254740993', '1e-400', 'NaN', 'Infinity', '00', '01', '+1', '.5', '1.', '0x1', '-'];
const TEXT_CHARS = '{}[]",:0123456789-+.eEtrufalsn \\/u\n\t';

const TEXT_MUTATORS: readonly (readonly [string, (rng: Rng, s: string) => string])[] = [
  [
    'char',
    (rng, s) => {
      const at = between(rng, 0, Math.max(0, s.length - 1));
      return s.slice(0, at) + pick(rng, [...TEXT_CHARS]) + s.slice(at + 1);
    },
  ],
  ['truncate', (rng, s) => s.slice(0, between(rng, 0, Math.max(0, s.length - 1)))],
  [
    'insert',
    (rng, s) => {
      const at = between(rng, 0, s.length);
      return s.slice(0, at) + randomString(rng, TEXT_CHARS, between(rng, 1, 6)) + s.slice(at);
    },
  ],
  [
    'delete',
    (rng, s) => {
      const at = between(rng, 0, s.length);
      return s.slice(0, at) + s.slice(at + between(rng, 1, 6));
    },
  ],
  [
    'duplicate-slice',
    (rng, s) => {
      const a = between(rng, 0, s.length);
      const b = between(rng, a, Math.min(s.length, a + 80));
      const at = between(rng, 0, s.length);
      return s.slice(0, at) + s.slice(a, b) + s.slice(at);
    },
  ],
  [
    'number-literal',
    (rng, s) => {
      const nums = [...s.matchAll(/(?<=[:,[])-?\d+(\.\d+)?([eE][+-]?\d+)?/g)];
      if (nums.length === 0) return s;
      const m = pick(rng, nums);
      return s.slice(0, m.index) + pick(rng, NUMBER_LITERALS) + s.slice((m.index ?? 0) + m[0].length);
    },
  ],
  [
    'deep-nesting',
    (rng, s) => {
      const d = pick(rng, [10, 100, 1_000]);
      return s.replace(/:(\{|\[|"|\d|t|f|n)/, `:${'['.repeat(d)}${']'.repeat(d)},"_":$1`);
    },
  ],
];

function checkPeerToTracker(v: PeerToTracker, what: () => string): void {
  const keys = (o: object, expected: string[]) => check(Object.keys(o).sort().join() === [...expected].sort().join(), `fields ${Object.keys(o).join()}`, what);
  const int = (n: unknown, lo: number, hi: number, name: string) =>
    check(typeof n === 'number' && Number.isSafeInteger(n) && n >= lo && n <= hi, `${name} = ${String(n)}`, what);
  switch (v.type) {
    case 'join':
      keys(v, ['type', 'version', 'streamId', 'peerId', 'url', 'uploadKbps']);
      check(v.version === PROTOCOL_VERSION, 'join version', what);
      check(ID.test(v.streamId) && ID.test(v.peerId), 'join ids', what);
      check(v.url === null || (typeof v.url === 'string' && WS.test(v.url) && v.url.length <= MAX_URL_LENGTH), 'join url', what);
      int(v.uploadKbps, 0, 100_000_000, 'uploadKbps');
      break;
    case 'announce':
      keys(v, ['type', 'stats']);
      keys(v.stats, ['p2pBytes', 'originBytes', 'uploadedBytes', 'stalls', 'stallMs', 'neighbours', 'hashFailures']);
      for (const [k, n] of Object.entries(v.stats)) int(n, 0, MAX_COUNTER_VALUE, k);
      break;
    case 'get-peers':
      keys(v, ['type', 'max']);
      int(v.max, 1, MAX_PEERS_PER_LIST, 'max');
      break;
    case 'leave':
      keys(v, ['type']);
      break;
    default:
      failCase(`unexpected type ${JSON.stringify(v)} on ${what()}`);
  }
}

function checkTrackerToPeer(v: TrackerToPeer, what: () => string): void {
  const keys = (o: object, expected: string[]) => check(Object.keys(o).sort().join() === [...expected].sort().join(), `fields ${Object.keys(o).join()}`, what);
  const int = (n: unknown, lo: number, hi: number, name: string) =>
    check(typeof n === 'number' && Number.isSafeInteger(n) && n >= lo && n <= hi, `${name} = ${String(n)}`, what);
  const segment = (s: SegmentAnnouncement) => {
    keys(s, ['seq', 'durationMs', 'size', 'sha256', 'pieceHashes', 'publishedAtMs', 'discontinuity']);
    int(s.seq, 0, 0xffff_ffff, 'seq');
    int(s.durationMs, 1, MAX_SEGMENT_DURATION_MS, 'durationMs');
    int(s.size, 1, MAX_SEGMENT_BYTES, 'size');
    int(s.publishedAtMs, 0, MAX_PUBLISHED_AT_MS, 'publishedAtMs');
    check(typeof s.sha256 === 'string' && HEX_HASH.test(s.sha256), 'sha256', what);
    check(Array.isArray(s.pieceHashes) && s.pieceHashes.length >= 1 && s.pieceHashes.length <= MAX_PIECES_PER_SEGMENT, 'pieceHashes count', what);
    for (const h of s.pieceHashes) check(typeof h === 'string' && B64URL_HASH.test(h), 'piece hash', what);
    check(typeof s.discontinuity === 'boolean', 'discontinuity', what);
  };
  const signed = (a: SignedAnnouncement) => {
    keys(a, ['segment', 'record', 'signature']);
    segment(a.segment);
    check(a.record instanceof Uint8Array && a.record.byteLength === 51 + 32 * a.segment.pieceHashes.length, 'record length', what);
    check(a.signature instanceof Uint8Array && a.signature.byteLength === SIGNATURE_BYTES, 'signature length', what);
    check(sameBytes(a.record, encodeSegmentRecord(a.segment)), 'the record is not the encoding of the segment it decoded as', what);
  };
  const peers = (ps: { peerId: string; url: string }[]) => {
    check(Array.isArray(ps) && ps.length <= MAX_PEERS_PER_LIST, 'peer count', what);
    for (const p of ps) {
      keys(p, ['peerId', 'url']);
      check(ID.test(p.peerId) && WS.test(p.url) && p.url.length <= MAX_URL_LENGTH, 'peer address', what);
    }
  };
  switch (v.type) {
    case 'welcome':
      keys(v, ['type', 'version', 'streamId', 'peerId', 'pieceSize', 'announceIntervalMs', 'originTimeMs', 'segments', 'peers', 'fetchToken', 'originKey']);
      check(v.version === PROTOCOL_VERSION, 'welcome version', what);
      check(ID.test(v.streamId) && ID.test(v.peerId), 'welcome ids', what);
      int(v.pieceSize, MIN_PIECE_SIZE, MAX_PIECE_SIZE, 'pieceSize');
      int(v.announceIntervalMs, 100, 600_000, 'announceIntervalMs');
      int(v.originTimeMs, 0, MAX_COUNTER_VALUE, 'originTimeMs');
      check(Array.isArray(v.segments) && v.segments.length <= MAX_WINDOW_SEGMENTS, 'segment count', what);
      v.segments.forEach(signed);
      peers(v.peers);
      check(FETCH_TOKEN_PATTERN.test(v.fetchToken), 'fetchToken', what);
      check(ORIGIN_KEY_PATTERN.test(v.originKey), 'originKey', what);
      break;
    case 'segment':
      keys(v, ['type', 'announcement']);
      signed(v.announcement);
      break;
    case 'segment-part': {
      keys(v, ['type', 'announcement']);
      const a = v.announcement;
      keys(a, ['partial', 'record', 'signature']);
      const p = a.partial;
      keys(p, ['seq', 'first', 'pieceHashes', 'openedAtMs', 'discontinuity']);
      int(p.seq, 0, 0xffff_ffff, 'seq');
      int(p.openedAtMs, 0, MAX_PUBLISHED_AT_MS, 'openedAtMs');
      int(p.first, 0, MAX_PIECES_PER_SEGMENT - 1, 'first');
      check(Array.isArray(p.pieceHashes) && p.pieceHashes.length >= 1 && p.first + p.pieceHashes.length <= MAX_PIECES_PER_SEGMENT, 'partial hash count', what);
      for (const h of p.pieceHashes) check(typeof h === 'string' && B64URL_HASH.test(h), 'piece hash', what);
      check(typeof p.discontinuity === 'boolean', 'discontinuity', what);
      check(a.record instanceof Uint8Array && a.record.byteLength === 15 + 32 * p.pieceHashes.length, 'record length', what);
      check(a.signature instanceof Uint8Array && a.signature.byteLength === SIGNATURE_BYTES, 'signature length', what);
      check(sameBytes(a.record, encodePartialRecord(p)), 'the record is not the encoding of the partial it decoded as', what);
      break;
    }
    case 'seed':
      keys(v, ['type', 'seq', 'piece', 'data']);
      int(v.seq, 0, 0xffff_ffff, 'seed seq');
      int(v.piece, 0, MAX_PIECES_PER_SEGMENT - 1, 'seed piece index');
      check(v.data.byteLength >= 1 && v.data.byteLength <= MAX_PIECE_SIZE, 'seed piece size', what);
      break;
    case 'peers':
      keys(v, ['type', 'peers']);
      peers(v.peers);
      break;
    case 'error':
      keys(v, ['type', 'code', 'message']);
      check(typeof v.code === 'string' && /^[A-Z0-9_]{1,64}$/.test(v.code), 'error code', what);
      check(typeof v.message === 'string' && v.message.length <= 1024, 'error message', what);
      break;
    default:
      failCase(`unexpected type ${JSON.stringify(v)} on ${what()}`);
  }
}

function hasNegativeZero(v: unknown): boolean {
  if (typeof v === 'number') return Object.is(v, -0);
  if (v === null || typeof v !== 'object') return false;
  return Object.values(v).some(hasNegativeZero);
}

function fuzzJson<T>(
  name: string,
  seed: number,
  decode: (text: string) => Decoded<T>,
  checkValue: (v: T, what: () => string) => void,
  ownText: (rng: Rng) => string,
  encode: (v: T) => string,
  otherText: (rng: Rng) => string,
): Tally {
  const rng = seededRng(seed);
  const tally = new Tally();
  const feed = (source: string, text: string, describe: () => string) => {
    tally.count(source);
    const what = () => `${name} case ${tally.frames} (${source}) ${describe()}: ${text.length} chars: ${JSON.stringify(text.slice(0, 200))}`;
    const v = run(decode, text, tally, what);
    if (v === undefined) return;
    checkValue(v, what);
    const reencoded = encode(v);
    const again = decode(reencoded);
    check(again.ok, 're-encoded message was rejected', what);
    if (again.ok) check(encode(again.value) === reencoded, 'decode(encode(v)) differs from v', what);
    if (hasNegativeZero(v)) tally.note('accepted -0 (re-encodes as 0)');
  };

  // 1. Edge lengths, including exactly the limit and one past it.
  const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - s.length));
  const sample = ownText(rng);
  for (const n of [0, 1, MAX_TRACKER_MESSAGE_BYTES, MAX_TRACKER_MESSAGE_BYTES + 1]) {
    feed('edge-length', pad(sample, n).slice(0, Math.max(n, 0)), () => `padded valid message, length ${n}`);
    feed('edge-length', 'x'.repeat(n), () => `x * ${n}`);
    feed('edge-length', `{"type":"${'a'.repeat(Math.max(0, n - 11))}"}`, () => `long type, length ~${n}`);
  }
  // Arrays of 10^5 items in each array field, and as the message itself.
  for (const field of ['peers', 'segments', 'pieceHashes', 'stats', 'type']) {
    const items = pick(rng, ['0', '{}', '"AAAA"', 'null', '[]']);
    const big = `[${new Array(100_000).fill(items).join(',')}]`;
    feed('array-1e5', `{"type":"${field === 'pieceHashes' ? 'segment' : 'welcome'}","${field}":${big}}`, () => `${field}: 1e5 x ${items}`);
    feed('array-1e5', `{"type":"segment","segment":{"pieceHashes":${big}}}`, () => `segment.pieceHashes: 1e5 x ${items}`);
    feed('array-1e5', big, () => `top-level array of 1e5 ${items}`);
  }
  // Nesting 10^5 deep, where a field is expected and as the message.
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  const deepObj = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
  for (const nested of [deep, deepObj]) {
    feed('deep-nesting', nested, () => 'nested 1e5 deep');
    for (const field of ['stats', 'segment', 'peers', 'segments', 'type']) {
      feed('deep-nesting', `{"type":"${field === 'stats' ? 'announce' : field === 'segment' ? 'segment' : 'welcome'}","${field}":${nested}}`, () => `${field} nested 1e5 deep`);
    }
  }

  // 2. Every truncation of a few valid messages.
  for (let i = 0; i < 40; i++) {
    const text = ownText(rng);
    if (text.length > 3000) continue;
    for (let n = 0; n < text.length; n++) feed('truncate-all', text.slice(0, n), () => `prefix ${n}`);
  }

  // 3. Valid messages, structured mutations, text mutations, the other direction and random text, CASES of them, by fast-check.
  type JsonCase =
    | { source: 'valid' | 'other-direction' | 'random-json'; base: number }
    | { source: 'field-mutation'; base: number; seed: number }
    | { source: 'text-mutation'; base: number; ops: Mutation[] }
    | { source: 'random-text'; text: string };
  const base = genSeed;
  const arb: fc.Arbitrary<JsonCase> = fc.oneof(
    { weight: 10, arbitrary: base.map((b): JsonCase => ({ source: 'valid', base: b })) },
    { weight: 45, arbitrary: fc.record({ base, seed: genSeed }).map((c): JsonCase => ({ source: 'field-mutation', ...c })) },
    { weight: 30, arbitrary: fc.record({ base, ops: fc.array(mutation(TEXT_MUTATORS.length), { minLength: 1, maxLength: 2, size: 'xsmall' }) }).map((c): JsonCase => ({ source: 'text-mutation', ...c })) },
    { weight: 5, arbitrary: base.map((b): JsonCase => ({ source: 'other-direction', base: b })) },
    { weight: 5, arbitrary: base.map((b): JsonCase => ({ source: 'random-json', base: b })) },
    {
      weight: 5,
      arbitrary: fc
        .oneof(
          { weight: 7, arbitrary: fc.string({ unit: fc.constantFrom(...TEXT_CHARS), maxLength: 300 }) },
          // Any UTF-16 code unit, lone surrogates included.
          { weight: 3, arbitrary: fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u)), maxLength: 300 }) },
        )
        .map((text): JsonCase => ({ source: 'random-text', text })),
    },
  );
  generated(seed, arb, (c) => {
    if (c.source === 'random-text') return feed('random-text', c.text, () => 'random text');
    const r = seededRng(c.base);
    switch (c.source) {
      case 'valid':
        return feed('valid', ownText(r), () => `valid message (generator seed ${c.base})`);
      case 'other-direction':
        return feed('other-direction', otherText(r), () => `message of the other direction (generator seed ${c.base})`);
      case 'random-json':
        return feed('random-json', JSON.stringify(randomJson(r, 6)), () => `random JSON (generator seed ${c.base})`);
      case 'field-mutation': {
        const msg = JSON.parse(ownText(r)) as { [k: string]: Json };
        const how = mutateJson(seededRng(c.seed), msg);
        return feed('field-mutation', JSON.stringify(msg), () => `${how} (generator seeds ${c.base}, ${c.seed})`);
      }
      case 'text-mutation': {
        let text = ownText(r);
        for (const op of c.ops) text = (TEXT_MUTATORS[op.m] as (typeof TEXT_MUTATORS)[number])[1](seededRng(op.seed), text);
        return feed('text-mutation', text, () => `${c.ops.map((op) => TEXT_MUTATORS[op.m]?.[0]).join('+')} (generator seeds ${c.base}, ${c.ops.map((op) => op.seed).join(', ')})`);
      }
    }
  }, CASES);
  return tally;
}

// ---------------------------------------------------------------- the tests

describe('decoders never throw and keep their bounds on random and mutated input', () => {
  test('decodeWire', (t) => {
    const t0 = performance.now();
    const tally = withoutStacks(fuzzWire);
    for (const line of tally.summary('decodeWire', performance.now() - t0)) t.diagnostic(line);
    assert.ok(tally.frames >= CASES);
    assert.ok(tally.accepted > 0 && tally.rejected > 0);
    for (const code of ['ERR_TOO_LARGE', 'ERR_MALFORMED', 'ERR_UNKNOWN_TYPE', 'ERR_BAD_FIELD']) assert.ok(tally.codes.has(code), `no ${code} seen`);
    const types = ['handshake', 'bitfield', 'have', 'interested', 'not-interested', 'choke', 'unchoke', 'request', 'cancel', 'reject', 'piece', 'keep-alive'];
    for (const type of types) assert.ok((tally.acceptedTypes.get(type) ?? 0) >= 100, `only ${tally.acceptedTypes.get(type) ?? 0} ${type} accepted`);
  });

  test('decodeTrackerToPeer, binary frames', (t) => {
    const t0 = performance.now();
    const tally = withoutStacks(fuzzTrackerBinary);
    for (const line of tally.summary('decodeTrackerToPeer (binary)', performance.now() - t0)) t.diagnostic(line);
    assert.ok(tally.frames >= CASES);
    assert.ok(tally.accepted > 0 && tally.rejected > 0);
    for (const code of ['ERR_TOO_LARGE', 'ERR_MALFORMED', 'ERR_UNKNOWN_TYPE', 'ERR_BAD_FIELD']) assert.ok(tally.codes.has(code), `no ${code} seen`);
    for (const type of ['seed', 'segment']) assert.ok((tally.acceptedTypes.get(type) ?? 0) >= 100, `only ${tally.acceptedTypes.get(type) ?? 0} ${type} accepted`);
  });

  test('decodePeerToTracker', (t) => {
    const t0 = performance.now();
    const tally = withoutStacks(() =>
      fuzzJson('decodePeerToTracker', SEED + 2, decodePeerToTracker, checkPeerToTracker, (r) => encodePeerToTracker(randomPeerToTracker(r)), encodePeerToTracker, (r) => trackerText(randomTrackerToPeer(r))),
    );
    for (const line of tally.summary('decodePeerToTracker', performance.now() - t0)) t.diagnostic(line);
    assert.ok(tally.frames >= CASES);
    assert.ok(tally.accepted > 0 && tally.rejected > 0);
    for (const code of KNOWN_CODES) assert.ok(tally.codes.has(code), `no ${code} seen`);
    for (const type of ['join', 'announce', 'get-peers', 'leave']) assert.ok((tally.acceptedTypes.get(type) ?? 0) >= 100, `only ${tally.acceptedTypes.get(type) ?? 0} ${type} accepted`);
  });

  test('decodeTrackerToPeer, text frames', (t) => {
    const t0 = performance.now();
    const tally = withoutStacks(() =>
      fuzzJson('decodeTrackerToPeer', SEED + 3, decodeTrackerToPeer, checkTrackerToPeer, (r) => trackerText(randomTrackerToPeer(r)), trackerText, (r) => encodePeerToTracker(randomPeerToTracker(r))),
    );
    for (const line of tally.summary('decodeTrackerToPeer', performance.now() - t0)) t.diagnostic(line);
    assert.ok(tally.frames >= CASES);
    assert.ok(tally.accepted > 0 && tally.rejected > 0);
    for (const code of KNOWN_CODES) assert.ok(tally.codes.has(code), `no ${code} seen`);
    for (const type of ['welcome', 'peers', 'error']) assert.ok((tally.acceptedTypes.get(type) ?? 0) >= 100, `only ${tally.acceptedTypes.get(type) ?? 0} ${type} accepted`);
  });
});
