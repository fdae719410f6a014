import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChokeRounds } from '../../peer-node/choke-rounds.ts';
import { peerConfig } from '../../peer-node/config.ts';
import { LinkShaper } from '../../peer-node/link.ts';
import { ManualClock } from '../../shared/clock.ts';
import { seededRng } from '../../shared/rng.ts';
import type { Neighbour } from '../../peer-node/neighbour.ts';
import { testNeighbour } from '../helpers/neighbour.ts';

/**
 * The choke rounds on a manual clock, with the real choker: when rounds run,
 * what they reset, and the upload share an optimistic unchoke is held to.
 * The choker's own choices are policy/choker.ts's tests.
 */

const UPLOAD_KBPS = 2000;
const ROUND_MS = 10_000;

function setup(neighbourCount: number) {
  const clock = new ManualClock(1_000_000);
  const config = peerConfig({ regularSlots: 2, optimisticSlots: 1, rechokeIntervalMs: ROUND_MS, optimisticIntervalMs: 30_000 });
  const neighbours: Neighbour[] = [];
  for (let i = 0; i < neighbourCount; i++) {
    // Interested, and each has given us something: no newcomer's allowance in play.
    neighbours.push(testNeighbour(clock, `n${i}`, { peerInterested: true, lastPieceAtMs: clock.nowMs(), everUnchokedUs: true }));
  }
  let runs = 0;
  const rounds = new ChokeRounds({
    config,
    clock,
    rng: seededRng(1),
    shaper: new LinkShaper({ uploadKbps: UPLOAD_KBPS, downloadKbps: 0, latencyMs: 0 }, clock),
    handshaken: () => {
      runs++;
      return neighbours;
    },
    allowanceSpent: () => false,
    setChoking: (n, choke) => {
      n.amChoking = choke;
    },
  });
  const unchoked = () => neighbours.filter((n) => !n.amChoking).map((n) => n.peerId);
  return { clock, rounds, neighbours, unchoked, runs: () => runs };
}

describe('the choke rounds', () => {
  test('a round runs every rechokeIntervalMs: the best givers keep the regular slots, and the round bytes start again', () => {
    const c = setup(6);
    c.rounds.start();
    c.neighbours.forEach((n, i) => (n.roundDownloadedBytes = 1000 * i));
    c.clock.advance(ROUND_MS);
    assert.equal(c.runs(), 1);
    const first = c.unchoked();
    // Two regular slots for the two best givers, and one optimistic.
    assert.equal(first.length, 3);
    assert.ok(first.includes('n5') && first.includes('n4'), `unchoked ${first}`);
    assert.ok(c.neighbours.every((n) => n.roundDownloadedBytes === 0));
    // The next round ranks by what came since: now n0 and n1 gave most.
    c.neighbours[0]!.roundDownloadedBytes = 9000;
    c.neighbours[1]!.roundDownloadedBytes = 8000;
    c.clock.advance(ROUND_MS);
    assert.ok(c.unchoked().includes('n0') && c.unchoked().includes('n1'), `unchoked ${c.unchoked()}`);
    c.rounds.close();
  });

  test('a burst of reruns between rounds makes one run, 250 ms later, which keeps the round bytes', () => {
    const c = setup(3);
    c.rounds.start();
    c.neighbours[0]!.roundDownloadedBytes = 500;
    c.rounds.rerun();
    c.rounds.rerun();
    c.clock.advance(249);
    assert.equal(c.runs(), 0);
    c.clock.advance(1);
    assert.equal(c.runs(), 1);
    assert.equal(c.neighbours[0]!.roundDownloadedBytes, 500);
    c.rounds.close();
  });

  test('an optimistic unchoke is held to one slot\'s share of the upload; a regular one is not', () => {
    const c = setup(6);
    c.rounds.start();
    c.neighbours.forEach((n, i) => (n.roundDownloadedBytes = 1000 * i));
    c.clock.advance(ROUND_MS);
    const regular = c.neighbours.filter((n) => n.peerId === 'n5' || n.peerId === 'n4');
    const optimistic = c.neighbours.filter((n) => !n.amChoking && !regular.includes(n));
    assert.equal(optimistic.length, 1);
    const share = optimistic[0]!.trialShare;
    assert.ok(share, 'the optimistic unchoke has a share');
    // Three slots share 2000 kbit/s: 250,000 / 3 bytes a second once its burst is spent.
    const now = c.clock.nowMs();
    assert.ok(share.tryTake(share.available(now), now));
    c.clock.advance(500);
    assert.equal(Math.round(share.available(c.clock.nowMs())), Math.round(250_000 / 3 / 2));
    assert.ok(regular.every((n) => n.trialShare === null));
    c.rounds.close();
  });

  test('no round runs once closed, nor a rerun asked for before', () => {
    const c = setup(3);
    c.rounds.start();
    c.rounds.rerun();
    c.rounds.close();
    c.clock.advance(3 * ROUND_MS);
    assert.equal(c.runs(), 0);
  });
});
