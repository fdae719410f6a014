import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { settledRung } from '../../harness/abr-rule.ts';
import { originFlags } from '../../origin/config.ts';
import { type AbrRunRecord, type AbrViewerRecord, abrFiguresJson, computeAbrFigures, renderAbrTable } from '../../scripts/bench/abr-figures.ts';
import { ABR_LADDER, planScenario } from '../../scripts/bench/scenarios.ts';
import { rungVariant } from '../../shared/master-playlist.ts';
import { parseLadder } from '../../shared/rendition.ts';
import { seededRng } from '../../shared/rng.ts';

const viewer = (more: Partial<AbrViewerRecord> = {}): AbrViewerRecord => ({
  switches: 0,
  watchMs: 60_000,
  rendition: 'low',
  fits: 'low',
  segments: new Map([['low', 60]]),
  playedBytes: new Map([['low', 1000]]),
  received: new Map([['low', { p2pBytes: 800, originBytes: 200 }]]),
  ...more,
});

const run = (viewers: AbrViewerRecord[], more: Partial<AbrRunRecord> = {}): AbrRunRecord => ({
  rungs: [
    { name: 'high', bandwidth: 2_000_000 },
    { name: 'low', bandwidth: 500_000 },
  ],
  viewers,
  egressBytes: new Map([['low', 500]]),
  publishedBytes: new Map([['low', 250], ['high', 1000]]),
  publishedSeconds: new Map([['low', 60], ['high', 57]]),
  runSeconds: 60,
  ...more,
});

describe('abr figures', () => {
  test('offload per rendition is the origin\'s: 1 - its egress / the bytes of it its viewers watched; p2p share the nodes\'', () => {
    const f = computeAbrFigures(
      run([
        viewer(),
        viewer({ switches: 3, rendition: 'high', segments: new Map([['low', 20], ['high', 40]]), playedBytes: new Map([['low', 1000], ['high', 4000]]), received: new Map([['high', { p2pBytes: 0, originBytes: 4000 }]]) }),
      ], { egressBytes: new Map([['low', 500], ['high', 4000]]) }),
    );
    const [high, low] = f.renditions;
    assert.deepEqual([high?.name, low?.name], ['high', 'low'], 'in the master playlist\'s order');
    assert.equal(low?.offload, 1 - 500 / 2000);
    assert.equal(high?.offload, 0, 'the origin sent all of it');
    assert.equal(low?.p2pShare, 800 / 1000);
    assert.equal(high?.p2pShare, 0);
    assert.equal(low?.originCopies, 2);
    assert.equal(high?.originCopies, 4);
    assert.deepEqual([high?.viewersAtEnd, low?.viewersAtEnd], [1, 1]);
    assert.deepEqual([high?.viewersFit, low?.viewersFit], [0, 2], 'both links fit the low rung only');
    assert.deepEqual([high?.timeShare, low?.timeShare], [40 / 120, 80 / 120]);
    assert.equal(f.switchesPerViewerMinute, 3 / 2, '3 switches over 2 viewer-minutes');
    assert.deepEqual([high?.realTime, low?.realTime], [57 / 60, 1], 'the origin published 57 s of the top rung in 60 s');
  });

  test('egress beyond what was watched (the origin seeds a rendition to nodes only relaying it) reads as no offload, not below 0', () => {
    const f = computeAbrFigures(run([viewer()], { egressBytes: new Map([['low', 5000]]) }));
    assert.equal(f.renditions[1]?.offload, 0);
  });

  test('a rendition nobody watched has no offload and no share; no watching, no switch rate', () => {
    const f = computeAbrFigures(run([viewer({ watchMs: 0, segments: new Map(), playedBytes: new Map(), received: new Map() })]));
    assert.equal(f.switchesPerViewerMinute, undefined);
    assert.deepEqual([f.renditions[0]?.offload, f.renditions[0]?.p2pShare, f.renditions[0]?.timeShare], [undefined, undefined, undefined]);
  });

  test('as a table and as JSON', () => {
    const f = computeAbrFigures(run([viewer({ switches: 1 })]));
    const table = renderAbrTable(f);
    assert.match(table, /^switchesPerViewerMinute\s+1\.00$/m);
    assert.match(table, /^low\s+500\s+1\s+1\s+100\.00 %\s+50\.00 %\s+80\.00 %\s+2\.00\s+1\.00$/m);
    assert.match(table, /^high\s+2000\s+0\s+0\s+0\.00 %\s+-\s+-\s+0\.00\s+0\.95$/m);
    assert.deepEqual(JSON.parse(JSON.stringify(abrFiguresJson(f))).renditions.low, { bandwidthKbps: 500, viewersFit: 1, viewersAtEnd: 1, timeShare: 1, offload: 0.5, p2pShare: 0.8, originCopies: 2, realTime: 1 });
  });
});

describe('the abr scenario', () => {
  const [plan] = planScenario('abr', { quick: false, peers: null, durationS: null, segmentMs: 1000, rng: seededRng(1) });

  test('N = 30 on the ladder, a download cap for every viewer', () => {
    assert.equal(plan?.ladder, ABR_LADDER);
    assert.equal(plan?.peers.length, 30);
    assert.ok(plan?.peers.every((p) => typeof p.downloadKbps === 'number' && p.downloadKbps > 0));
  });

  test('the caps spread the viewers: the ABR rule, fed each cap as its estimate, settles a third on each rung', () => {
    const bandwidths = parseLadder(ABR_LADDER)
      .map((r) => rungVariant(r, originFlags.fps.default, originFlags.audioKbps.default).bandwidth)
      .sort((a, b) => a - b);
    const settled = [0, 0, 0];
    for (const p of plan?.peers ?? []) {
      const rung = settledRung(bandwidths, 1000 * (p.downloadKbps as number));
      settled[rung] = (settled[rung] ?? 0) + 1;
    }
    assert.deepEqual(settled, [10, 10, 10]);
  });
});
