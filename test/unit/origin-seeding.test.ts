import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Egress, type EgressClass } from '../../origin/egress.ts';
import { initialSeederState, planSeeding, type SeedCandidate, seedable } from '../../origin/seeder.ts';
import { ManualClock } from '../../shared/clock.ts';
import fc from 'fast-check';

describe('seeder: each piece to one of the faster half of the uploaders, by weighted round-robin over declared upload', () => {
  const peers = (...kbps: number[]): SeedCandidate[] => kbps.map((k, i) => ({ peerId: String.fromCharCode(65 + i), uploadKbps: k }));
  const firsts = (pieces: number, candidates: SeedCandidate[], copies = 1) => {
    let state = initialSeederState();
    const out: string[] = [];
    for (let segment = 0; segment < 3; segment++) {
      const plan = planSeeding(pieces, candidates, state, copies);
      state = plan.state;
      out.push(plan.targets.map((t) => t.slice(0, copies).join('+')).join(' '));
    }
    return out;
  };

  const table: [string, SeedCandidate[], number, string[]][] = [
    ['equal peers take turns, and the turn carries over to the next segment', peers(1000, 1000, 1000), 2, ['A B', 'C A', 'B C']],
    ['a peer with twice the upload takes twice the pieces', peers(2000, 1000, 1000, 500), 4, ['A B C A', 'A B C A', 'A B C A']],
    ['free-riders (upload 0) are never seeded', peers(0, 1000, 0), 2, ['B B', 'B B', 'B B']],
    ['the slower half of the uploaders is never seeded', peers(750, 3000, 750, 0, 2000, 750, 1500), 3, ['B E G', 'B E B', 'G B E']],
    ['nobody to seed: no targets', peers(0, 0), 2, [' ', ' ', ' ']],
  ];
  for (const [name, candidates, pieces, expected] of table) {
    test(name, () => assert.deepEqual(firsts(pieces, candidates), expected));
  }

  test('the targets are a stable ranking by credit, whatever the swarm: the same as sorting everyone, in one pass', () => {
    /** The plan as it was written first: sort every eligible peer by credit for every piece. */
    const bySorting = (pieceCount: number, candidates: SeedCandidate[], copies: number) => {
      const eligible = seedable(candidates).map((c) => ({ peerId: c.peerId, weight: Math.min(c.uploadKbps, 20_000) })).sort((a, b) => (a.peerId < b.peerId ? -1 : 1));
      const credit = new Map(eligible.map((c) => [c.peerId, 0]));
      const total = eligible.reduce((n, c) => n + c.weight, 0);
      const targets: string[][] = [];
      for (let p = 0; p < pieceCount; p++) {
        for (const c of eligible) credit.set(c.peerId, (credit.get(c.peerId) ?? 0) + c.weight);
        const chosen = [...eligible].sort((a, b) => (credit.get(b.peerId) ?? 0) - (credit.get(a.peerId) ?? 0)).slice(0, Math.min(eligible.length, copies + 2)).map((c) => c.peerId);
        for (const id of chosen.slice(0, copies)) credit.set(id, (credit.get(id) ?? 0) - total / Math.min(copies, eligible.length));
        targets.push(chosen);
      }
      return targets;
    };
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 30 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 3 }), (kbps, pieces, copies) => {
        const candidates = peers(...kbps.map((k) => Math.round(k / 500) * 500));
        assert.deepEqual(planSeeding(pieces, candidates, initialSeederState(), copies).targets, bySorting(pieces, candidates, copies));
      }),
    );
  });

  test('the seedable peers are those declaring at least the median upload of the uploaders', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50_000 }), { maxLength: 30 }), (kbps) => {
        const candidates = peers(...kbps);
        const chosen = seedable(candidates);
        const uploaders = candidates.filter((c) => c.uploadKbps > 0);
        // At least half the uploaders, and none slower than one left out.
        assert.ok(2 * chosen.length >= uploaders.length);
        const slowestChosen = Math.min(...chosen.map((c) => c.uploadKbps));
        for (const c of uploaders) if (!chosen.includes(c)) assert.ok(c.uploadKbps < slowestChosen);
        assert.equal(chosen.length === 0, uploaders.length === 0);
      }),
    );
  });

  test('two copies go to two different peers', () => {
    for (const line of firsts(4, peers(1000, 1000, 1000), 2)) {
      for (const pair of line.split(' ')) assert.notEqual(pair.split('+')[0], pair.split('+')[1]);
    }
  });

  test('every piece lists fallbacks after its targets, all distinct', () => {
    const plan = planSeeding(5, peers(1000, 1000, 1000, 1000), initialSeederState(), 1);
    for (const t of plan.targets) {
      assert.equal(t.length, 3);
      assert.equal(new Set(t).size, 3);
    }
  });

  test('a huge declared upload is capped, so one peer cannot take every piece', () => {
    const plan = planSeeding(10, peers(100_000_000, 20_000), initialSeederState(), 1);
    assert.ok(plan.targets.filter((t) => t[0] === 'B').length >= 4);
  });
});

describe('origin egress', () => {
  test('sends at the link rate, one item at a time, seeds before HTTP', () => {
    const clock = new ManualClock(0);
    const egress = new Egress(8, clock, () => Number.POSITIVE_INFINITY); // 8 kbit/s = 1 byte per ms
    const sent: string[] = [];
    egress.send('http', 1000, () => sent.push(`http1@${clock.nowMs()}`));
    egress.send('http', 1000, () => sent.push(`http2@${clock.nowMs()}`));
    egress.send('seed', 500, () => sent.push(`seed@${clock.nowMs()}`));
    clock.advance(5000);
    // http1 was already on the wire; the seed jumps the queue ahead of http2.
    assert.deepEqual(sent, ['http1@1000', 'seed@1500', 'http2@2500']);
  });

  test('spare items go only when neither seeds nor HTTP fallbacks wait; an item on the wire is never preempted', () => {
    const clock = new ManualClock(0);
    const egress = new Egress(8, clock, () => Number.POSITIVE_INFINITY); // 1 byte per ms
    const sent: string[] = [];
    const send = (cls: EgressClass, name: string, bytes = 1000) => egress.send(cls, bytes, () => sent.push(`${name}@${clock.nowMs()}`));
    send('spare', 'spare1');
    send('spare', 'spare2');
    send('http', 'http1');
    send('seed', 'seed1', 500);
    clock.advance(1000);
    // spare1 found the link idle and finishes; everything queued behind it goes by class, then in order.
    send('http', 'http2');
    clock.advance(10_000);
    assert.deepEqual(sent, ['spare1@1000', 'seed1@1500', 'http1@2500', 'http2@3500', 'spare2@4500']);
  });

  test('a spare item waits for as long as others keep the link busy, and is dropped if nobody wants it by its turn', () => {
    const clock = new ManualClock(0);
    const egress = new Egress(8, clock, () => Number.POSITIVE_INFINITY);
    const sent: string[] = [];
    let waiting = true;
    egress.send('http', 1000, () => sent.push('http0'));
    egress.send('spare', 1000, () => sent.push('spare'), () => waiting);
    // A new fallback every second keeps the link full for 5 s.
    for (let i = 1; i <= 4; i++) clock.setTimeout(() => egress.send('http', 1000, () => sent.push(`http${i}`)), i * 1000 - 1);
    clock.setTimeout(() => (waiting = false), 4500);
    clock.advance(10_000);
    assert.deepEqual(sent, ['http0', 'http1', 'http2', 'http3', 'http4']);
  });

  test('an item nobody wants any more costs no link time', () => {
    const clock = new ManualClock(0);
    const egress = new Egress(8, clock, () => Number.POSITIVE_INFINITY);
    const sent: string[] = [];
    egress.send('http', 1000, () => sent.push('a'));
    egress.send('http', 1000, () => sent.push('gone'), () => false);
    egress.send('http', 1000, () => sent.push(`b@${clock.nowMs()}`));
    clock.advance(5000);
    assert.deepEqual(sent, ['a', 'b@2000']);
  });

  test('unlimited egress sends at once; a closed one sends nothing', () => {
    const clock = new ManualClock(0);
    const sent: string[] = [];
    new Egress(0, clock, () => Number.POSITIVE_INFINITY).send('http', 1e9, () => sent.push('now'));
    const closed = new Egress(8, clock, () => Number.POSITIVE_INFINITY);
    closed.send('seed', 10, () => sent.push('never'));
    closed.close();
    clock.advance(100_000);
    assert.deepEqual(sent, ['now']);
  });
});
