import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HAVE_BATCH_MS, HaveBatcher } from '../../peer-node/have-batcher.ts';
import type { Neighbour } from '../../peer-node/neighbour.ts';
import { ManualClock } from '../../shared/clock.ts';
import type { PieceRef, WireMessage } from '../../shared/wire-protocol.ts';
import { testNeighbour } from '../helpers/neighbour.ts';

function setup(neighbourCount: number) {
  const clock = new ManualClock(0);
  const neighbours = Array.from({ length: neighbourCount }, (_, i) => testNeighbour(clock, `n${i}`));
  const sent: { to: string; pieces: readonly PieceRef[] }[] = [];
  const haves = new HaveBatcher({
    clock,
    handshaken: () => neighbours,
    send: (n: Neighbour, msg: WireMessage) => {
      assert.equal(msg.type, 'have');
      if (msg.type === 'have') sent.push({ to: n.peerId as string, pieces: msg.pieces });
    },
  });
  return { clock, neighbours, sent, haves };
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

  test('nothing is sent once closed', () => {
    const h = setup(1);
    h.haves.stored(100, 0);
    h.haves.close();
    h.clock.advance(10 * HAVE_BATCH_MS);
    assert.deepEqual(h.sent, []);
  });
});
