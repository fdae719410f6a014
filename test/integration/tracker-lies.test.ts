/**
 * Offload cannot be faked. One joined client announces absurd statistics
 * (counters at 2^53 − 1, counters going down, the two alternating, a million
 * stalls and bad pieces) while honest peers play. The origin_offload_ratio
 * gauge and the dashboard's headline figures are what the origin measures
 * itself (its segment egress against what its audience needed), so they stay
 * exactly that; the liar's reported statistics are clamped to what a fast
 * honest node could report in the time.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DashboardSnapshot } from '../../origin/dashboard/api.ts';
import { offloadRatio } from '../../origin/offload.ts';
import type { Origin } from '../../origin/origin.ts';
import type { PeerNode } from '../../peer-node/node.ts';
import { PlaybackModel } from '../../harness/playback-model.ts';
import { MAX_REPORTED_BYTES_PER_SEC, MAX_REPORTED_HASH_FAILURES_PER_SEC, MAX_REPORTED_STALLS_PER_SEC } from '../../shared/limits.ts';
import type { PeerStats } from '../../shared/tracker-protocol.ts';
import { startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { originSha, startTestPeer, trackerUrl } from '../helpers/swarm.ts';
import { type TestTrackerClient, trackerClient } from '../helpers/tracker-client.ts';
import { waitFor } from '../helpers/wait.ts';

const LIE_MS = 12_000;
const TOLERANCE = 0.01;
const MAX = Number.MAX_SAFE_INTEGER;

/** The liar's reports, in turn: huge, down to nothing, huge again, then stalls and bad pieces by the million. */
const LIES: PeerStats[] = [
  { p2pBytes: MAX, originBytes: 0, uploadedBytes: MAX, stalls: 0, stallMs: 0, neighbours: MAX, hashFailures: 0 },
  { p2pBytes: 0, originBytes: 0, uploadedBytes: 0, stalls: 0, stallMs: 0, neighbours: 0, hashFailures: 0 },
  { p2pBytes: MAX - 1, originBytes: 1, uploadedBytes: MAX - 1, stalls: 1_000_000, stallMs: MAX, neighbours: 24, hashFailures: 1_000_000 },
  { p2pBytes: 5, originBytes: MAX, uploadedBytes: 5, stalls: 0, stallMs: 0, neighbours: 1, hashFailures: 0 },
];

/** Summed over the metric's labels. */
function metric(text: string, name: string): number {
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
}

describe('offload cannot be faked', () => {
  let origin: Origin;
  const peers: PeerNode[] = [];
  const players: PlaybackModel[] = [];
  let liar: TestTrackerClient;

  before(async () => {
    origin = await startTestOrigin();
    await waitForSegments(origin, 2);
    const sha = originSha(origin);
    for (const [i, peerId] of ['honest-a', 'honest-b'].entries()) {
      const peer = await startTestPeer(origin, { peerId, seed: i + 1 });
      peers.push(peer);
      const player = PlaybackModel.forPeer(peer.url, sha);
      player.start();
      players.push(player);
    }
    await waitFor('the honest peers to play', () => players.every((p) => p.current().segmentsDue >= 2), 30_000);
  });

  after(async () => {
    await liar?.close();
    await Promise.all(players.map((p) => p.close()));
    await Promise.all(peers.map((p) => p.close()));
    await origin?.close();
  });

  test(`a client announcing absurd statistics for ${LIE_MS / 1000} s moves neither the gauge nor the dashboard headline`, { timeout: 60_000 }, async (t) => {
    liar = await trackerClient(trackerUrl(origin), { peerId: 'liar', url: () => null });
    await liar.welcomed();
    const joinedAt = Date.now();
    let sent = 0;
    const lying = setInterval(() => liar.send({ type: 'announce', stats: LIES[sent++ % LIES.length] as PeerStats }), 200);
    const seen: string[] = [];
    try {
      while (Date.now() - joinedAt < LIE_MS) {
        // Sampling the gauges twice a second over LIE_MS of lying.
        await sleep(500);
        const text = await (await fetch(`${origin.url}/metrics`)).text();
        const gauge = metric(text, 'origin_offload_ratio');
        const measured = offloadRatio({
          egressBytes: metric(text, 'origin_http_segment_bytes_total') + metric(text, 'origin_seed_bytes_total'),
          audienceBytes: metric(text, 'origin_audience_segment_bytes_total'),
        });
        assert.ok(Math.abs(gauge - measured) <= TOLERANCE, `gauge ${gauge}, the origin measured ${measured}`);
        const snap = (await (await fetch(`${origin.url}/api/dashboard`)).json()) as DashboardSnapshot;
        const tot = snap.totals;
        const headline = offloadRatio({ egressBytes: tot.originHttpBytes + tot.originSeedBytes, audienceBytes: tot.audienceBytes });
        assert.ok(Math.abs(tot.offloadRatio - headline) <= TOLERANCE, `dashboard since start ${tot.offloadRatio}, measured ${headline}`);
        for (const p of snap.series.slice(-5)) {
          if (p.offload === null) continue;
          const lately = offloadRatio({ egressBytes: p.originHttpBps + p.originSeedBps, audienceBytes: p.audienceBps });
          assert.ok(Math.abs(p.offload - lately) <= TOLERANCE, `dashboard lately ${p.offload}, measured ${lately}`);
        }
        seen.push(`${gauge.toFixed(3)}`);
      }
    } finally {
      clearInterval(lying);
    }
    const elapsedS = (Date.now() - joinedAt) / 1000 + 1;
    const rec = origin.tracker.registry.get('liar');
    assert.ok(rec, 'the liar is still joined');
    const snap = (await (await fetch(`${origin.url}/api/dashboard`)).json()) as DashboardSnapshot;
    const row = snap.peers.find((p) => p.peerId === 'liar');
    t.diagnostic(`${sent} lies sent; gauge over time ${seen.join(' ')}; origin's ${snap.totals.offloadRatio.toFixed(3)} since start`);
    t.diagnostic(`liar credited: ${JSON.stringify(rec.stats)}; reported totals: p2p ${snap.totals.p2pBytes}, stalls ${snap.totals.stalls}, bad pieces ${snap.totals.hashFailures}`);
    assert.ok(sent >= 40);
    // Reported statistics: only as much as a fast honest node could report in the time.
    assert.ok(rec.stats.p2pBytes <= MAX_REPORTED_BYTES_PER_SEC * elapsedS, `p2p ${rec.stats.p2pBytes}`);
    assert.ok(rec.stats.stalls <= MAX_REPORTED_STALLS_PER_SEC * elapsedS, `stalls ${rec.stats.stalls}`);
    assert.ok(rec.stats.stallMs <= 1000 * elapsedS, `stallMs ${rec.stats.stallMs}`);
    assert.ok(rec.stats.hashFailures <= MAX_REPORTED_HASH_FAILURES_PER_SEC * elapsedS, `bad pieces ${rec.stats.hashFailures}`);
    assert.ok(row && row.p2pBytes === rec.stats.p2pBytes && row.stalls === rec.stats.stalls, 'the dashboard shows what was credited');
    assert.ok(snap.totals.stalls < 1000 && snap.totals.hashFailures < 2000, 'stalls and bad pieces by the million');
    const played = players.map((p) => p.current());
    assert.ok(played.every((r) => r.corrupt === 0 && r.segmentsDue >= 10), `honest playback: ${JSON.stringify(played)}`);
  });
});
