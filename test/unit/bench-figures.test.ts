import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type RunRecord, type ViewerRecord, computeFigures, percentile } from '../../scripts/bench/figures.ts';
import { planScenario } from '../../scripts/bench/scenarios.ts';
import { seededRng } from '../../shared/rng.ts';

function viewer(more: Partial<ViewerRecord> = {}, playback: Partial<ViewerRecord['playback']> = {}): ViewerRecord {
  return {
    freeRider: false,
    p2pBytes: 900,
    duplicateBytes: 100,
    originBytes: 100,
    controlBytes: 10,
    activeMs: 10_000,
    lagsMs: [500, 700],
    playback: { startupMs: 800, segmentsDue: 10, segmentsOnTime: 9, stalls: 1, stalledMs: 500, watchMs: 10_000, behindLiveMs: [3000, 3200], corrupt: 0, failed: 0, digests: [{ seq: 1, sha256: 'a' }], ...playback },
    ...more,
  };
}

function run(viewers: ViewerRecord[], more: Partial<RunRecord> = {}): RunRecord {
  return { viewers, originEgressBytes: 300, publishedBytes: 250, originSha256: new Map([[1, 'a']]), peerCpuMs: 500, peerTimeMs: 20_000, peerProcessRssMb: [60, 70], p2p: true, ...more };
}

describe('benchmark figures, as BENCHMARKS.md defines them', () => {
  test('from what the viewers and the origin did', () => {
    const f = computeFigures(run([viewer(), viewer({ freeRider: true, p2pBytes: 300, originBytes: 700 }, { segmentsOnTime: 4 })]));
    assert.equal(f.peers, 2);
    assert.equal(f.offload, 1200 / 2000);
    assert.equal(f.originCopies, 300 / 250);
    assert.equal(f.continuity, 13 / 20);
    assert.equal(f.continuityContributors, 9 / 10, 'the free-rider\'s stalls are not the contributors\'');
    assert.equal(f.rebufferRatio, 1000 / 20_000);
    assert.equal(f.startupMsP50, 800);
    assert.equal(f.lagMsP95, 700);
    assert.equal(f.behindLiveMsP50, 3000);
    assert.equal(f.freeRiderShare, 300 / 900);
    assert.equal(f.overhead, 20 / 2000);
    assert.equal(f.duplicates, 200 / (1200 + 200), 'duplicate peer bytes over all peer piece bytes received');
    assert.equal(f.corruptPlayed, 0);
    assert.equal(f.cpuPctPerPeer, 2.5);
    assert.equal(f.rssMbPerPeer, 65);
  });

  test('a segment whose digest differs from the origin\'s is a corrupt one played', () => {
    const f = computeFigures(run([viewer({}, { digests: [{ seq: 1, sha256: 'b' }, { seq: 2, sha256: 'unknown-to-origin' }] })]));
    assert.equal(f.corruptPlayed, 1);
  });

  test('no free-riders, no freeRiderShare; the baseline has no per-peer CPU or memory', () => {
    const f = computeFigures(run([viewer()], { p2p: false }));
    assert.ok(!('freeRiderShare' in f));
    assert.ok(!('continuityContributors' in f));
    assert.ok(!('cpuPctPerPeer' in f));
  });

  test('percentiles by nearest rank', () => {
    assert.equal(percentile([], 50), undefined);
    assert.equal(percentile([5], 95), 5);
    assert.equal(percentile([1, 2, 3, 4], 50), 2);
    assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95), 10);
  });
});

describe('benchmark scenarios', () => {
  const plan = (name: Parameters<typeof planScenario>[0], quick = false) =>
    planScenario(name, { quick, peers: null, durationS: null, segmentMs: 1000, rng: seededRng(1) });

  test('the scenarios of BENCHMARKS.md', () => {
    assert.equal(plan('swarm-50')[0]?.peers.length, 50);
    assert.equal(plan('swarm-small')[0]?.peers.length, 10);
    assert.equal(plan('baseline-http')[0]?.p2p, false);
    const riders = plan('free-riders')[0]?.peers ?? [];
    assert.equal(riders.filter((p) => p.freeRider && p.uploadKbps === 0).length, 10);
    assert.equal(riders.filter((p) => !p.freeRider).length, 40);
    const flash = (plan('flash-crowd')[0]?.peers ?? []).map((p) => p.joinAtMs);
    assert.ok(Math.max(...flash) - Math.min(...flash) <= 5000);
    assert.deepEqual(plan('picker-ablation').map((p) => [p.picker, p.choker]), [['sequential', 'tit-for-tat'], ['random', 'tit-for-tat'], ['rarest-deadline', 'all-unchoked']]);
  });

  test('churn: every 30 s a third of those present leave and as many join', () => {
    const peers = plan('churn')[0]?.peers ?? [];
    const leftAt30 = peers.filter((p) => p.leaveAtMs === 30_000).length;
    assert.equal(leftAt30, Math.floor(50 / 3));
    assert.equal(peers.filter((p) => p.joinAtMs >= 30_000 && p.joinAtMs < 31_000).length, leftAt30);
  });
});
