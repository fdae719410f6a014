import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type FreshPiece, type QueuedUpload, type RelayLimits, type RelayNeighbour, type UploadChoice, expireFresh, nextUpload } from '../../peer-node/policy/relay.ts';

const NOW = 50_000;
const PUSH: RelayLimits = { mode: 'push', pushWindowMs: 1000, maxQueuedForPush: 2, maxPushesPerPiece: 2 };
const PULL: RelayLimits = { ...PUSH, mode: 'pull' };

/** A neighbour we unchoke, interested, idle, holding `held` ("seq:piece"). */
const nb = (held: string[] = [], more: Partial<Omit<RelayNeighbour, 'holds'>> = {}): RelayNeighbour => {
  const set = new Set(held);
  return { unchoked: true, interested: true, blocked: false, wantsPushes: true, queuedPieces: 0, givesBytes: 0, ...more, holds: (s, p) => set.has(`${s}:${p}`), heldOf: (s) => [...set].filter((k) => k.startsWith(`${s}:`)).length };
};
const fresh = (seq: number, piece: number, ageMs = 0, pushes = 0, seeded = false): FreshPiece => ({ seq, piece, storedAtMs: NOW - ageMs, pushes, seeded });
const req = (seq: number, piece: number, queuedAtMs: number): QueuedUpload => ({ neighbour: 0, seq, piece, queuedAtMs });

describe('nextUpload', () => {
  test('requests go first, oldest segment first, then in arrival order', () => {
    const table: [string, QueuedUpload[], UploadChoice][] = [
      ['none queued, nothing fresh', [], null],
      ['one', [req(7, 0, 10)], { kind: 'request', index: 0 }],
      ['an older segment asked later still goes first', [req(8, 0, 10), req(7, 3, 20)], { kind: 'request', index: 1 }],
      ['same segment: first asked, first served', [req(7, 5, 30), req(7, 1, 20)], { kind: 'request', index: 1 }],
    ];
    for (const [why, queue, expected] of table) assert.deepEqual(nextUpload(queue, [], [nb()], NOW, PUSH), expected, why);
    assert.deepEqual(nextUpload([req(9, 0, 1)], [fresh(9, 1)], [nb()], NOW, PUSH), { kind: 'request', index: 0 }, 'a request beats a push');
  });

  test("a piece the origin seeded us goes before the requests queued, until pushed as often as allowed; pull leaves it to requests", () => {
    const queue = [req(7, 0, 10)];
    const seeded = (pushes = 0) => fresh(9, 1, 0, pushes, true);
    assert.deepEqual(nextUpload(queue, [fresh(9, 2), seeded()], [nb()], NOW, PUSH), { kind: 'push', seq: 9, piece: 1, neighbour: 0 });
    assert.deepEqual(nextUpload(queue, [seeded()], [nb(), nb()], NOW, PUSH), { kind: 'push', seq: 9, piece: 1, neighbour: 0 });
    assert.deepEqual(nextUpload(queue, [seeded(2)], [nb()], NOW, PUSH), { kind: 'request', index: 0 }, 'pushed as often as allowed');
    assert.deepEqual(nextUpload(queue, [seeded()], [nb(['9:1'])], NOW, PUSH), { kind: 'request', index: 0 }, 'every neighbour holds it');
    assert.deepEqual(nextUpload(queue, [seeded()], [nb([], { unchoked: false })], NOW, PUSH), { kind: 'request', index: 0 }, 'nobody we unchoke');
    assert.deepEqual(nextUpload(queue, [seeded()], [nb([], { wantsPushes: false }), nb()], NOW, PUSH), { kind: 'push', seq: 9, piece: 1, neighbour: 1 }, 'not to one that said pushes-off');
    assert.deepEqual(nextUpload(queue, [fresh(9, 1, 1001, 0, true)], [nb()], NOW, PUSH), { kind: 'request', index: 0 }, 'past the push window');
    assert.deepEqual(nextUpload(queue, [seeded()], [nb()], NOW, PULL), { kind: 'request', index: 0 }, 'pull');
  });

  test('push relays a fresh piece only to an unchoked, interested neighbour that lacks it and has room', () => {
    const table: [string, RelayNeighbour, boolean][] = [
      ['eligible', nb(), true],
      ['we choke it', nb([], { unchoked: false }), false],
      ['not interested in us', nb([], { interested: false }), false],
      ['blocked (not reading, or its trial share spent)', nb([], { blocked: true }), false],
      ['it said pushes-off (its download near full)', nb([], { wantsPushes: false }), false],
      ['its queue is at the push bound', nb([], { queuedPieces: 2 }), false],
      ['it holds the piece', nb(['9:1']), false],
    ];
    for (const [why, n, pushes] of table) {
      const expected: UploadChoice = pushes ? { kind: 'push', seq: 9, piece: 1, neighbour: 0 } : null;
      assert.deepEqual(nextUpload([], [fresh(9, 1)], [n], NOW, PUSH), expected, why);
    }
  });

  test('a piece pushed to as many neighbours as allowed is left to them and to pull', () => {
    assert.deepEqual(nextUpload([], [fresh(9, 1, 0, 1)], [nb()], NOW, PUSH), { kind: 'push', seq: 9, piece: 1, neighbour: 0 });
    assert.equal(nextUpload([], [fresh(9, 1, 0, 2)], [nb()], NOW, PUSH), null);
  });

  test('pull never pushes; a piece past the push window is left to pull', () => {
    assert.equal(nextUpload([], [fresh(9, 1)], [nb()], NOW, PULL), null);
    assert.equal(nextUpload([], [fresh(9, 1, 1001)], [nb()], NOW, PUSH), null);
    assert.deepEqual(nextUpload([], [fresh(9, 1, 1000)], [nb()], NOW, PUSH), { kind: 'push', seq: 9, piece: 1, neighbour: 0 });
  });

  test('the piece fewest neighbours hold goes first, the older segment among equals', () => {
    const ns = [nb(['9:1', '9:2']), nb(['9:1']), nb([])];
    assert.deepEqual(nextUpload([], [fresh(9, 1), fresh(9, 2), fresh(9, 3)], ns, NOW, PUSH), { kind: 'push', seq: 9, piece: 3, neighbour: 2 });
    assert.deepEqual(nextUpload([], [fresh(10, 0), fresh(9, 4)], [nb()], NOW, PUSH), { kind: 'push', seq: 9, piece: 4, neighbour: 0 });
  });

  test('the neighbour lacking it that holds least of its segment gets it', () => {
    const ns = [nb(['9:0', '9:2']), nb(['9:0']), nb(['9:0', '9:2', '9:3'])];
    assert.deepEqual(nextUpload([], [fresh(9, 1)], ns, NOW, PUSH), { kind: 'push', seq: 9, piece: 1, neighbour: 1 });
  });

  test('among those holding as little, the one that gave us most this round gets it', () => {
    const ns = [nb([], { givesBytes: 10 }), nb(['9:1'], { givesBytes: 900 }), nb([], { givesBytes: 500 }), nb([], { givesBytes: 20 })];
    assert.deepEqual(nextUpload([], [fresh(9, 1)], ns, NOW, PUSH), { kind: 'push', seq: 9, piece: 1, neighbour: 2 });
  });
});

describe('expireFresh', () => {
  test('drops the pieces older than the window from the front, keeps the rest in order', () => {
    const list = [fresh(1, 0, 3000), fresh(1, 1, 1500), fresh(2, 0, 900), fresh(2, 1, 0)];
    expireFresh(list, NOW, 1000);
    assert.deepEqual(list.map((f) => `${f.seq}:${f.piece}`), ['2:0', '2:1']);
  });
});
