import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type PutPieceResult, SegmentStore } from '../../peer-node/segment-store.ts';
import { hashPieces, sha256Hex } from '../../shared/hashing.ts';
import { seededRng } from '../../shared/rng.ts';
import { type SegmentAnnouncement, pieceRange } from '../../shared/segment.ts';
import { PIECE_HEADER_BYTES, decodeWire, encodeWire } from '../../shared/wire-protocol.ts';

const PIECE = 16384;
const SIZE = 40_000; // 3 pieces: 16384, 16384, 7232
const NOW = 5_000;
/** Waiters that must be resolved by the store, never by the timer (no test waits on a real timer). */
const NEVER_MS = 3_600_000;

function bytes(n: number, seed: number): Uint8Array {
  const rng = seededRng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rng() * 256);
  return out;
}

interface Seg {
  data: Uint8Array;
  info: SegmentAnnouncement;
  piece(i: number): Uint8Array;
}

function seg(seq: number, seed = seq + 1, more: Partial<SegmentAnnouncement> = {}, size = SIZE): Seg {
  const data = bytes(size, seed);
  const info: SegmentAnnouncement = {
    seq,
    durationMs: 1000,
    size,
    sha256: sha256Hex(data),
    pieceHashes: hashPieces(data, PIECE),
    publishedAtMs: 0,
    discontinuity: false,
    ...more,
  };
  return {
    data,
    info,
    piece(i) {
      const { start, end } = pieceRange(size, PIECE, i);
      return data.subarray(start, end);
    },
  };
}

function flipped(b: Uint8Array, at: number): Uint8Array {
  const out = Uint8Array.from(b);
  out[at] = (out[at] ?? 0) ^ 0x01;
  return out;
}

/** A store holding `s` announced at NOW. */
function storeWith(s: Seg, capacity = 10): SegmentStore {
  const store = new SegmentStore(capacity, PIECE);
  assert.equal(store.announce(s.info, NOW), true);
  return store;
}

describe('SegmentStore.putPiece', () => {
  const s = seg(7, 99);

  test('the generated segment has the expected pieces', () => {
    assert.equal(s.info.pieceHashes.length, 3);
    assert.deepEqual([0, 1, 2].map((i) => s.piece(i).byteLength), [16384, 16384, 7232]);
  });

  const rows: { name: string; seq: number; piece: number; data: () => Uint8Array; result: PutPieceResult; stored: boolean }[] = [
    { name: 'first piece', seq: 7, piece: 0, data: () => s.piece(0), result: 'stored', stored: true },
    { name: 'short last piece', seq: 7, piece: 2, data: () => s.piece(2), result: 'stored', stored: true },
    { name: 'first piece with one flipped byte', seq: 7, piece: 0, data: () => flipped(s.piece(0), 1000), result: 'bad-hash', stored: false },
    { name: 'last piece with its last byte flipped', seq: 7, piece: 2, data: () => flipped(s.piece(2), 7231), result: 'bad-hash', stored: false },
    { name: 'right bytes, wrong index', seq: 7, piece: 1, data: () => s.piece(0), result: 'bad-hash', stored: false },
    { name: 'one byte short', seq: 7, piece: 0, data: () => s.piece(0).subarray(0, PIECE - 1), result: 'bad-hash', stored: false },
    { name: 'one byte long', seq: 7, piece: 2, data: () => s.data.subarray(2 * PIECE - 1), result: 'bad-hash', stored: false },
    { name: 'empty data', seq: 7, piece: 1, data: () => new Uint8Array(0), result: 'bad-hash', stored: false },
    { name: 'index = piece count', seq: 7, piece: 3, data: () => s.piece(2), result: 'bad-index', stored: false },
    { name: 'index 1023', seq: 7, piece: 1023, data: () => s.piece(0), result: 'bad-index', stored: false },
    { name: 'negative index', seq: 7, piece: -1, data: () => s.piece(0), result: 'bad-index', stored: false },
    { name: 'unknown segment', seq: 8, piece: 0, data: () => s.piece(0), result: 'unknown-segment', stored: false },
  ];

  for (const row of rows) {
    test(`${row.name} -> ${row.result}`, () => {
      const store = storeWith(s);
      assert.equal(store.putPiece(row.seq, row.piece, row.data(), NOW), row.result);
      assert.equal(store.hasPiece(row.seq, row.piece), row.stored);
      if (row.stored) assert.deepEqual(store.getPiece(row.seq, row.piece), s.piece(row.piece));
      else assert.equal(store.getPiece(row.seq, row.piece), null);
      const e = store.get(7);
      assert.ok(e);
      assert.equal(e.held, row.stored ? 1 : 0);
      assert.equal(e.complete, null);
    });
  }

  test('a second copy of a held piece is a duplicate, even a corrupt one, and changes nothing', () => {
    const store = storeWith(s);
    assert.equal(store.putPiece(7, 1, s.piece(1), NOW), 'stored');
    assert.equal(store.putPiece(7, 1, s.piece(1), NOW), 'duplicate');
    assert.equal(store.putPiece(7, 1, flipped(s.piece(1), 0), NOW), 'duplicate');
    assert.equal(store.get(7)?.held, 1);
    assert.deepEqual(store.getPiece(7, 1), s.piece(1));
  });

  test('a piece from a view of a larger buffer is copied: the buffer can be reused afterwards', () => {
    const store = storeWith(s);
    const buffer = new Uint8Array(PIECE + 100);
    buffer.set(s.piece(0), 50);
    assert.equal(store.putPiece(7, 0, buffer.subarray(50, 50 + PIECE), NOW, buffer.subarray(43, 50 + PIECE)), 'stored');
    buffer.fill(0);
    const held = store.getPiece(7, 0);
    assert.ok(held);
    assert.deepEqual(held, s.piece(0));
    assert.equal(held.buffer.byteLength, PIECE + PIECE_HEADER_BYTES, 'the copy holds the piece and its frame header, not the whole buffer');
    assert.deepEqual(decodeWire(store.getPieceFrame(7, 0) ?? new Uint8Array()), { ok: true, value: { type: 'piece', seq: 7, piece: 0, data: s.piece(0) } });
  });

  test('a piece that arrived in a frame of its own keeps that frame: one copy of the bytes however many stores hold them', () => {
    const frame = encodeWire({ type: 'piece', seq: 7, piece: 1, data: s.piece(1) });
    const a = storeWith(s);
    const b = storeWith(s);
    for (const store of [a, b]) assert.equal(store.putPiece(7, 1, frame.subarray(PIECE_HEADER_BYTES), NOW, frame), 'stored');
    assert.equal(a.getPieceFrame(7, 1), frame);
    assert.equal(b.getPieceFrame(7, 1), frame);
    assert.equal(a.getPiece(7, 1)?.buffer, frame.buffer);
  });

  test('a corrupt piece is never assembled; the good piece completes the segment with the exact bytes', async () => {
    const store = storeWith(s);
    const waiting = store.waitComplete(7, NEVER_MS);
    assert.equal(store.putPiece(7, 0, s.piece(0), NOW), 'stored');
    assert.equal(store.putPiece(7, 1, s.piece(1), NOW), 'stored');
    assert.equal(store.putPiece(7, 2, flipped(s.piece(2), 3), NOW + 1), 'bad-hash');
    assert.equal(store.get(7)?.complete, null);
    assert.equal(store.get(7)?.held, 2);
    assert.equal(store.putPiece(7, 2, s.piece(2), NOW + 2), 'stored');
    const whole = await waiting;
    assert.ok(whole);
    assert.deepEqual(new Uint8Array(whole), s.data);
    const e = store.get(7);
    assert.ok(e);
    assert.equal(e.completedAtMs, NOW + 2);
    assert.equal(e.complete, true);
    assert.deepEqual(new Uint8Array(store.segmentData(7) ?? []), s.data);
    for (let i = 0; i < 3; i++) assert.deepEqual(new Uint8Array(store.getPiece(7, i) ?? []), s.piece(i));
  });

  test('pieces arriving in any order assemble to the same bytes', async () => {
    const orders = [[0, 1, 2], [2, 1, 0], [1, 2, 0]];
    for (const order of orders) {
      const store = storeWith(s);
      for (const i of order) assert.equal(store.putPiece(7, i, s.piece(i), NOW), 'stored');
      const whole = await store.waitComplete(7, NEVER_MS);
      assert.deepEqual(whole && new Uint8Array(whole), s.data, `order ${order.join(',')}`);
    }
  });

  test('a one-piece segment completes on its only piece', async () => {
    const small = seg(3, 5, {}, 100);
    const store = storeWith(small);
    assert.equal(small.info.pieceHashes.length, 1);
    const waiting = store.waitComplete(3, NEVER_MS);
    assert.equal(store.putPiece(3, 0, small.data, NOW), 'stored');
    assert.deepEqual(new Uint8Array((await waiting) ?? []), small.data);
  });

  test('pieces that match their hashes but not the segment hash are dropped, not assembled', () => {
    const inconsistent = seg(4, 4, { sha256: sha256Hex(new Uint8Array([0])) });
    const store = storeWith(inconsistent);
    for (let i = 0; i < 3; i++) assert.equal(store.putPiece(4, i, inconsistent.piece(i), NOW), 'stored');
    const e = store.get(4);
    assert.ok(e);
    assert.equal(e.complete, null);
    assert.equal(e.held, 0);
    assert.deepEqual(e.pieces, [null, null, null]);
  });
});

describe('SegmentStore.waitComplete', () => {
  test('resolves at once with the bytes of a complete segment, and null for an unknown one', async () => {
    const s = seg(1);
    const store = storeWith(s);
    for (let i = 0; i < 3; i++) store.putPiece(1, i, s.piece(i), NOW);
    assert.deepEqual(new Uint8Array((await store.waitComplete(1, 0)) ?? []), s.data);
    assert.equal(await store.waitComplete(2, NEVER_MS), null);
  });

  test('every waiter gets the segment', async () => {
    const s = seg(1);
    const store = storeWith(s);
    const waiters = [store.waitComplete(1, NEVER_MS), store.waitComplete(1, NEVER_MS), store.waitComplete(1, NEVER_MS)];
    for (let i = 0; i < 3; i++) store.putPiece(1, i, s.piece(i), NOW);
    for (const w of await Promise.all(waiters)) assert.deepEqual(new Uint8Array(w ?? []), s.data);
  });

  test('resolves null on timeout (mocked timers)', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const s = seg(1);
    const store = storeWith(s);
    let settled: Buffer | null | 'pending' = 'pending';
    const waiting = store.waitComplete(1, 1000).then((v) => (settled = v));
    t.mock.timers.tick(999);
    await Promise.resolve();
    assert.equal(settled, 'pending');
    t.mock.timers.tick(1);
    await waiting;
    assert.equal(settled, null);
    // A late piece still completes the segment for later readers.
    for (let i = 0; i < 3; i++) store.putPiece(1, i, s.piece(i), NOW);
    assert.ok(store.get(1)?.complete);
  });
});

describe('SegmentStore eviction', () => {
  test('segments of 0.5 s: twice as many are kept, the same seconds as 1 s ones', () => {
    const store = new SegmentStore(3, PIECE);
    for (let seq = 10; seq < 20; seq++) assert.equal(store.announce(seg(seq, seq + 1, { durationMs: 500 }).info, NOW), true);
    assert.deepEqual(store.all().map((e) => e.info.seq), [14, 15, 16, 17, 18, 19]);
    assert.equal(store.isEvicted(13), true);
  });
  test('beyond capacity the oldest seq leaves; its waiters get null and it reads as evicted', async () => {
    const store = new SegmentStore(3, PIECE);
    const segs = [10, 11, 12, 13, 14].map((seq) => seg(seq));
    const [s10, s11, s12, s13, s14] = segs as [Seg, Seg, Seg, Seg, Seg];
    for (const s of [s10, s11, s12]) assert.equal(store.announce(s.info, NOW), true);
    store.putPiece(10, 0, s10.piece(0), NOW);
    const w10 = store.waitComplete(10, NEVER_MS);
    const w11 = store.waitComplete(11, NEVER_MS);
    assert.equal(store.isEvicted(10), false);

    assert.equal(store.announce(s13.info, NOW), true);
    assert.equal(await w10, null);
    assert.equal(store.size, 3);
    assert.equal(store.get(10), undefined);
    assert.equal(store.getPiece(10, 0), null);
    assert.equal(store.isEvicted(10), true);
    assert.equal(store.putPiece(10, 1, s10.piece(1), NOW), 'unknown-segment');
    assert.equal(await store.waitComplete(10, NEVER_MS), null);

    assert.equal(store.announce(s14.info, NOW), true);
    assert.equal(await w11, null);
    assert.deepEqual(store.all().map((e) => e.info.seq), [12, 13, 14]);
    const rows: [number, boolean][] = [[9, true], [10, true], [11, true], [12, false], [13, false], [14, false], [15, false], [1000, false]];
    for (const [seq, evicted] of rows) assert.equal(store.isEvicted(seq), evicted, `isEvicted(${seq})`);
    assert.equal(store.newestSeq(), 14);
  });

  test('numbers only move forward: an older segment never held is refused', () => {
    const store = new SegmentStore(2, PIECE);
    assert.deepEqual([20, 22, 21].map((seq) => store.announce(seg(seq).info, NOW)), [true, true, false]);
    assert.deepEqual(store.all().map((e) => e.info.seq), [20, 22]);
  });

  test('a jump in the origin\'s numbers keeps local media sequence numbers contiguous and marks a discontinuity', () => {
    const store = new SegmentStore(10, PIECE);
    for (const seq of [100, 101, 180, 181]) store.announce(seg(seq).info, NOW);
    assert.deepEqual(store.all().map((e) => [e.info.seq, e.localSeq, e.localDiscontinuity]), [
      [100, 100, false],
      [101, 101, false],
      [180, 102, true],
      [181, 103, false],
    ]);
    assert.equal(store.seqOfLocal(102), 180);
    assert.equal(store.seqOfLocal(150), null);
    assert.equal(store.discontinuitiesBefore(181), 1);
  });

  test('a player behind every segment held still has a place: its numbers count on from the oldest held', () => {
    const store = new SegmentStore(3, PIECE);
    for (const seq of [100, 101, 102, 180, 181]) store.announce(seg(seq).info, NOW);
    // Held: 102, 180, 181 as local 102, 103, 104; a player still playing local 99 or 101 fetched them before they went.
    assert.deepEqual(store.all().map((e) => e.localSeq), [102, 103, 104]);
    assert.equal(store.seqOfLocal(101), 101);
    assert.equal(store.seqOfLocal(99), 99);
    assert.equal(store.seqOfLocal(103), 180);
    assert.equal(store.seqOfLocal(105), null, 'no segment numbered past the newest yet');
    assert.equal(new SegmentStore(3, PIECE).seqOfLocal(7), null, 'nothing held: no place');
  });

  test('publishedLocalMs is the local time less the age the origin gave, never in the future', () => {
    const rows: { ageMs: number | undefined; expected: number }[] = [
      { ageMs: undefined, expected: NOW },
      { ageMs: 0, expected: NOW },
      { ageMs: 1500, expected: NOW - 1500 },
      { ageMs: -100, expected: NOW },
    ];
    for (const { ageMs, expected } of rows) {
      const store = new SegmentStore(10, PIECE);
      store.announce(seg(1).info, NOW, ageMs);
      assert.equal(store.get(1)?.publishedLocalMs, expected, `age ${ageMs}`);
      assert.equal(store.get(1)?.announcedAtMs, NOW);
    }
  });

  test('an unchanged re-announcement is not new and keeps what was held', () => {
    const s = seg(5);
    const store = storeWith(s);
    store.putPiece(5, 0, s.piece(0), NOW);
    assert.equal(store.announce(s.info, NOW + 100), false);
    assert.equal(store.hasPiece(5, 0), true);
    assert.equal(store.get(5)?.announcedAtMs, NOW);
  });

  test('an announcement reusing a seq with other bytes replaces the entry', async () => {
    const a = seg(5, 1);
    const b = seg(5, 2);
    assert.notEqual(a.info.sha256, b.info.sha256);
    const store = storeWith(a);
    store.putPiece(5, 0, a.piece(0), NOW);
    const waitingForA = store.waitComplete(5, NEVER_MS);

    assert.equal(store.announce(b.info, NOW + 10), true);
    assert.equal(await waitingForA, null);
    assert.equal(store.get(5)?.info.sha256, b.info.sha256);
    assert.equal(store.get(5)?.announcedAtMs, NOW + 10);
    assert.equal(store.hasPiece(5, 0), false);
    assert.equal(store.isEvicted(5), false);
    assert.equal(store.putPiece(5, 1, a.piece(1), NOW), 'bad-hash');
    for (let i = 0; i < 3; i++) assert.equal(store.putPiece(5, i, b.piece(i), NOW), 'stored');
    assert.deepEqual(new Uint8Array((await store.waitComplete(5, NEVER_MS)) ?? []), b.data);
  });

  test('an announcement whose piece count does not fit the piece size is ignored', () => {
    const store = new SegmentStore(10, PIECE);
    const bad = { ...seg(1).info, pieceHashes: seg(1).info.pieceHashes.slice(0, 2) };
    assert.equal(store.announce(bad, NOW), false);
    assert.equal(store.get(1), undefined);
    assert.equal(store.isEvicted(1), false);
  });

  test('changing the piece size drops every entry; the same size changes nothing', async () => {
    const s = seg(1);
    const store = storeWith(s);
    store.setPieceSize(PIECE);
    assert.equal(store.size, 1);
    const waiting = store.waitComplete(1, NEVER_MS);
    store.setPieceSize(PIECE * 2);
    assert.equal(store.size, 0);
    assert.equal(store.pieceSize, PIECE * 2);
    assert.equal(await waiting, null);
  });

  // Production bug (see the report): announce() evicts the old entry before it checks the new
  // one, so a bad re-announcement of a known seq loses the good entry.
  test('a bad re-announcement of a known seq keeps the entry', () => {
    const a = seg(5, 1);
    const store = storeWith(a);
    const bad = { ...seg(5, 2).info, pieceHashes: [] };
    assert.equal(store.announce(bad, NOW), false);
    assert.equal(store.get(5)?.info.sha256, a.info.sha256);
  });

  // Production bug (see the report): replacing an entry goes through evict(), which counts its
  // discontinuity as evicted and moves oldestEvicted up to the replaced seq.
  test('replacing an entry neither counts its discontinuity twice nor marks older unseen seqs evicted', () => {
    const store = new SegmentStore(10, PIECE);
    store.announce(seg(1).info, NOW);
    store.announce(seg(2, 2, { discontinuity: true }).info, NOW);
    store.announce(seg(3).info, NOW);
    store.announce(seg(2, 99, { discontinuity: true }).info, NOW);
    assert.equal(store.discontinuitiesBefore(5), 1);
    assert.equal(store.discontinuitiesBefore(2), 0);
    assert.equal(store.isEvicted(0), false);
  });
});

describe('SegmentStore.discontinuitiesBefore', () => {
  /** `flags` is one char per seq from `first`: D = discontinuity, . = none. */
  const rows: { name: string; first: number; flags: string; capacity: number; query: number; expected: number }[] = [
    { name: 'empty store', first: 0, flags: '', capacity: 5, query: 10, expected: 0 },
    { name: 'none flagged', first: 0, flags: '.....', capacity: 5, query: 5, expected: 0 },
    { name: 'a discontinuity at the query seq is not before it', first: 0, flags: '..D..', capacity: 5, query: 2, expected: 0 },
    { name: 'one before the query', first: 0, flags: '..D..', capacity: 5, query: 3, expected: 1 },
    { name: 'all before the end', first: 0, flags: 'D.D.D', capacity: 5, query: 5, expected: 3 },
    { name: 'evicted discontinuities still count', first: 0, flags: 'DD......', capacity: 5, query: 3, expected: 2 },
    { name: 'evicted and held', first: 0, flags: 'D....D..', capacity: 5, query: 7, expected: 2 },
    { name: 'evicted count with query at the oldest held seq', first: 100, flags: 'D.D.....', capacity: 5, query: 103, expected: 2 },
  ];
  for (const row of rows) {
    test(`${row.name}: "${row.flags}" before ${row.query} -> ${row.expected}`, () => {
      const store = new SegmentStore(row.capacity, PIECE);
      [...row.flags].forEach((c, i) => {
        const seq = row.first + i;
        assert.equal(store.announce(seg(seq, seq + 1, { discontinuity: c === 'D' }, 100).info, NOW), true);
      });
      assert.equal(store.discontinuitiesBefore(row.query), row.expected);
    });
  }
});
