import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HAVE_BATCH_MS, HaveBatcher, IDLE_HAVE_BATCH_MS } from '../../peer-node/have-batcher.ts';
import type { Neighbour } from '../../peer-node/neighbour.ts';
import { ManualClock } from '../../shared/clock.ts';
import type { PieceRef, WireMessage } from '../../shared/wire-protocol.ts';
import { testNeighbour } from '../helpers/neighbour.ts';

/** Neighbours we unchoke, unless `more` says otherwise. */
function setup(neighbourCount: number, more: Partial<Neighbour> = {}) {
  const clock = new ManualClock(0);
  const neighbours = Array.from({ length: neighbourCount }, (_, i) => testNeighbour(clock, `n${i}`, { amChoking: false, ...more }));
  const sent: { to: string; pieces: readonly PieceRef[] }[] = [];
  const slots = { free: false };
  const haves = new HaveBatcher({
    clock,
    handshaken: () => neighbours,
    slotFree: () => slots.free,
    send: (n: Neighbour, msg: WireMessage) => {
      assert.equal(msg.type, 'have');
      if (msg.type === 'have') sent.push({ to: n.peerId as string, pieces: msg.pieces });
    },
  });
  return { clock, neighbours, sent, haves, slots };
}

describe('haves', () => {
  test('pieces stored within HAVE_BATCH_MS of the first share one have per neighbour, sent when the batch ends', () => {
    const h = setup(2);
    h.haves.stored(100, 0);
    h.clock.advance(HAVE_BATCH_MS - 5);
    h.haves.stored(100, 1);
    assert.deepEqual(h.sent, []);
    h.clock.advance(5);
    const both = [{ seq: 100, piece: 0 }, { seq: 100, piece: 1 }];
    assert.deepEqual(h.sent, [{ to: 'n0', pieces: both }, { to: 'n1', pieces: both }]);
    // The next piece starts a batch of its own.
    h.haves.stored(100, 2);
    h.clock.advance(HAVE_BATCH_MS);
    assert.equal(h.sent.length, 4);
  });

  test('a neighbour hears only of pieces it does not hold, and nothing when it holds them all', () => {
    const h = setup(3);
    h.neighbours[0]!.markHas(100, 0, 4);
    h.neighbours[1]!.markHas(100, 0, 4);
    h.neighbours[1]!.markHas(100, 1, 4);
    h.haves.stored(100, 0);
    h.haves.stored(100, 1);
    h.clock.advance(HAVE_BATCH_MS);
    assert.deepEqual(h.sent, [
      { to: 'n0', pieces: [{ seq: 100, piece: 1 }] },
      { to: 'n2', pieces: [{ seq: 100, piece: 0 }, { seq: 100, piece: 1 }] },
    ]);
  });

  test('a neighbour neither side unchokes hears every IDLE_HAVE_BATCH_MS while our slots are taken, of what it does not hold by then', () => {
    const h = setup(2);
    const idle = h.neighbours[1]!;
    idle.amChoking = true;
    h.haves.stored(100, 0);
    h.clock.advance(HAVE_BATCH_MS);
    h.haves.stored(100, 1);
    h.haves.stored(100, 2);
    h.clock.advance(HAVE_BATCH_MS);
    assert.deepEqual(h.sent.map((s) => s.to), ['n0', 'n0']);
    idle.markHas(100, 1, 4);
    h.clock.advance(IDLE_HAVE_BATCH_MS);
    assert.deepEqual(h.sent.at(-1), { to: 'n1', pieces: [{ seq: 100, piece: 0 }, { seq: 100, piece: 2 }] });
    assert.equal(h.sent.length, 3);
  });

  test('with an unchoke slot free, a neighbour neither side unchokes hears at the usual pace: its interest would unchoke it', () => {
    const h = setup(1, { amChoking: true, peerChoking: true });
    h.slots.free = true;
    h.haves.stored(100, 0);
    h.clock.advance(HAVE_BATCH_MS);
    assert.deepEqual(h.sent, [{ to: 'n0', pieces: [{ seq: 100, piece: 0 }] }]);
  });

  test('an unchoke either way sends what the neighbour has not heard at once, and later haves go at the usual pace', () => {
    for (const side of ['we', 'it'] as const) {
      const h = setup(1, { amChoking: true, peerChoking: true });
      const n = h.neighbours[0]!;
      h.haves.stored(100, 0);
      h.clock.advance(HAVE_BATCH_MS);
      assert.deepEqual(h.sent, []);
      if (side === 'we') n.amChoking = false;
      else n.peerChoking = false;
      h.haves.unchoked(n);
      assert.deepEqual(h.sent, [{ to: 'n0', pieces: [{ seq: 100, piece: 0 }] }], side);
      h.haves.stored(100, 1);
      h.clock.advance(HAVE_BATCH_MS);
      assert.deepEqual(h.sent.at(-1), { to: 'n0', pieces: [{ seq: 100, piece: 1 }] }, side);
      // Nothing was left over for the idle batch.
      h.clock.advance(IDLE_HAVE_BATCH_MS);
      assert.equal(h.sent.length, 2, side);
    }
  });

  test('nothing is sent once closed', () => {
    const h = setup(1);
    h.haves.stored(100, 0);
    h.haves.close();
    h.clock.advance(10 * HAVE_BATCH_MS);
    assert.deepEqual(h.sent, []);
  });
});
