import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type ChokeDecision,
  type ChokerOptions,
  type ChokerPeer,
  type ChokerState,
  initialChokerState,
  rechoke,
} from '../../peer-node/policy/choker.ts';
import { seededRng } from '../../shared/rng.ts';

const NOW = 1_000_000;

/** An interested, long-connected peer that gave us `bytes` this round and a piece a second ago. */
function peer(id: string, bytes = 0, more: Partial<ChokerPeer> = {}): ChokerPeer {
  return { id, interested: true, downloadedBytes: bytes, connectedAtMs: NOW - 600_000, lastPieceAtMs: NOW - 1000, everUnchokedUs: true, ...more };
}
const snubbed = { lastPieceAtMs: NOW - 40_000 };
const newcomer = { connectedAtMs: NOW - 5000, lastPieceAtMs: null };

const options = (more: Partial<ChokerOptions> = {}): ChokerOptions => ({
  mode: 'tit-for-tat',
  regularSlots: 4,
  optimisticSlots: 1,
  optimisticIntervalMs: 30_000,
  snubTimeoutMs: 30_000,
  newcomerMs: 30_000,
  newcomerWeight: 3,
  ...more,
});

interface Call {
  state?: ChokerState;
  nowMs?: number;
  full?: boolean;
  seed?: number;
  o?: Partial<ChokerOptions>;
}

/** Peers built with the default "a piece a second ago" keep it a second before each call, however late. */
function run(peers: ChokerPeer[], opts: Call = {}): ChokeDecision {
  const nowMs = opts.nowMs ?? NOW;
  const fresh = peers.map((p) => (p.lastPieceAtMs === NOW - 1000 ? { ...p, lastPieceAtMs: nowMs - 1000 } : p));
  return rechoke(fresh, opts.state ?? initialChokerState(), nowMs, options(opts.o), seededRng(opts.seed ?? 1), opts.full ?? true);
}

const sorted = (ids: readonly string[]) => ids.slice().sort();

/** A–F gave 600…100 bytes this round. */
const sixByBytes = () => ['A', 'B', 'C', 'D', 'E', 'F'].map((id, i) => peer(id, 600 - 100 * i));

describe('rechoke, full round', () => {
  interface Row {
    name: string;
    peers: ChokerPeer[];
    regular: string[];
    /** Who may hold the optimistic slot (exactly one of them does), or [] for nobody. */
    optimisticFrom: string[];
    o?: Partial<ChokerOptions>;
  }
  const table: Row[] = [
    { name: 'the top 4 by bytes get the regular slots', peers: sixByBytes(), regular: ['A', 'B', 'C', 'D'], optimisticFrom: ['E', 'F'] },
    {
      name: 'uninterested peers are never unchoked, whatever they gave',
      peers: [...sixByBytes(), peer('X', 10_000, { interested: false }), peer('Y', 0, { ...newcomer, interested: false })],
      regular: ['A', 'B', 'C', 'D'],
      optimisticFrom: ['E', 'F'],
    },
    {
      name: 'a snubbed peer loses its regular slot and may only win the optimistic one',
      peers: [peer('S', 900, snubbed), ...sixByBytes().slice(0, 4)],
      regular: ['A', 'B', 'C', 'D'],
      optimisticFrom: ['S'],
    },
    {
      name: 'regular slots are earned: spare ones stay empty rather than go to a snubbed peer or one that never gave',
      peers: [peer('A', 100), peer('B', 0), peer('S', 0, snubbed), peer('T', 0, { connectedAtMs: NOW - 600_000, lastPieceAtMs: null })],
      regular: ['A', 'B'],
      optimisticFrom: ['S', 'T'],
    },
    {
      name: 'a newcomer that sent nothing yet is not snubbed',
      peers: [peer('A', 0, snubbed), peer('N', 0, newcomer)],
      regular: ['N'],
      optimisticFrom: ['A'],
      o: { regularSlots: 1 },
    },
    {
      name: 'no regular slots: only the optimistic one',
      peers: sixByBytes(),
      regular: [],
      optimisticFrom: ['A', 'B', 'C', 'D', 'E', 'F'],
      o: { regularSlots: 0 },
    },
  ];
  for (const row of table) {
    test(row.name, () => {
      const d = run(row.peers, { o: row.o });
      assert.deepEqual(sorted(d.state.regular), sorted(row.regular));
      assert.equal(d.state.optimistic.length, row.optimisticFrom.length > 0 ? 1 : 0);
      for (const id of d.state.optimistic) assert.ok(row.optimisticFrom.includes(id), `${id} is not one of ${row.optimisticFrom}`);
      assert.deepEqual(sorted(d.unchoked), sorted([...d.state.regular, ...d.state.optimistic]));
      for (const id of d.state.regular) assert.equal(d.reasons.get(id), 'regular');
      for (const id of d.state.optimistic) assert.equal(d.reasons.get(id), 'optimistic');
      assert.equal(d.reasons.size, d.unchoked.length);
    });
  }

  test('ties in bytes are broken at random, still filling every slot', () => {
    const peers = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'].map((id) => peer(id, 0));
    const picks = new Set([1, 2, 3, 4, 5, 6].map((seed) => sorted(run(peers, { seed }).state.regular).join('')));
    assert.ok(picks.size > 1);
    for (const p of picks) assert.equal(p.length, 4);
  });
});

describe('rechoke, optimistic unchoke', () => {
  // A–D are the regulars every round; nine others compete for the optimistic slot.
  const peers = [...sixByBytes().slice(0, 4), ...['E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M'].map((id) => peer(id, 0))];

  test('rotates only once 30 s have passed since it was chosen', () => {
    const first = run(peers, { seed: 1 });
    const [chosen] = first.state.optimistic;
    assert.equal(first.state.optimisticSinceMs, NOW);
    let state = first.state;
    const table: [number, boolean][] = [[10_000, false], [20_000, false], [29_999, false], [30_000, true]];
    for (const [afterMs, rotates] of table) {
      const d = run(peers, { state, nowMs: NOW + afterMs, seed: 100 + afterMs });
      assert.deepEqual(sorted(d.state.regular), ['A', 'B', 'C', 'D']);
      assert.equal(d.state.optimistic[0] !== chosen, rotates, `after ${afterMs} ms`);
      assert.equal(d.state.optimisticSinceMs, rotates ? NOW + afterMs : NOW);
      state = d.state;
    }
  });

  test('a rotation moves the slot to someone else when anyone else is interested', () => {
    const pair = [...sixByBytes().slice(0, 4), peer('E'), peer('F')];
    for (let seed = 1; seed <= 20; seed++) {
      const first = run(pair, { seed });
      const next = run(pair, { state: first.state, nowMs: NOW + 30_000, seed: seed + 1000 });
      assert.notDeepEqual(next.state.optimistic, first.state.optimistic, `seed ${seed}`);
      const alone = run(pair.slice(0, 5), { state: { ...first.state, optimistic: ['E'] }, nowMs: NOW + 30_000, seed });
      assert.deepEqual(alone.state.optimistic, ['E'], 'with nobody else, it stays');
    }
  });

  test('is replaced at once when it leaves, loses interest or is promoted to regular', () => {
    const first = run(peers);
    const chosen = first.state.optimistic[0] as string;
    const table: [string, ChokerPeer[]][] = [
      ['gone', peers.filter((p) => p.id !== chosen)],
      ['uninterested', peers.map((p) => (p.id === chosen ? { ...p, interested: false } : p))],
      ['promoted', peers.map((p) => (p.id === chosen ? { ...p, downloadedBytes: 10_000 } : p))],
    ];
    for (const [why, now] of table) {
      const d = run(now, { state: first.state, nowMs: NOW + 10_000 });
      assert.equal(d.state.optimistic.length, 1, why);
      assert.notEqual(d.state.optimistic[0], chosen, why);
      assert.equal(d.state.optimisticSinceMs, NOW + 10_000, why);
      assert.equal(d.state.regular.includes(chosen), why === 'promoted', why);
    }
  });

  test('newcomers are newcomerWeight times as likely to win it', () => {
    // One newcomer against six old peers: it should win 3/9 of the draws with weight 3, 1/7 with weight 1.
    const field = [...sixByBytes().slice(0, 4), peer('N', 0, newcomer), ...['E', 'F', 'G', 'H', 'I', 'J'].map((id) => peer(id, 0))];
    const share = (newcomerWeight: number) => {
      let wins = 0;
      const draws = 3000;
      for (let seed = 1; seed <= draws; seed++) if (run(field, { seed, o: { newcomerWeight } }).state.optimistic[0] === 'N') wins++;
      return wins / draws;
    };
    const weighted = share(3);
    const plain = share(1);
    assert.ok(Math.abs(weighted - 3 / 9) < 0.03, `weighted share ${weighted}`);
    assert.ok(Math.abs(plain - 1 / 7) < 0.03, `plain share ${plain}`);
  });
});

describe('rechoke, free-riders', () => {
  const regulars = sixByBytes().slice(0, 4);
  const trialAt = NOW - 30_000;
  const state = (optimistic: string[]): ChokerState => ({ regular: ['A', 'B', 'C', 'D'], optimistic, optimisticSinceMs: trialAt, trials: new Map([['R', trialAt]]) });
  const rider = (more: Partial<ChokerPeer> = {}) => peer('R', 0, { lastPieceAtMs: null, everUnchokedUs: false, ...more });

  test('a peer that had a whole optimistic turn, gave nothing back and never unchoked us is passed over, even when alone', () => {
    const table: [string, ChokerPeer[], string[]][] = [
      ['never gave, never unchoked: slot stays empty', [...regulars, rider()], []],
      ['gave only before its turn, never unchoked', [...regulars, rider({ lastPieceAtMs: trialAt - 1 })], []],
      ['gave back during its turn: may win again', [...regulars, rider({ lastPieceAtMs: trialAt + 5000 })], ['R']],
      ['has unchoked us before: a lull, not free-riding', [...regulars, rider({ everUnchokedUs: true })], ['R']],
      ['another candidate wins instead', [...regulars, rider(), peer('G', 0)], ['G']],
    ];
    for (const [why, peers, optimistic] of table) {
      const d = run(peers, { state: state(['R']), nowMs: NOW });
      assert.deepEqual(d.state.optimistic, optimistic, why);
    }
  });

  test('the trial is remembered for as long as the peer stays, and forgotten when it goes', () => {
    const later = run([...regulars, rider()], { state: state([]), nowMs: trialAt + 600_000 });
    assert.deepEqual(later.state.optimistic, []);
    assert.equal(later.state.trials.get('R'), trialAt);
    const gone = run(regulars, { state: state([]), nowMs: NOW });
    assert.equal(gone.state.trials.get('R'), undefined);
  });
});

describe('rechoke, between rounds', () => {
  const state: ChokerState = { regular: ['A', 'B', 'C', 'D'], optimistic: ['E'], optimisticSinceMs: NOW - 40_000, trials: new Map([['E', NOW - 40_000]]) };

  test('keeps the regulars, fills vacancies by bytes, never demotes, never rotates', () => {
    // B lost interest; D now gives least and F most, N just arrived; E's optimistic term has expired.
    const peers = [
      ...[peer('A', 500), peer('B', 900, { interested: false }), peer('C', 400), peer('D', 0, snubbed)],
      ...[peer('E', 5000), peer('F', 800), peer('G', 50), peer('N', 0, newcomer)],
    ];
    const d = run(peers, { state, full: false });
    assert.deepEqual(d.state.regular, ['A', 'C', 'D', 'F']);
    assert.deepEqual(d.state.optimistic, ['E']);
    assert.equal(d.state.optimisticSinceMs, NOW - 40_000);
    assert.deepEqual(sorted(d.unchoked), ['A', 'C', 'D', 'E', 'F']);
  });

  test('fills a vacant optimistic slot and starts its term', () => {
    const peers = [peer('A'), peer('B'), peer('C'), peer('D'), peer('N', 0, newcomer)];
    const d = run(peers, { state, full: false });
    assert.deepEqual(d.state.regular, ['A', 'B', 'C', 'D']);
    assert.deepEqual(d.state.optimistic, ['N']);
    assert.equal(d.state.optimisticSinceMs, NOW);
  });

  test('with nothing changed, the decision is the same', () => {
    const peers = [peer('A'), peer('B'), peer('C'), peer('D'), peer('E'), peer('F', 10_000)];
    const d = run(peers, { state, full: false });
    assert.deepEqual(d.state, state);
  });
});

describe('rechoke, all-unchoked', () => {
  test('unchokes every interested peer and no one else', () => {
    const peers = [...sixByBytes(), peer('S', 0, snubbed), peer('X', 1000, { interested: false })];
    for (const full of [true, false]) {
      const d = run(peers, { o: { mode: 'all-unchoked' }, full });
      assert.deepEqual(sorted(d.unchoked), ['A', 'B', 'C', 'D', 'E', 'F', 'S']);
      assert.ok([...d.reasons.values()].every((r) => r === 'all-unchoked'));
      assert.equal(d.reasons.get('X'), undefined);
    }
  });
});

describe('rechoke, ids that name Object.prototype members', () => {
  const regulars = sixByBytes().slice(0, 4);
  const protoIds = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];

  test('such an id is an ordinary peer: its optimistic unchoke is reported as one, so its trial share applies', () => {
    for (const id of protoIds) {
      const d = run([...regulars, peer(id, 0, { lastPieceAtMs: null, everUnchokedUs: false })]);
      assert.deepEqual(d.state.optimistic, [id], id);
      assert.equal(d.reasons.get(id), 'optimistic', id);
      assert.equal(d.reasons.size, 5, id);
      assert.equal(d.state.trials.get(id), NOW, id);
    }
  });

  test('such an id that gave nothing back during its trial is passed over like any free-rider', () => {
    const trialAt = NOW - 30_000;
    for (const id of protoIds) {
      const state: ChokerState = { regular: ['A', 'B', 'C', 'D'], optimistic: [id], optimisticSinceMs: trialAt, trials: new Map([[id, trialAt]]) };
      const d = run([...regulars, peer(id, 0, { lastPieceAtMs: null, everUnchokedUs: false })], { state });
      assert.deepEqual(d.state.optimistic, [], id);
      assert.equal(d.reasons.get(id), undefined, id);
    }
  });
});
