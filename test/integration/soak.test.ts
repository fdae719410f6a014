/**
 * A short soak: an origin and three peer nodes, each a process, with a player
 * on every peer, run for under a minute while every process is sampled (see
 * scripts/soak.ts, which runs the same for as long as asked). Live memory
 * after a full collection, resident memory, open fds and active resources
 * must stay flat once warm, and the bounded structures stay at their bounds.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { type SoakResult, judge, limitsFor, renderVerdicts, runSoak } from '../../scripts/soak.ts';

const DURATION_MS = 50_000;
const WINDOW_SEGMENTS = 10;
/** The peer node's default --store-segments. */
const STORE_SEGMENTS = 12;
const PEERS = 3;

function gone(pid: number): boolean {
  try {
    // A zombie (dead, not yet reaped by whoever adopted it) counts as gone.
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

test(`origin and ${PEERS} peers with players stay flat for ${DURATION_MS / 1000} s: memory, fds, resources, bounded structures`, async (t) => {
  const lines: string[] = [];
  const result: SoakResult = await runSoak({
    durationMs: DURATION_MS,
    sampleEveryMs: 2000,
    peers: PEERS,
    windowSegments: WINDOW_SEGMENTS,
    progress: (line) => lines.push(line),
  });
  const limits = limitsFor(DURATION_MS);
  const verdicts = judge(result, limits);
  // First, middle and last samples, then the verdict per process.
  for (const line of [lines[0], lines[1], lines[Math.floor(lines.length / 2)], lines.at(-1)]) t.diagnostic(line as string);
  for (const line of renderVerdicts(verdicts).split('\n')) t.diagnostic(line);

  for (const pid of result.pids) assert.ok(gone(pid), `process ${pid} left running`);
  assert.deepEqual(result.names, ['origin', 'ffmpeg', ...Array.from({ length: PEERS }, (_, i) => `peer-${i}`)]);
  for (const v of verdicts) assert.ok(v.flat, `${v.name} is not flat: ${v.why.join('; ')}`);

  // The bounded structures sit at their bounds: nothing accumulates, nobody is lost.
  const warm = result.samples.filter((s) => s.atMs >= limits.warmUpMs);
  for (const s of warm) {
    const origin = s.procs.origin;
    assert.ok(origin, 'origin sampled');
    assert.equal(origin.held.window, WINDOW_SEGMENTS, 'the live window is full and no fuller');
    assert.equal(origin.held.peers, PEERS + 1, 'the tracker holds the peers and the test watcher');
    for (let i = 0; i < PEERS; i++) {
      const peer = s.procs[`peer-${i}`];
      assert.ok(peer, `peer-${i} sampled`);
      assert.ok((peer.held.store ?? Infinity) <= STORE_SEGMENTS, `peer-${i} holds ${peer.held.store} segments`);
      assert.equal(peer.held.neighbours, PEERS - 1, `peer-${i} keeps its neighbours`);
    }
  }

  for (const [i, p] of result.players.entries()) {
    assert.equal(p.failed, 0, `player ${i} was refused segments`);
    assert.equal(p.corrupt, 0, `player ${i} played bytes the origin did not publish`);
    assert.ok(p.segmentsDue >= (DURATION_MS - limits.warmUpMs) / 1000, `player ${i} played ${p.segmentsDue} segments`);
  }
});
