import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PeerRegistry } from '../../origin/peer-registry.ts';
import { type Rng, seededRng } from '../../shared/rng.ts';

const tokenOf = (peerId: string) => `token-of-${peerId}`;

function registry(n: number, reachable: (i: number) => boolean = () => true): PeerRegistry {
  const r = new PeerRegistry();
  for (let i = 0; i < n; i++) {
    r.add(`p${i}`, `ws://127.0.0.1:${1000 + i}/peer`, 1000, tokenOf(`p${i}`), 0);
    r.settle(`p${i}`, reachable(i));
  }
  return r;
}

/** An rng that counts its calls: a sample's cost is one draw per peer drawn. */
function counting(seed: number): { rng: Rng; calls: () => number } {
  const inner = seededRng(seed);
  let calls = 0;
  return {
    rng: () => {
      calls++;
      return inner();
    },
    calls: () => calls,
  };
}

describe('peer registry: sampling', () => {
  test('distinct, reachable, never the asker; at most what exists', () => {
    const r = registry(50, (i) => i % 3 !== 0);
    r.add('probing', 'ws://127.0.0.1:9/peer', 1000, tokenOf('probing'), 0);
    r.add('no-url', null, 1000, tokenOf('no-url'), 0);
    for (let seed = 1; seed <= 200; seed++) {
      const self = `p${seed % 50}`;
      const got = r.sample(self, 16, seededRng(seed));
      const ids = got.map((p) => p.peerId);
      assert.equal(new Set(ids).size, ids.length, 'distinct');
      assert.ok(!ids.includes(self), 'not the asker');
      for (const id of ids) assert.equal(r.get(id)?.reachability, 'reachable', `${id} is reachable`);
      assert.equal(ids.length, 16);
    }
    const reachable = [...r.all()].filter((p) => p.reachability === 'reachable').map((p) => p.peerId);
    assert.deepEqual(r.sample('p1', 100, seededRng(7)).map((p) => p.peerId).sort(), reachable.filter((id) => id !== 'p1').sort(), 'asking for more than exist gives all others');
    assert.deepEqual(r.sample('p0', 100, seededRng(7)).length, reachable.length, 'an unlisted asker takes nothing from the pool');
  });

  test('every reachable peer gets drawn: the sample is spread over all of them', () => {
    const r = registry(40);
    const seen = new Map<string, number>();
    const rng = seededRng(3);
    for (let i = 0; i < 2000; i++) for (const p of r.sample('p0', 4, rng)) seen.set(p.peerId, (seen.get(p.peerId) ?? 0) + 1);
    assert.equal(seen.size, 39);
    // 8000 draws over 39 peers: ~205 each.
    for (const [id, n] of seen) assert.ok(n > 120 && n < 300, `${id} drawn ${n} times`);
  });

  test('cost does not grow with the swarm: k draws for k peers, at 10 or 100 000 peers', () => {
    for (const n of [10, 1000, 100_000]) {
      const r = registry(n);
      const { rng, calls } = counting(n);
      const got = r.sample('p5', 8, rng);
      assert.equal(got.length, 8);
      assert.equal(calls(), 8, `${calls()} draws at ${n} peers`);
    }
  });

  test('leaving swap-removes: the index stays right after many joins and leaves', () => {
    const r = registry(100);
    const rng = seededRng(11);
    const alive = new Set([...r.all()].map((p) => p.peerId));
    for (let i = 0; i < 2000; i++) {
      const id = `p${Math.floor(rng() * 150)}`;
      if (alive.has(id)) {
        r.remove(id);
        alive.delete(id);
      } else {
        r.add(id, 'ws://127.0.0.1:1/peer', 1000, tokenOf(id), 0);
        r.settle(id, true);
        alive.add(id);
      }
    }
    assert.equal(r.reachableCount, alive.size);
    const all = r.sample('nobody', 1000, seededRng(1)).map((p) => p.peerId);
    assert.deepEqual(all.sort(), [...alive].sort());
  });

  test('a probe verdict settles a peer once; a peer that left is not listed by a late verdict', () => {
    const r = new PeerRegistry();
    r.add('a', 'ws://127.0.0.1:1/peer', 0, tokenOf('a'), 0);
    assert.equal(r.get('a')?.reachability, 'probing');
    assert.deepEqual(r.sample('x', 10, seededRng(1)), [], 'not listed while probing');
    r.settle('a', false);
    r.settle('a', true);
    assert.equal(r.get('a')?.reachability, 'unreachable');
    assert.deepEqual(r.sample('x', 10, seededRng(1)), []);
    r.add('b', 'ws://127.0.0.1:2/peer', 0, tokenOf('b'), 0);
    r.remove('b');
    r.settle('b', true);
    assert.equal(r.reachableCount, 0);
    assert.equal(r.add('c', null, 0, tokenOf('c'), 0).reachability, 'unreachable', 'no address: never probed, never listed');
  });

  test('a fetch token names its peer while it is joined, and nobody once it left', () => {
    const r = new PeerRegistry();
    r.add('a', null, 1000, 'secret-a', 0);
    r.add('b', null, 0, 'secret-b', 0);
    assert.equal(r.byFetchToken('secret-a')?.peerId, 'a');
    assert.equal(r.byFetchToken('secret-b')?.peerId, 'b');
    assert.equal(r.byFetchToken('a'), undefined, 'a peer id is not a token');
    r.remove('a');
    assert.equal(r.byFetchToken('secret-a'), undefined);
    assert.equal(r.byFetchToken('__proto__'), undefined);
  });

  test('ids shaped like Object.prototype members are ordinary ids', () => {
    const ids = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];
    const r = new PeerRegistry();
    for (const id of ids) {
      r.add(id, `ws://127.0.0.1:1/peer`, 0, tokenOf(id), 0);
      r.settle(id, true);
    }
    assert.equal(r.size, ids.length);
    assert.equal(r.reachableCount, ids.length);
    assert.deepEqual(r.sample('toString', 10, seededRng(2)).map((p) => p.peerId).sort(), ids.filter((id) => id !== 'toString').sort());
    r.remove('__proto__');
    assert.equal(r.has('__proto__'), false);
    assert.equal(r.reachableCount, ids.length - 1);
    assert.deepEqual(r.sample('x', 10, seededRng(3)).map((p) => p.peerId).sort(), ids.filter((id) => id !== '__proto__').sort());
    assert.equal(Object.getPrototypeOf({}), Object.prototype);
  });
});
