import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LiveWindow } from '../../origin/live-window.ts';
import { LinkShaper } from '../../peer-node/link.ts';
import type { Neighbour } from '../../peer-node/neighbour.ts';
import { SegmentStore } from '../../peer-node/segment-store.ts';
import { newCounters } from '../../peer-node/swarm-counters.ts';
import { Uploader } from '../../peer-node/uploader.ts';
import { generateSigner } from '../../shared/announcement-signature.ts';
import { ManualClock } from '../../shared/clock.ts';
import { pieceRange } from '../../shared/segment.ts';
import { TokenBucket } from '../../shared/token-bucket.ts';
import type { WireMessage } from '../../shared/wire-protocol.ts';
import { testNeighbour } from '../helpers/neighbour.ts';

/**
 * The upload on its own, on a manual clock: what it sends, in what order,
 * and what it refuses. The swarm's part (framing, the link) is played by a
 * `send` that passes pieces through the shaper as the swarm does.
 */

const PIECE = 16 * 1024;
const SEGMENT_BYTES = 4 * PIECE;
/** A 16 KiB piece takes 131 ms at this rate. */
const UPLOAD_KBPS = 1000;

function setup(relay: 'push' | 'pull') {
  const clock = new ManualClock(1_000_000);
  const store = new SegmentStore(30, PIECE, clock);
  const origin = new LiveWindow(10, PIECE, generateSigner());
  const data = Buffer.alloc(SEGMENT_BYTES, 7);
  const segment = origin.publish(data, 1000, false, clock.nowMs());
  const seq = segment.info.seq;
  store.announce(segment.info, clock.nowMs());
  for (let i = 0; i < 4; i++) {
    const { start, end } = pieceRange(SEGMENT_BYTES, PIECE, i);
    assert.equal(store.putPiece(seq, i, data.subarray(start, end), clock.nowMs()), 'stored');
  }
  const shaper = new LinkShaper({ uploadKbps: UPLOAD_KBPS, downloadKbps: 0, latencyMs: 0 }, clock);
  const counters = newCounters();
  const neighbours: Neighbour[] = [];
  const sent: { to: Neighbour; msg: WireMessage }[] = [];
  let chokerCalls = 0;
  const uploader: Uploader = new Uploader({
    relay,
    clock,
    store,
    shaper,
    counters,
    handshaken: () => neighbours,
    isConnected: (n) => neighbours.includes(n),
    send: (to, msg) => {
      if (msg.type !== 'piece') return void sent.push({ to, msg });
      const bytes = msg.data.byteLength;
      uploader.handedToShaper(bytes);
      shaper.upload(bytes, () => {
        if (!uploader.leftShaper(to, msg.seq, msg.piece, bytes)) return;
        // As the swarm does: from now on it holds the piece.
        to.markHas(msg.seq, msg.piece, 4);
        sent.push({ to, msg });
      }, true);
    },
    rerunChoker: () => void chokerCalls++,
  });
  /** A handshaken neighbour that has sent us a piece (no newcomer's allowance), unchoked and interested unless told. */
  const neighbour = (more: Partial<Neighbour> = {}): Neighbour => {
    const n = testNeighbour(clock, `n${neighbours.length}`, { amChoking: false, peerInterested: true, lastPieceAtMs: clock.nowMs(), ...more });
    neighbours.push(n);
    return n;
  };
  const pieces = () => sent.filter((s) => s.msg.type === 'piece').map((s) => [s.to.peerId, (s.msg as { piece: number }).piece]);
  return { clock, seq, uploader, counters, neighbour, sent, pieces, chokerCalls: () => chokerCalls };
}

describe('the upload', () => {
  test('sends accepted requests one at a time in the order they came, skipping one cancelled while it waited', () => {
    const u = setup('pull');
    const a = u.neighbour();
    const b = u.neighbour();
    u.uploader.serve(a, u.seq, 0);
    u.uploader.serve(b, u.seq, 1);
    u.uploader.serve(a, u.seq, 2);
    // The first went to the shaper at once; the others wait for it, and b cancels (as a cancel message does) before its turn.
    u.clock.advance(50);
    assert.deepEqual(u.pieces(), []);
    b.uploadWaiting.clear();
    u.clock.advance(1000);
    assert.deepEqual(u.pieces(), [['n0', 0], ['n0', 2]]);
    assert.equal(a.uploadWaiting.size, 0);
  });

  test('refuses a request from a neighbour it chokes, and one for a piece it lacks', () => {
    const u = setup('pull');
    const a = u.neighbour({ amChoking: true });
    const b = u.neighbour();
    u.uploader.serve(a, u.seq, 0);
    u.uploader.serve(b, u.seq + 1, 0);
    u.clock.advance(1000);
    assert.deepEqual(
      u.sent.map((s) => [s.to.peerId, s.msg.type]),
      [['n0', 'reject'], ['n1', 'reject']],
    );
  });

  test('with push, pushes a fresh piece to neighbours that lack it, never to one that holds it', () => {
    const u = setup('push');
    const holder = u.neighbour();
    u.neighbour(); // n1, which lacks it
    holder.markHas(u.seq, 3, 4);
    u.uploader.stored(u.seq, 3, u.clock.nowMs());
    u.clock.advance(1000);
    assert.deepEqual(u.pieces(), [['n1', 3]]);
    assert.equal(u.counters.piecesPushed, 1);
  });

  test("with push, a piece the origin seeded us goes out before the requests waiting", () => {
    const u = setup('push');
    const a = u.neighbour();
    u.neighbour(); // n1
    // Piece 0 goes to the shaper at once; 1 and 2 wait behind it, so n0's queue is full for pushes and n1 gets the seed.
    u.uploader.serve(a, u.seq, 0);
    u.uploader.serve(a, u.seq, 1);
    u.uploader.serve(a, u.seq, 2);
    u.uploader.stored(u.seq, 3, u.clock.nowMs(), true);
    u.clock.advance(2000);
    assert.deepEqual(u.pieces(), [['n0', 0], ['n1', 3], ['n0', 1], ['n0', 2]]);
  });

  test('with pull, pushes nothing', () => {
    const u = setup('pull');
    u.neighbour();
    u.uploader.stored(u.seq, 3, u.clock.nowMs());
    u.clock.advance(1000);
    assert.deepEqual(u.pieces(), []);
  });

  test("a newcomer's allowance bounds what it gets until it gives: once spent, it is refused and the choker is told", () => {
    const u = setup('pull');
    const now = u.clock.nowMs();
    const newcomer = u.neighbour({ lastPieceAtMs: null, everUnchokedUs: false, newcomerAllowance: new TokenBucket(0, PIECE, now) });
    assert.equal(u.uploader.allowanceSpent(newcomer, now), false);
    u.uploader.serve(newcomer, u.seq, 0);
    assert.equal(u.uploader.allowanceSpent(newcomer, now), true);
    assert.equal(u.chokerCalls(), 1);
    u.uploader.serve(newcomer, u.seq, 1);
    u.clock.advance(1000);
    // The refusal goes at once, the piece once the upload has carried it.
    assert.deepEqual(
      u.sent.map((s) => [s.msg.type, (s.msg as { piece: number }).piece]),
      [['reject', 1], ['piece', 0]],
    );
  });

  test('nothing goes out once closed', () => {
    const u = setup('push');
    const a = u.neighbour();
    u.uploader.serve(a, u.seq, 0);
    u.uploader.serve(a, u.seq, 1);
    u.uploader.close();
    u.clock.advance(1000);
    assert.deepEqual(u.pieces(), [['n0', 0]]);
  });
});
