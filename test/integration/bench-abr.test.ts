import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { before, describe, test } from 'node:test';
import { type AbrFigures, computeAbrFigures, renderAbrTable } from '../../scripts/bench/abr-figures.ts';
import { ensureClip } from '../../scripts/bench/clip.ts';
import { type Figures, type RunRecord, computeFigures } from '../../scripts/bench/figures.ts';
import { runScenario } from '../../scripts/bench/run-scenario.ts';
import { type ScenarioPlan, planScenario } from '../../scripts/bench/scenarios.ts';
import { renderTable } from '../../scripts/bench/table.ts';
import { seededRng } from '../../shared/rng.ts';

/**
 * A tiny run of the benchmark's abr scenario: a real origin encoding the
 * ladder, six real peer nodes with download caps (one as a process of its
 * own), each played by the ABR model. It checks that the figures are there
 * and sane; it asserts no speed.
 */
describe('benchmark harness, abr, tiny', () => {
  const plan = { ...(planScenario('abr', { quick: true, peers: 6, durationS: 24, segmentMs: 1000, rng: seededRng(7) })[0] as ScenarioPlan), processPeers: 1 };
  let run: RunRecord;
  let figures: Figures;
  let abr: AbrFigures;

  before(async () => {
    const clipPath = await ensureClip({ seconds: 40, segmentSeconds: 1, videoKbps: 1372, audioKbps: 128, ffmpegPath: 'ffmpeg', cacheDir: fileURLToPath(new URL('../../.cache/', import.meta.url)) });
    run = await runScenario(plan, { clipPath, segmentSeconds: 1, seed: 7, progress: () => undefined });
    figures = computeFigures(run);
    abr = computeAbrFigures(run.abr as NonNullable<RunRecord['abr']>);
  }, { timeout: 120_000 });

  test('every viewer played the ladder, nothing corrupt', (t) => {
    t.diagnostic(`${renderTable('abr', figures, null)}\n${renderAbrTable(abr)}`);
    assert.equal(figures.peers, 6);
    for (const v of run.viewers) assert.ok(v.playback.startupMs !== null && v.playback.segmentsDue > 0, 'played');
    assert.equal(figures.corruptPlayed, 0, 'each segment matched its own rendition\'s hash at the origin');
    assert.ok((figures.continuity as number) > 0 && (figures.continuity as number) <= 1);
    assert.ok((figures.offload as number) > 0, 'peers shared');
  });

  test('switches are counted, and offload per rendition is a share', () => {
    assert.deepEqual(run.abr?.rungs.map((r) => r.name), ['360p', '240p', '144p']);
    const switches = run.abr?.viewers.reduce((n, v) => n + v.switches, 0) ?? 0;
    assert.ok(switches > 0, 'viewers whose cap carries a higher rung climbed from the lowest');
    assert.ok(Number.isFinite(abr.switchesPerViewerMinute) && (abr.switchesPerViewerMinute as number) > 0);
    const bottom = abr.renditions.find((r) => r.name === '144p');
    assert.ok(bottom?.offload !== undefined, 'the lowest rung was watched after the warm-up');
    for (const r of abr.renditions) {
      for (const share of [r.offload, r.p2pShare, r.timeShare]) assert.ok(share === undefined || (share >= 0 && share <= 1), `${r.name}: ${share}`);
    }
    assert.equal(abr.renditions.reduce((n, r) => n + r.viewersAtEnd, 0), 6);
    assert.deepEqual(abr.renditions.map((r) => r.viewersFit), [2, 2, 2], 'the caps spread the viewers, two to a rung');
  });
});
