/**
 * No poisoned playback: a hostile peer joins a real swarm through the tracker
 * like any node, claims every piece, answers requests with wrong bytes, sends
 * pieces nobody asked for and pieces of segments outside the window, and
 * withholds what the origin seeds to it. Every honest node's player gets only
 * the origin's bytes, the liar is cut off after at most maxHashFailures bad
 * pieces and refused from then on, and playback carries on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Origin } from '../../origin/origin.ts';
import { peerConfig } from '../../peer-node/config.ts';
import type { PeerNode } from '../../peer-node/node.ts';
import { PlaybackModel, type PlaybackResult } from '../../harness/playback-model.ts';
import { type HostileConn, HostilePeer } from '../helpers/hostile-peer.ts';
import { startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { originSha, startTestPeer, trackerUrl } from '../helpers/swarm.ts';
import { waitFor } from '../helpers/wait.ts';

const HONEST = 4;
const MAX_HASH_FAILURES = peerConfig().maxHashFailures;
const BAN_REASON = 'too many bad pieces';
/** The second liar joins this long after the players start, into a swarm already playing. */
const LATE_JOIN_MS = 8000;
/** How soon after a liar shows up every honest node must have cut it off. */
const CUT_OFF_WITHIN_MS = 20_000;
/** Total playback, from the players' start. */
const RUN_MS = 30_000;

interface Liar {
  hostile: HostilePeer;
  /** Per honest node: when it cut this liar off, its hashFailures counter and its player's figures then. */
  bannedAt: number[];
  failuresAtBan: number[];
  atBan: PlaybackResult[];
  redials: HostileConn[];
  /** Why the wait for every honest node to cut it off failed; null if they all did in time. */
  cutOffTimeout: string | null;
}

/**
 * Two liars: `liar` joins before the honest nodes, which are told of it in
 * their welcome and dial it; `late-liar` joins mid-stream and dials them.
 */
describe('hostile peers among honest ones', () => {
  let origin: Origin;
  const honest: PeerNode[] = [];
  let models: PlaybackModel[] = [];
  const results: PlaybackResult[] = [];
  const liars: Liar[] = [];

  /**
   * Waits for every honest node to cut the liar off, then has the liar dial them all again. A wait that
   * times out is kept, not thrown: the fixture goes on so that every test below reports what it sees,
   * and the ban test fails on it.
   */
  async function cutOff(l: Liar): Promise<void> {
    l.cutOffTimeout = await waitFor(
      `every honest node to cut ${l.hostile.peerId} off`,
      () => honest.every((p) => l.hostile.with(p.peerId).some((c) => c.closeReason === BAN_REASON)),
      CUT_OFF_WITHIN_MS,
    ).then(
      () => null,
      (e: Error) => e.message,
    );
    honest.forEach((p, i) => {
      l.bannedAt[i] = Math.min(Date.now(), ...l.hostile.with(p.peerId).filter((c) => c.closeReason === BAN_REASON).map((c) => c.closedAtMs as number));
      l.failuresAtBan[i] = p.counters.hashFailures;
      l.atBan[i] = models[i]?.current() as PlaybackResult;
    });
    // The liar tries again, as itself, at every honest node.
    l.redials.push(...(await Promise.all(honest.map((p) => l.hostile.dialAndWait(`ws://127.0.0.1:${p.port}/peer`, 5000)))));
  }

  const liar = (peerId: string): Liar => {
    const l: Liar = { hostile: new HostilePeer({ tracker: trackerUrl(origin), peerId, uploadKbps: 1_000_000 }), bannedAt: [], failuresAtBan: [], atBan: [], redials: [], cutOffTimeout: null };
    liars.push(l);
    return l;
  };

  before(async () => {
    origin = await startTestOrigin();
    const sha = originSha(origin);
    const early = liar('liar');
    await early.hostile.start();
    await waitForSegments(origin, 2);
    for (let i = 0; i < HONEST; i++) honest.push(await startTestPeer(origin, { peerId: `honest-${i}`, seed: i + 1, latencyMs: 20, uploadKbps: 3000 }));
    const startedAt = Date.now();
    models = honest.map((p) => PlaybackModel.forPeer(p.url, sha));
    for (const m of models) m.start();
    await cutOff(early);

    // On purpose: the late liar must join a swarm that has been playing a while.
    await sleep(Math.max(0, LATE_JOIN_MS - (Date.now() - startedAt)));
    const late = liar('late-liar');
    await late.hostile.start();
    await cutOff(late);

    // On purpose: playback runs RUN_MS in all, so it is seen carrying on after both liars.
    await sleep(Math.max(0, RUN_MS - (Date.now() - startedAt)));
    results.push(...(await Promise.all(models.map((m) => m.close()))));
  });

  after(async () => {
    await Promise.all(models.map((m) => m.close()));
    for (const l of liars) await l.hostile.close();
    await Promise.all(honest.map((p) => p.close()));
    await origin?.close();
  });

  test('the liars really lied: claimed pieces, answered requests with wrong bytes, sent pieces unasked and out of the window', (t) => {
    for (const { hostile } of liars) {
      const sum = (f: (c: HostileConn) => number) => hostile.conns.reduce((n, c) => n + f(c), 0);
      t.diagnostic(
        `${hostile.peerId}: ${hostile.conns.length} connections, ${sum((c) => c.claimed)} pieces claimed, ${sum((c) => c.requests)} requests answered with wrong bytes, ` +
          `${sum((c) => c.unrequestedBad)} wrong pieces unasked, ${sum((c) => c.outOfWindow)} pieces outside the window, ${hostile.seedPiecesWithheld} seeded pieces withheld`,
      );
      for (const c of hostile.conns) t.diagnostic(`  ${c.outbound ? 'to' : 'from'} ${c.remoteId ?? '?'}: ${c.requests} requests, ${c.badAnswers + c.unrequestedBad} bad pieces sent, closed ${c.closeCode} ${c.closeReason}`);
      assert.ok(sum((c) => c.claimed) > 0);
      assert.ok(sum((c) => c.badAnswers) > 0, `no honest node ever asked ${hostile.peerId} for a piece`);
      assert.ok(sum((c) => c.unrequestedBad) > 0);
      assert.ok(sum((c) => c.outOfWindow) > 0);
    }
    assert.ok(liars[1]?.hostile.conns.some((c) => c.outbound && c.acceptedAtMs !== null), 'the late liar never got in by dialling');
  });

  test('no player ever receives a byte the origin did not publish', (t) => {
    results.forEach((r, i) => t.diagnostic(`honest-${i}: ${r.segmentsOnTime}/${r.segmentsDue} on time, ${r.stalls} stalls, corrupt ${r.corrupt}, failed ${r.failed}`));
    results.forEach((r, i) => {
      assert.equal(r.corrupt, 0, `honest-${i} played bytes the origin did not publish`);
      assert.equal(r.failed, 0, `honest-${i} was refused segments`);
      assert.ok(r.digests.length >= 20, `honest-${i} received only ${r.digests.length} segments`);
    });
  });

  test(`each honest node cuts each liar off after at most ${MAX_HASH_FAILURES} bad pieces`, (t) => {
    for (const { hostile, cutOffTimeout } of liars) assert.equal(cutOffTimeout, null, `${hostile.peerId} was not cut off by every honest node within ${CUT_OFF_WITHIN_MS} ms`);
    honest.forEach((p, i) => {
      let before = 0;
      for (const { hostile, failuresAtBan } of liars) {
        const failures = (failuresAtBan[i] as number) - before;
        before = failuresAtBan[i] as number;
        t.diagnostic(`${p.peerId}: ${failures} bad pieces from ${hostile.peerId} before cutting it off`);
        assert.ok(failures >= 1, `${p.peerId} never saw a bad piece from ${hostile.peerId}`);
        assert.ok(failures <= MAX_HASH_FAILURES, `${p.peerId} took ${failures} bad pieces from ${hostile.peerId}`);
        assert.ok(hostile.with(p.peerId).some((c) => c.closeCode === 1008 && c.closeReason === BAN_REASON));
        assert.equal(p.swarm.connectedTo(hostile.peerId), false);
      }
      assert.equal(p.counters.hashFailures, before, `${p.peerId} saw bad pieces after cutting both liars off`);
    });
    const honestIds = new Set(honest.map((p) => p.peerId));
    for (const { hostile } of liars) {
      const open = hostile.openConns.filter((c) => c.acceptedAtMs !== null && honestIds.has(c.remoteId as string));
      assert.equal(open.length, 0, `${hostile.peerId} still has an accepted connection to an honest node`);
    }
  });

  test('once cut off, a liar is never accepted again: its own dials are refused and nobody dials it', (t) => {
    for (const { hostile, redials, bannedAt } of liars) {
      honest.forEach((p, i) => {
        const r = redials[i] as HostileConn;
        t.diagnostic(`${hostile.peerId} redials ${p.peerId}: ${r.closeCode} ${r.closeReason}, accepted ${r.acceptedAtMs !== null}`);
        assert.equal(r.closeCode, 1008);
        assert.equal(r.closeReason, 'banned');
        assert.equal(r.acceptedAtMs, null);
        const accepted = hostile.conns.filter((c) => c.acceptedAtMs !== null && c.acceptedAtMs > (bannedAt[i] as number) && c.remoteId === p.peerId);
        assert.equal(accepted.length, 0, `${p.peerId} accepted ${hostile.peerId} again after banning it`);
        const dialled = hostile.conns.filter((c) => !c.outbound && c.remoteId === p.peerId && c.openedAtMs > (bannedAt[i] as number) + 1000);
        assert.equal(dialled.length, 0, `${p.peerId} dialled ${hostile.peerId} after banning it`);
      });
    }
  });

  test('honest playback carries on while liars come and go: segments keep coming, on time', (t) => {
    const late = liars[1] as Liar;
    results.forEach((r, i) => {
      const since = late.atBan[i] as PlaybackResult;
      t.diagnostic(`honest-${i}: ${r.segmentsDue - since.segmentsDue} segments played after the late liar was cut off, continuity ${(r.segmentsOnTime / r.segmentsDue).toFixed(3)}`);
      assert.ok(r.segmentsDue - since.segmentsDue >= 8, `honest-${i} played ${r.segmentsDue - since.segmentsDue} segments after the late liar was cut off`);
      assert.ok(r.segmentsOnTime / r.segmentsDue >= 0.9, `honest-${i} continuity ${r.segmentsOnTime}/${r.segmentsDue}`);
    });
  });
});
