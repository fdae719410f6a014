import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Neighbour } from '../../peer-node/neighbour.ts';
import { MAX_OPEN_SEGMENTS, SegmentStore } from '../../peer-node/segment-store.ts';
import type { Link } from '../../peer-node/link.ts';
import { hashPieces, sha256Hex } from '../../shared/hashing.ts';
import { seededRng } from '../../shared/rng.ts';
import { type PartialAnnouncement, type SegmentAnnouncement, pieceRange } from '../../shared/segment.ts';

/**
 * The store's open entries (progressive announcement in low-latency mode):
 * segments the origin is still receiving, known by partial announcements of
 * their first pieces, whose pieces are traded before they are whole.
 */

const PIECE = 16384;
const SIZE = 40_000; // 3 pieces: 16384, 16384, 7232; the partials carry the first two
const NOW = 5_000;

interface Seg {
  info: SegmentAnnouncement;
  data: Uint8Array;
  piece(i: number): Uint8Array;
  /** The partial of pieces first .. first + count - 1. */
  part(first: number, count: number): PartialAnnouncement;
}

function seg(seq: number, seed = seq + 1, size = SIZE): Seg {
  const rng = seededRng(seed);
  const data = Uint8Array.from({ length: size }, () => Math.floor(rng() * 256));
  const info: SegmentAnnouncement = {
    seq,
    durationMs: 1000,
    size,
    sha256: sha256Hex(data),
    pieceHashes: hashPieces(data, PIECE),
    publishedAtMs: 0,
    discontinuity: false,
  };
  return {
    info,
    data,
    piece(i) {
      const { start, end } = pieceRange(size, PIECE, i);
      return data.subarray(start, end);
    },
    part: (first, count) => ({ seq, first, pieceHashes: info.pieceHashes.slice(first, first + count), openedAtMs: 0, discontinuity: false }),
  };
}

/** A store that knows segment 10 whole, as a node in the stream does. */
function storeAt10(): { store: SegmentStore; changes: () => number } {
  const store = new SegmentStore(10, PIECE);
  assert.equal(store.announce(seg(10).info, NOW), true);
  let changes = 0;
  store.onChange(() => changes++);
  return { store, changes: () => changes };
}

describe('open entries of the segment store', () => {
  test('a first partial opens a segment newer than any known: its pieces are taken, checked against its hashes, and nothing lists it', () => {
    const { store, changes } = storeAt10();
    const s = seg(11);
    assert.equal(store.extend(s.part(0, 1), NOW), true);
    assert.equal(changes(), 1);
    const open = store.getOpen(11);
    assert.ok(open);
    assert.deepEqual(open.pieceHashes, s.info.pieceHashes.slice(0, 1));
    assert.equal(store.knows(11), true);
    assert.equal(store.get(11), undefined, 'not an announced segment: no listing, deadline, HTTP or origin fetch sees it');
    assert.deepEqual(store.all().map((e) => e.info.seq), [10]);
    assert.equal(store.newestSeq(), 10);
    assert.equal(store.size, 1);
    assert.equal(store.putPiece(11, 0, seg(12).piece(0), NOW), 'bad-hash');
    assert.equal(store.putPiece(11, 0, s.piece(0).subarray(1), NOW), 'bad-hash');
    assert.equal(store.putPiece(11, 1, s.piece(1), NOW), 'unknown-piece', 'its hash has not come yet');
    assert.equal(store.putPiece(11, -1, s.piece(0), NOW), 'bad-index');
    assert.equal(store.putPiece(11, 0, s.piece(0), NOW + 1), 'stored');
    assert.equal(store.putPiece(11, 0, s.piece(0), NOW + 2), 'duplicate');
    assert.deepEqual(store.getPiece(11, 0), s.piece(0));
    assert.equal(store.hasPiece(11, 0), true);
    assert.ok(store.getPieceFrame(11, 0));
    assert.equal(store.segmentData(11), null);
    assert.equal(open.firstPieceAtMs, NOW + 1);
    assert.equal(store.maxPieces(11), 1024, 'an open segment may have any number of pieces yet');
    assert.equal(store.maxPieces(10), 3);
  });

  test('a partial extends an open entry only where it carries on from its last known piece; a gap or an overlap is ignored', () => {
    const { store } = storeAt10();
    const s = seg(11, 5, 5 * PIECE + 100);
    assert.equal(store.extend(s.part(0, 1), NOW), true);
    assert.equal(store.extend(s.part(2, 1), NOW), false, 'piece 1 missed: a gap');
    assert.equal(store.extend(s.part(0, 2), NOW), false, 'overlap');
    assert.equal(store.getOpen(11)?.pieceHashes.length, 1);
    assert.equal(store.extend(s.part(1, 2), NOW), true);
    assert.deepEqual(store.getOpen(11)?.pieceHashes, s.info.pieceHashes.slice(0, 3));
    assert.equal(store.pieceSlots(11)?.length, 3);
    assert.equal(store.putPiece(11, 2, s.piece(2), NOW), 'stored');
  });

  test('no entry is opened by a later partial, for a segment known whole or older, nor behind another open one', () => {
    const { store } = storeAt10();
    assert.equal(store.extend(seg(11).part(1, 1), NOW), false, 'its first partial was missed');
    assert.equal(store.extend(seg(10).part(0, 1), NOW), false, 'known whole');
    assert.equal(store.extend(seg(9).part(0, 1), NOW), false, 'older than the newest known');
    assert.equal(store.extend(seg(12).part(0, 1), NOW), true);
    assert.equal(store.extend(seg(11).part(0, 1), NOW), false, 'behind an open one');
    assert.equal(store.extend({ ...seg(13).part(0, 1), pieceHashes: [] }, NOW), false, 'no hash');
    assert.deepEqual(store.allOpen().map((o) => o.seq), [12]);
  });

  test('the whole announcement completes the entry, keeping the pieces it holds, and the rest are checked against it', () => {
    const { store } = storeAt10();
    const s = seg(11);
    const completed: number[] = [];
    store.onComplete((e) => completed.push(e.info.seq));
    store.extend(s.part(0, 1), NOW);
    store.extend(s.part(1, 1), NOW);
    assert.equal(store.putPiece(11, 1, s.piece(1), NOW + 10), 'stored');
    assert.equal(store.announce(s.info, NOW + 500), true);
    assert.equal(store.getOpen(11), undefined);
    const e = store.get(11);
    assert.ok(e);
    assert.equal(e.held, 1);
    assert.deepEqual(e.pieces[1], s.piece(1));
    assert.equal(e.announcedAtMs, NOW + 500, 'deadlines and the list delay are reckoned from the whole announcement');
    assert.equal(e.firstPieceAtMs, NOW + 10);
    assert.equal(e.earlyBytes, PIECE);
    assert.equal(e.localSeq, 11);
    assert.equal(store.putPiece(11, 2, s.piece(2), NOW + 600), 'stored', 'the short last piece, known from the whole announcement only');
    assert.equal(store.putPiece(11, 0, s.piece(0), NOW + 700), 'stored');
    assert.deepEqual(completed, [11]);
    assert.deepEqual(store.segmentData(11), Buffer.from(s.data));
  });

  test('an entry holding every piece when its whole announcement comes is complete at once', () => {
    const { store } = storeAt10();
    const s = seg(11, 3, 2 * PIECE);
    const completed: number[] = [];
    store.onComplete((e) => completed.push(e.info.seq));
    store.extend(s.part(0, 2), NOW);
    for (const i of [0, 1]) assert.equal(store.putPiece(11, i, s.piece(i), NOW), 'stored');
    assert.equal(store.announce(s.info, NOW + 1), true);
    assert.equal(store.get(11)?.complete, true);
    assert.deepEqual(completed, [11]);
    assert.deepEqual(store.segmentData(11), Buffer.from(s.data));
  });

  test('a whole announcement whose first hashes are not the partials\' drops what the entry held and starts afresh', () => {
    const { store } = storeAt10();
    const died = seg(11, 50);
    const published = seg(11, 51);
    store.extend(died.part(0, 2), NOW);
    assert.equal(store.putPiece(11, 0, died.piece(0), NOW), 'stored');
    assert.equal(store.announce(published.info, NOW + 1), true);
    const e = store.get(11);
    assert.ok(e);
    assert.equal(e.held, 0);
    assert.equal(e.pieces.length, 3);
    assert.equal(store.getPiece(11, 0), null);
    assert.equal(store.putPiece(11, 0, died.piece(0), NOW), 'bad-hash');
    for (const i of [0, 1, 2]) assert.equal(store.putPiece(11, i, published.piece(i), NOW), 'stored');
    assert.deepEqual(store.segmentData(11), Buffer.from(published.data));
  });

  test('a partial naming more whole pieces than the announced segment has is not its prefix either', () => {
    const { store } = storeAt10();
    const big = seg(11, 60, 3 * PIECE);
    const small = { ...big.info, size: 2 * PIECE + 10, pieceHashes: big.info.pieceHashes };
    store.extend(big.part(0, 3), NOW);
    assert.equal(store.putPiece(11, 2, big.piece(2), NOW), 'stored');
    assert.equal(store.announce(small, NOW), true);
    assert.equal(store.get(11)?.held, 0, 'its third piece would be short: the third hash cannot be of a whole piece');
  });

  test("local numbers stay contiguous for the player: an open entry takes one only when whole, and one that died takes none", () => {
    const { store } = storeAt10();
    // 11 opens and dies (its ingest was killed); 12 opens, then is published.
    store.extend(seg(11).part(0, 1), NOW);
    store.putPiece(11, 0, seg(11).piece(0), NOW);
    store.extend(seg(12).part(0, 1), NOW + 100);
    assert.deepEqual(store.allOpen().map((o) => o.seq), [11, 12]);
    assert.equal(store.announce(seg(12).info, NOW + 200), true);
    assert.deepEqual(store.allOpen(), [], 'an older open entry is dead once a newer segment is announced');
    assert.equal(store.knows(11), false);
    assert.equal(store.get(12)?.localSeq, 11, 'no hole where 11 died');
    assert.equal(store.get(12)?.localDiscontinuity, true, "the origin's numbers jumped here");
    assert.equal(store.seqOfLocal(11), 12);
    assert.equal(store.announce(seg(11).info, NOW + 300), false, 'numbers only move forward');
    assert.deepEqual(store.all().map((e) => e.localSeq), [10, 11], 'no twin either');
  });

  test('a segment opened before the one before it is announced whole: both are numbered in order', () => {
    const { store } = storeAt10();
    store.extend(seg(11).part(0, 1), NOW);
    store.extend(seg(12).part(0, 1), NOW + 10);
    assert.equal(store.announce(seg(11).info, NOW + 20), true);
    assert.deepEqual(store.allOpen().map((o) => o.seq), [12]);
    assert.equal(store.announce(seg(12).info, NOW + 1000), true);
    assert.deepEqual(store.all().map((e) => [e.info.seq, e.localSeq, e.localDiscontinuity]), [[10, 10, false], [11, 11, false], [12, 12, false]]);
  });

  test('a node that missed a segment\'s first partial but heard the next one\'s still takes the whole announcement of the first', () => {
    const { store } = storeAt10();
    store.extend(seg(12).part(0, 1), NOW);
    assert.equal(store.announce(seg(11).info, NOW + 1), true);
    assert.equal(store.announce(seg(12).info, NOW + 2), true);
    assert.deepEqual(store.all().map((e) => e.localSeq), [10, 11, 12]);
  });

  test('a first partial with other hashes for an open segment starts it afresh: the origin reused the number of a segment whose ingest died', () => {
    const { store } = storeAt10();
    const replaced: number[] = [];
    store.onReplaced((seq) => replaced.push(seq));
    const died = seg(11, 70);
    const next = seg(11, 71);
    store.extend(died.part(0, 2), NOW);
    assert.equal(store.putPiece(11, 0, died.piece(0), NOW), 'stored');
    assert.equal(store.extend(died.part(0, 1), NOW), false, 'the same first partial again is no news');
    assert.deepEqual(replaced, []);
    assert.equal(store.extend(next.part(0, 1), NOW + 1), true);
    assert.deepEqual(replaced, [11]);
    const open = store.getOpen(11);
    assert.ok(open);
    assert.deepEqual(open.pieceHashes, next.info.pieceHashes.slice(0, 1));
    assert.equal(open.held, 0);
    assert.equal(store.putPiece(11, 0, died.piece(0), NOW), 'bad-hash');
    assert.equal(store.putPiece(11, 0, next.piece(0), NOW), 'stored');
    assert.equal(store.announce(next.info, NOW + 2), true);
    assert.equal(store.get(11)?.held, 1);
    assert.deepEqual(replaced, [11], 'the whole announcement continues the new one');
  });

  test('the store tells when a number comes to stand for other bytes: a whole announcement over an open entry it does not continue, or over another', () => {
    const { store } = storeAt10();
    const replaced: number[] = [];
    store.onReplaced((seq) => replaced.push(seq));
    store.extend(seg(11, 80).part(0, 1), NOW);
    store.announce(seg(11, 81).info, NOW);
    assert.deepEqual(replaced, [11]);
    store.announce(seg(11, 82).info, NOW);
    assert.deepEqual(replaced, [11, 11]);
    store.extend(seg(12).part(0, 1), NOW);
    store.announce(seg(12).info, NOW);
    assert.deepEqual(replaced, [11, 11], 'not when it continues the open entry');
  });

  test(`at most ${MAX_OPEN_SEGMENTS} open entries: the oldest goes`, () => {
    const { store } = storeAt10();
    for (let seq = 11; seq <= 11 + MAX_OPEN_SEGMENTS; seq++) assert.equal(store.extend(seg(seq).part(0, 1), NOW), true);
    assert.deepEqual(store.allOpen().map((o) => o.seq), Array.from({ length: MAX_OPEN_SEGMENTS }, (_, i) => 12 + i));
  });

  test('a new piece size drops open entries with the rest', () => {
    const { store } = storeAt10();
    store.extend(seg(11).part(0, 1), NOW);
    store.setPieceSize(PIECE * 2);
    assert.deepEqual(store.allOpen(), []);
    assert.equal(store.knows(11), false);
  });
});

describe("a neighbour's holdings of a segment whose piece count grows", () => {
  const link: Link = { send: () => {}, close: () => {}, onMessage: () => {}, onClose: () => {}, bufferedAmount: 0 };

  test('a have past the pieces its bitfield named is kept, and counts', () => {
    const n = new Neighbour(link, true, 0, null, '127.0.0.1');
    // Its bitfield named two pieces of an open segment; then it tells of the fifth.
    n.markHas(11, 0, 1024);
    n.markHas(11, 1, 1024);
    const version = n.hasVersion;
    n.markHas(11, 4, 1024);
    assert.equal(n.holds(11, 4), true);
    assert.equal(n.holds(11, 3), false);
    assert.equal(n.hasVersion, version + 1);
    n.markHas(11, 4, 1024);
    assert.equal(n.hasVersion, version + 1, 'told twice, counted once');
  });

  test('a piece past a whole segment\'s count, or negative, is not recorded', () => {
    const n = new Neighbour(link, true, 0, null, '127.0.0.1');
    n.markHas(10, 3, 3);
    n.markHas(10, -1, 3);
    assert.equal(n.has.get(10), undefined);
    assert.equal(n.hasVersion, 0);
  });
});
