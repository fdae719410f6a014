import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { computeFigures } from '../../scripts/bench/figures.ts';
import { type ScenarioPlan, defaultMix, planScenario } from '../../scripts/bench/scenarios.ts';
import { offloadBound } from '../../scripts/sim/bounds.ts';
import { runWorld } from '../../scripts/sim/world.ts';
import { LOW_LATENCY_SEGMENT_MS } from '../../origin/config.ts';
import { seededRng } from '../../shared/rng.ts';

/**
 * The simulator end to end, small: 20 viewers for 20 simulated seconds take a
 * few seconds of wall time. Virtual time makes the run a function of its seed.
 */

const STREAM = { segmentMs: 1000, kbps: 1500, sizes: [] };

function plan(seed: number, more: Partial<ScenarioPlan> = {}): ScenarioPlan {
  const [p] = planScenario('swarm-small', { quick: false, peers: 20, durationS: 20, segmentMs: 1000, rng: seededRng(seed), mix: defaultMix(false) });
  return { ...(p as ScenarioPlan), ...more };
}

async function figures(seed: number, more: Partial<ScenarioPlan> = {}, unreachableShare = 0) {
  const out = await runWorld({ plan: plan(seed, more), stream: STREAM, seed, unreachableShare, downloadKbps: 0 });
  return { figures: computeFigures(out.record), events: out.events, record: out.record };
}

describe('the simulated swarm', () => {
  test('the same seed gives the same figures twice; another seed gives others', async () => {
    const a = await figures(1);
    const b = await figures(1);
    const c = await figures(2);
    assert.deepEqual(a.figures, b.figures);
    assert.equal(a.events, b.events);
    assert.notDeepEqual(a.figures, c.figures);
  });

  test('with ample upload every viewer plays every segment on time, nothing corrupt, offload near its bound', async () => {
    const { figures: f, record } = await figures(3);
    assert.equal(f.peers, 20);
    assert.equal(f.corruptPlayed, 0);
    assert.equal(f.continuity, 1);
    assert.ok(record.viewers.every((v) => v.playback.segmentsDue >= 5), 'every viewer played from its start to the end');
    const bound = offloadBound({ viewers: 20, totalPeerUploadKbps: 20 * 4500, streamKbps: 1500 });
    assert.ok((f.offload ?? 0) > bound - 0.05, `offload ${f.offload} vs bound ${bound}`);
    assert.ok((f.originCopies ?? Infinity) < 1.3, `origin copies ${f.originCopies}`);
  });

  test('viewers that cannot accept connections still play, from those that can', async () => {
    const { figures: f } = await figures(4, {}, 0.5);
    assert.equal(f.corruptPlayed, 0);
    assert.ok((f.continuity ?? 0) > 0.99, `continuity ${f.continuity}`);
    assert.ok((f.offload ?? 0) > 0.8, `offload ${f.offload}`);
  });

  test('plain HLS (the baseline) takes every byte from the origin', async () => {
    const everyoneAtOnce = plan(5).peers.map((p) => ({ ...p, joinAtMs: 0 }));
    const { figures: f } = await figures(5, { p2p: false, originEgressKbps: 0, peers: everyoneAtOnce });
    assert.equal(f.offload, 0);
    assert.ok(Math.abs((f.originCopies ?? 0) - 20) < 1.5, `origin copies ${f.originCopies}`);
    assert.equal(f.continuity, 1);
  });
});

describe('the simulated swarm in low-latency mode', () => {
  const lowLatency = (seed: number): ScenarioPlan => {
    const [p] = planScenario('low-latency', { quick: false, peers: 12, durationS: 12, segmentMs: LOW_LATENCY_SEGMENT_MS, rng: seededRng(seed), mix: defaultMix(false) });
    return p as ScenarioPlan;
  };
  const run = async (seed: number, wholeSegments: boolean) => {
    const out = await runWorld({ plan: lowLatency(seed), stream: { ...STREAM, segmentMs: LOW_LATENCY_SEGMENT_MS }, seed, unreachableShare: 0, downloadKbps: 0, wholeSegments });
    return { figures: computeFigures(out.record), events: out.events, record: out.record };
  };

  test('progressive by default: the same seed gives the same figures twice, nothing corrupt, and each piece costs the viewers a partial', async () => {
    const a = await run(6, false);
    const b = await run(6, false);
    assert.deepEqual(a.figures, b.figures);
    assert.equal(a.events, b.events);
    assert.equal(a.figures.corruptPlayed, 0);
    const whole = await run(6, true);
    assert.equal(whole.figures.corruptPlayed, 0);
    assert.notEqual(a.events, whole.events, 'the segments arrive piece by piece, on timers of their own');
    // A viewer's control bytes count what its tracker sent it: with --whole-segments, no partials.
    const control = (r: typeof a) => r.record.viewers.reduce((n, v) => n + v.controlBytes, 0);
    assert.ok(control(a) > control(whole), `control bytes ${control(a)} progressive vs ${control(whole)} whole`);
  });
});
