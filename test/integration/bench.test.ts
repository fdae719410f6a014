import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { before, describe, test } from 'node:test';
import { ensureClip } from '../../scripts/bench/clip.ts';
import { FIGURE_KEYS, type Figures, computeFigures } from '../../scripts/bench/figures.ts';
import { runScenario } from '../../scripts/bench/run-scenario.ts';
import { type ScenarioPlan, planScenario } from '../../scripts/bench/scenarios.ts';
import { renderTable } from '../../scripts/bench/table.ts';
import { seededRng } from '../../shared/rng.ts';

/**
 * A tiny run of the real benchmark harness: a few peers for a few seconds.
 * It checks that every figure is produced and in range; it asserts no speed.
 */
describe('benchmark harness, tiny', () => {
  const shrink = (p: ScenarioPlan): ScenarioPlan => ({ ...p, durationMs: 12_000, processPeers: 1 });
  const plans = (['baseline-http', 'free-riders'] as const).map((name) =>
    shrink(planScenario(name, { quick: true, peers: 5, durationS: 12, segmentMs: 1000, rng: seededRng(7) })[0] as ScenarioPlan),
  );
  const figures: Record<string, Figures> = {};

  // The run is the fixture both tests read; neither test depends on the other having run.
  before(async () => {
    const clipPath = await ensureClip({ seconds: 40, segmentSeconds: 1, videoKbps: 1372, audioKbps: 128, ffmpegPath: 'ffmpeg', cacheDir: fileURLToPath(new URL('../../.cache/', import.meta.url)) });
    // Both at once: each has its own origin and processes, and no figure asserted here depends on speed.
    await Promise.all(
      plans.map(async (plan) => {
        figures[plan.name] = computeFigures(await runScenario(plan, { clipPath, segmentSeconds: 1, seed: 7, progress: () => undefined }));
      }),
    );
  }, { timeout: 180_000 });

  test('the baseline on real processes: plain HLS, every viewer from the origin', (t) => {
    const baseline = figures['baseline-http'];
    assert.ok(baseline, 'the baseline ran');
    t.diagnostic(renderTable('baseline-http', baseline, null));
    assert.equal(baseline.peers, 5);
    assert.equal(baseline.offload, 0, 'plain HLS takes nothing off the origin');
    assert.ok((baseline.originCopies as number) > 0);
    assert.equal(baseline.corruptPlayed, 0);
  });

  test('a swarm with a free-rider on real processes: every figure of BENCHMARKS.md is produced and in range', (t) => {
    const swarm = figures['free-riders'] as Figures | undefined;
    assert.ok(swarm, 'the swarm ran');
    t.diagnostic(renderTable('free-riders', swarm, figures['baseline-http'] ?? null));
    for (const key of FIGURE_KEYS) {
      const v: unknown = swarm[key];
      assert.equal(typeof v, 'number', `${key} is produced`);
      assert.ok(Number.isFinite(v) && (v as number) >= 0, `${key} = ${v}`);
    }
    for (const key of ['offload', 'continuity', 'continuityContributors'] as const) assert.ok((swarm[key] as number) <= 1, `${key} is a share`);
    assert.equal(swarm.peers, 5);
    assert.equal(swarm.corruptPlayed, 0);
    assert.ok((swarm.rssMbPerPeer as number) > 10, 'memory of a peer running as its own process');
  });
});
