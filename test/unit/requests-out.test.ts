import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Neighbour } from '../../peer-node/neighbour.ts';
import { RequestsOut } from '../../peer-node/requests-out.ts';
import { ManualClock } from '../../shared/clock.ts';
import { testNeighbour } from '../helpers/neighbour.ts';

/**
 * The running counts must say what asking every neighbour would: the
 * picker's total pipeline and "was anyone asked for this piece" rest on them.
 * Random sequences of requests, answers, chokes and drops, checked after each
 * step against a count made from scratch.
 */

const NEIGHBOURS = 4;
const KEYS = 6;

type Step = { kind: 'add' | 'end'; n: number; key: number } | { kind: 'end-all' | 'drop'; n: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constantFrom('add' as const, 'end' as const), n: fc.nat(NEIGHBOURS - 1), key: fc.nat(KEYS - 1) }),
  fc.record({ kind: fc.constantFrom('end-all' as const, 'drop' as const), n: fc.nat(NEIGHBOURS - 1) }),
);

test('the counts of requests out always match a count over the connected neighbours', () => {
  fc.assert(
    fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
      const clock = new ManualClock(0);
      const neighbours = Array.from({ length: NEIGHBOURS }, (_, i) => testNeighbour(clock, `a${i}`));
      const connected = new Set(neighbours);
      const out = new RequestsOut((n) => connected.has(n));
      for (const s of steps) {
        const n = neighbours[s.n] as Neighbour;
        if (s.kind === 'add') {
          // The swarm never asks a neighbour twice for one piece.
          if (!n.inFlight.has(s.key)) out.add(n, s.key, { seq: 1, piece: s.key, sentAtMs: 0 });
        } else if (s.kind === 'end') {
          const had = n.inFlight.get(s.key);
          assert.equal(out.end(n, s.key), had);
          assert.equal(n.inFlight.has(s.key), false);
        } else {
          out.endAll(n);
          assert.equal(n.inFlight.size, 0);
          // As the swarm drops a neighbour: its requests end first.
          if (s.kind === 'drop') connected.delete(n);
        }
        const live = [...connected];
        assert.equal(out.toNeighbours, live.reduce((sum, c) => sum + c.inFlight.size, 0));
        for (let key = 0; key < KEYS; key++) {
          const asked = live.some((c) => c.inFlight.has(key));
          assert.equal(out.askedOfNeighbour(key), asked);
          assert.equal(out.requested(key), asked);
        }
      }
    }),
    { numRuns: 300 },
  );
});

test('a fetch from the origin counts as requested, not as asked of a neighbour', () => {
  const out = new RequestsOut(() => true);
  out.origin.set(7, { seq: 1, piece: 7, sentAtMs: 0 });
  assert.equal(out.requested(7), true);
  assert.equal(out.askedOfNeighbour(7), false);
  assert.equal(out.toNeighbours, 0);
});
