import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  holderCounts,
  type PickerOptions,
  type PickerPeer,
  type PickerSegment,
  type PickerSnapshot,
  planRequests,
} from '../../peer-node/policy/picker.ts';
import { seededRng } from '../../shared/rng.ts';

const NOW = 100_000;
const PIECE = 1000;
/** Far enough off that nothing is urgent with the default window. */
const LATER = 10_000;

const bits = (s: string) => [...s].map((c) => c === '1');

/** Segment `seq` due `dueInMs` from NOW; `have` like '0110' (1 = held); full pieces unless `size` says otherwise. */
function seg(seq: number, have: string, dueInMs: number, more: Partial<PickerSegment> = {}): PickerSegment {
  return { seq, pieceCount: have.length, size: have.length * PIECE, deadlineMs: NOW + dueInMs, have: bits(have), inFlight: [], ...more };
}

/** Neighbour `id` holding, per seq, pieces like '1101'; unmeasured and unchoking unless told. */
function peer(id: string, has: Record<number, string>, more: Partial<PickerPeer> = {}): PickerPeer {
  const map = new Map(Object.entries(has).map(([seq, s]) => [Number(seq), bits(s)]));
  return { id, chokedUs: false, has: map, inFlight: 0, rateBytesPerSec: 0, latencyMs: 0, ...more };
}

/** 10 kB/s: a 1000-byte piece in 100 ms, after 50 ms latency. */
const fast = { rateBytesPerSec: 10_000, latencyMs: 50 };
/** 1 kB/s: a 1000-byte piece in 1 s. */
const slow = { rateBytesPerSec: 1000, latencyMs: 50 };

const options = (more: Partial<PickerOptions> = {}): PickerOptions => ({
  mode: 'rarest-deadline',
  urgentWindowMs: 1000,
  rescueWindowMs: 1000,
  maxInFlightPerPeer: 8,
  maxInFlightTotal: 64,
  maxOriginInFlight: 4,
  pieceSize: PIECE,
  originEnabled: true,
  ...more,
});

/** Which pieces a plan asks for, who is asked (sorted), and how many requests. */
const what = (p: string[]) => p.map((r) => r.split('@')[0] as string);
const who = (p: string[]) => p.map((r) => r.split('@')[1] as string).sort();
const count = (p: string[]) => [`${p.length} planned`];
/** One request outstanding for `piece`, sent `agoMs` before NOW. */
const flying = (piece: number, from: string, agoMs: number) => ({ inFlight: [{ piece, from, sentAtMs: NOW - agoMs }] });
/** A- B- C- holding 1, 2, 3 of segment 1's pieces: availability 3, 2, 1, 0. */
const stairs = () => [peer('A', { 1: '1000' }), peer('B', { 1: '1100' }), peer('C', { 1: '1110' })];

/** A plan as 'seq:piece@from/reason', easy to read in a failing assertion. */
function plan(segments: PickerSegment[], peers: PickerPeer[], more: Partial<PickerOptions> = {}, originInFlight = 0): string[] {
  const snapshot: PickerSnapshot = { segments, peers, originInFlight };
  return planRequests(snapshot, NOW, options(more), seededRng(1)).map((r) => `${r.seq}:${r.piece}@${r.from}/${r.reason}`);
}

interface Row {
  name: string;
  got: () => string[];
  want: string[];
  /** Compare as sets when the order among equals is left to the rng. */
  unordered?: boolean;
}

describe('planRequests', () => {
  const table: Row[] = [
    {
      name: 'rarest piece first, each from the neighbour that will deliver it soonest',
      got: () => plan([seg(1, '0000', LATER)], stairs()),
      want: ['1:2@C/rarest', '1:1@B/rarest', '1:0@A/rarest'],
    },
    {
      name: 'with room for one request, only the rarest piece',
      got: () => plan([seg(1, '0000', LATER)], stairs(), { maxInFlightTotal: 1 }),
      want: ['1:2@C/rarest'],
    },
    {
      name: 'equal rarity: earlier deadline first',
      got: () => plan([seg(1, '0', LATER + 2000), seg(2, '0', LATER)], [peer('A', { 1: '1', 2: '1' })]),
      want: ['2:0@A/rarest', '1:0@A/rarest'],
    },
    {
      name: 'rarity beats deadline',
      got: () => plan([seg(1, '0', LATER + 2000), seg(2, '0', LATER)], [peer('A', { 1: '1', 2: '1' }), peer('B', { 2: '1' })]),
      want: ['1:0@A/rarest', '2:0@B/rarest'],
    },
    {
      name: 'a measured fast neighbour beats an unmeasured one',
      got: () => plan([seg(1, '0', LATER)], [peer('A', { 1: '1' }), peer('B', { 1: '1' }, fast)]),
      want: ['1:0@B/rarest'],
    },
    {
      name: 'never from a neighbour that chokes us (though it counts for rarity)',
      got: () => plan([seg(1, '0000', LATER)], [peer('A', { 1: '1111' }, { chokedUs: true }), peer('B', { 1: '0011' })]),
      want: ['1:2@B/rarest', '1:3@B/rarest'],
      unordered: true,
    },
    {
      name: 'per-neighbour bound counts requests already in flight',
      got: () => count(plan([seg(1, '0000', LATER)], [peer('A', { 1: '1111' }, { inFlight: 2 })], { maxInFlightPerPeer: 3 })),
      want: ['1 planned'],
    },
    {
      name: 'per-neighbour bound spreads the rest to the next neighbour',
      got: () => who(plan([seg(1, '0000', LATER)], [peer('A', { 1: '1111' }, fast), peer('B', { 1: '1111' })], { maxInFlightPerPeer: 2 })),
      want: ['A/rarest', 'A/rarest', 'B/rarest', 'B/rarest'],
    },
    {
      name: 'total bound counts every neighbour\'s requests in flight',
      got: () => {
        const peers = [peer('A', { 1: '1111' }, { inFlight: 1 }), peer('B', { 1: '1111' }, { inFlight: 1 })];
        return count(plan([seg(1, '0000', LATER)], peers, { maxInFlightTotal: 3 }));
      },
      want: ['1 planned'],
    },
    {
      name: 'total bound already reached: nothing',
      got: () => {
        const peers = [peer('A', { 1: '1111' }, { inFlight: 2 }), peer('B', { 1: '1111' }, { inFlight: 1 })];
        return plan([seg(1, '0000', LATER)], peers, { maxInFlightTotal: 3 });
      },
      want: [],
    },
    {
      name: 'total bound reached: an urgent piece goes to the origin, not over the bound',
      got: () => plan([seg(1, '0', 800)], [peer('A', { 1: '1' }, { ...fast, inFlight: 3 })], { maxInFlightTotal: 3 }),
      want: ['1:0@origin/urgent-origin'],
    },
    {
      name: 'total bound reached and origin full: an urgent piece waits',
      got: () => plan([seg(1, '0', 800)], [peer('A', { 1: '1' }, { ...fast, inFlight: 3 })], { maxInFlightTotal: 3 }, 4),
      want: [],
    },
    {
      name: 'non-urgent piece nobody has: never from the origin',
      got: () => plan([seg(1, '00', LATER)], []),
      want: [],
    },
    {
      name: 'non-urgent piece only choking neighbours have: never from the origin',
      got: () => plan([seg(1, '00', LATER)], [peer('A', { 1: '11' }, { chokedUs: true })]),
      want: [],
    },
    {
      name: 'pieces held or in flight (from a neighbour or the origin) are not asked again',
      got: () =>
        plan(
          [seg(1, '1000', LATER, { inFlight: [{ piece: 1, from: 'A', sentAtMs: NOW - 60_000 }, { piece: 2, from: 'origin', sentAtMs: NOW }] })],
          [peer('A', { 1: '1111' }, { inFlight: 1 })],
        ),
      want: ['1:3@A/rarest'],
    },
    {
      name: 'urgent piece goes to a neighbour that delivers in time',
      got: () => plan([seg(1, '0', 800)], [peer('A', { 1: '1' }, fast)]),
      want: ['1:0@A/urgent-peer'],
    },
    {
      name: 'urgent piece goes to the origin when the only neighbour is measured too slow',
      got: () => plan([seg(1, '0', 800)], [peer('A', { 1: '1' }, slow)]),
      want: ['1:0@origin/urgent-origin'],
    },
    {
      name: 'urgent piece goes to the origin when an unmeasured neighbour cannot make a tight deadline',
      got: () => plan([seg(1, '0', 300)], [peer('A', { 1: '1' })]),
      want: ['1:0@origin/urgent-origin'],
    },
    {
      name: 'urgent piece goes to the origin when nobody has it',
      got: () => plan([seg(1, '0', 800)], [peer('A', { 2: '1' })]),
      want: ['1:0@origin/urgent-origin'],
    },
    {
      name: 'urgent piece goes to the origin when all who have it choke us',
      got: () => plan([seg(1, '0', 800)], [peer('A', { 1: '1' }, { ...fast, chokedUs: true })]),
      want: ['1:0@origin/urgent-origin'],
    },
    {
      name: 'urgent piece nobody has, due beyond the rescue window: left to the swarm a while longer',
      got: () => plan([seg(1, '0', 800)], [peer('A', { 2: '1' })], { rescueWindowMs: 500 }),
      want: [],
    },
    {
      name: 'urgent piece nobody has, due within the rescue window: from the origin',
      got: () => plan([seg(1, '0', 400)], [peer('A', { 2: '1' })], { rescueWindowMs: 500 }),
      want: ['1:0@origin/urgent-origin'],
    },
    {
      name: 'urgent piece a neighbour has but cannot send in time: from the origin at once, rescue window or not',
      got: () => plan([seg(1, '0', 800)], [peer('A', { 1: '1' }, slow)], { rescueWindowMs: 500 }),
      want: ['1:0@origin/urgent-origin'],
    },
    {
      name: 'urgent: the short last piece fits the deadline where a full one would not',
      got: () => {
        const A = peer('A', { 1: '1111', 2: '1111' }, { rateBytesPerSec: 1000, latencyMs: 1 });
        return plan([seg(1, '1110', 600, { size: 3500 }), seg(2, '0111', 600, { size: 3500 })], [A]);
      },
      want: ['1:3@A/urgent-peer', '2:0@origin/urgent-origin'],
    },
    {
      name: 'urgent: earliest deadline first, and the origin bound counts its requests in flight',
      got: () => plan([seg(1, '00', 900), seg(2, '00', 500)], [], {}, 3),
      want: ['2:0@origin/urgent-origin'],
    },
    {
      name: 'urgent, origin full: a late neighbour beats none',
      got: () => plan([seg(1, '0', 800)], [peer('A', { 1: '1' }, slow)], {}, 4),
      want: ['1:0@A/urgent-peer'],
    },
    {
      name: 'urgent, origin disabled: a late neighbour beats none',
      got: () => plan([seg(1, '0', 800)], [peer('A', { 1: '1' }, slow)], { originEnabled: false }),
      want: ['1:0@A/urgent-peer'],
    },
    {
      name: 'urgent, origin full, nobody has it: nothing',
      got: () => plan([seg(1, '0', 800)], [], {}, 4),
      want: [],
    },
    {
      name: 'urgent piece in flight from a neighbour, not yet overdue: not asked again',
      got: () => plan([seg(1, '0', 800, flying(0, 'A', 100))], [peer('A', { 1: '1' }, { ...fast, inFlight: 1 })]),
      want: [],
    },
    {
      // Expected at sentAt + 50 + 100, overdue 500 ms after that.
      name: 'urgent piece overdue from a neighbour: asked of the origin too',
      got: () => plan([seg(1, '0', 800, flying(0, 'A', 1000))], [peer('A', { 1: '1' }, { ...fast, inFlight: 1 })]),
      want: ['1:0@origin/urgent-origin'],
    },
    {
      name: 'urgent piece in flight from a neighbour that has gone: asked of the origin',
      got: () => plan([seg(1, '0', 800, flying(0, 'gone', 0))], []),
      want: ['1:0@origin/urgent-origin'],
    },
    {
      name: 'urgent piece in flight from the origin: never asked twice',
      got: () => plan([seg(1, '0', 800, flying(0, 'origin', 60_000))], [peer('A', { 1: '1' }, fast)]),
      want: [],
    },
    {
      name: 'origin requests do not use up the neighbours\' total bound',
      got: () => plan([seg(1, '0', 800), seg(2, '0', LATER)], [peer('A', { 2: '1' })], { maxInFlightTotal: 1 }),
      want: ['1:0@origin/urgent-origin', '2:0@A/rarest'],
    },
    {
      name: 'sequential: by seq then piece, whatever the rarity',
      got: () => {
        const peers = [peer('A', { 1: '11', 2: '11' }), peer('B', { 1: '01', 2: '11' })];
        return what(plan([seg(2, '00', LATER), seg(1, '00', LATER)], peers, { mode: 'sequential' }));
      },
      want: ['1:0', '1:1', '2:0', '2:1'],
    },
  ];
  for (const row of table) {
    test(row.name, () => {
      const got = row.got();
      if (row.unordered) assert.deepEqual(got.slice().sort(), row.want.slice().sort());
      else assert.deepEqual(got, row.want);
    });
  }

  test('every planned (seq, piece) is distinct, and no neighbour is over its bound', () => {
    const segments = [seg(1, '0000', 500), seg(2, '0000', LATER), seg(3, '0000', LATER + 1000)];
    const peers = [peer('A', { 1: '1111', 2: '1111', 3: '1111' }, fast), peer('B', { 1: '1111', 2: '1111', 3: '1111' }, { inFlight: 2 })];
    const got = plan(segments, peers, { maxInFlightPerPeer: 4 });
    const pieces = what(got);
    assert.equal(new Set(pieces).size, pieces.length);
    assert.equal(got.filter((r) => r.includes('@A/')).length, 4);
    assert.equal(got.filter((r) => r.includes('@B/')).length, 2);
  });

  test('random mode: the same pieces as the other modes, in an order of its own, reproducible by seed', () => {
    const segments = [1, 2, 3, 4].map((seq) => seg(seq, '0000', LATER + seq * 1000));
    const has = { 1: '1111', 2: '1111', 3: '1111', 4: '1111' };
    const peers = [peer('A', has), peer('B', { 4: '1111' })];
    const order = (mode: PickerOptions['mode']) => what(plan(segments, peers, { mode, maxInFlightPerPeer: 16 }));
    const [rarest, sequential, random] = [order('rarest-deadline'), order('sequential'), order('random')];
    assert.equal(random.length, 16);
    assert.deepEqual(random.slice().sort(), sequential.slice().sort());
    assert.deepEqual(rarest.slice().sort(), sequential.slice().sort());
    assert.notDeepEqual(random, sequential);
    assert.notDeepEqual(random, rarest);
    assert.notDeepEqual(rarest, sequential);
    assert.deepEqual(order('random'), random);
  });

  test('holderCounts counts neighbours holding each piece, choked or not', () => {
    const peers = [peer('A', { 1: '110', 9: '1' }), peer('B', { 1: '011', 2: '01' }, { chokedUs: true })];
    const of = (seq: number, pieceCount: number) => holderCounts(peers.map((p) => p.has.get(seq)), pieceCount);
    assert.deepEqual([of(1, 3), of(2, 2)], [[1, 2, 1], [0, 1]]);
  });
});
