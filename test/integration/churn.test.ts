/**
 * Churn: a third of a swarm of peer-node processes is SIGKILLed mid-stream,
 * and the survivors must play on as if nothing happened.
 *
 * The origin (real ffmpeg, ~460 kbit/s) runs in this process with its egress
 * limited to about three stream copies, so the survivors cannot simply fall
 * back to it: they must keep getting the stream from each other. Every peer
 * has an emulated ~2x-stream uplink and 20 ms latency; choking rounds are
 * shortened as in swarm.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Origin } from '../../origin/origin.ts';
import { PlaybackModel, type PlaybackResult } from '../../harness/playback-model.ts';
import { startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { type Started, isAlive, startScript, stopProcess, waitForOutput } from '../../harness/process.ts';
import { ensurePeerBundle } from '../../harness/peer-bundle.ts';
import { originSha, trackerUrl } from '../helpers/swarm.ts';
import { waitFor } from '../helpers/wait.ts';

const PEERS = 9;
const KILLED = 3;
const LINK = ['--max-neighbours-per-address', '0', '--upload-kbps', '900', '--latency-ms', '20', '--rechoke-interval-ms', '2000', '--optimistic-interval-ms', '6000'];
/** Playing before the kill, so that the swarm has settled. */
const WARM_MS = 12_000;
/** Watched after the kill: the issue asks for a minute; this is what a test under 90 s affords. */
const AFTER_KILL_MS = 50_000;
const MIN_CONTINUITY = 0.99;


describe('churn: a third of the peers SIGKILLed mid-stream', () => {
  let origin: Origin;
  const procs: Started[] = [];
  const urls: string[] = [];
  const models: PlaybackModel[] = [];
  const atKill: PlaybackResult[] = [];
  const atEnd: PlaybackResult[] = [];
  let peersAfterKill = -1;
  let dropMs = -1;

  before(async () => {
    origin = await startTestOrigin({ egressKbps: 1500 });
    const sha = originSha(origin);
    const peerBundle = await ensurePeerBundle();
    for (let i = 0; i < PEERS; i++) {
      procs.push(startScript(peerBundle, ['--tracker', trackerUrl(origin), '--port', '0', '--peer-id', `peer-${i}`, '--seed', String(i + 1), ...LINK]));
    }
    for (const p of procs) urls.push((await waitForOutput(p, /player\s+(http:\/\/\S+?)\/?$/m, 30_000))[1] as string);
    await waitForSegments(origin, 3);
    await waitFor('every peer joined', () => origin.tracker.registry.size === PEERS, 20_000);
    for (const url of urls) models.push(PlaybackModel.forPeer(url, sha));
    for (const m of models) m.start();
    // On purpose: the swarm plays WARM_MS before the kill, so the kill hits a settled swarm.
    await sleep(WARM_MS);

    // The victims are spread over the join order, so they include early and late joiners.
    const victims = procs.filter((_, i) => i % (PEERS / KILLED) === 0);
    for (const v of victims) v.child.kill('SIGKILL');
    const killedAt = Date.now();
    await Promise.all(victims.map((v) => v.exited));
    await waitFor('the tracker to drop the dead', () => origin.tracker.registry.size === PEERS - KILLED, 15_000, 20);
    dropMs = Date.now() - killedAt;
    peersAfterKill = origin.tracker.registry.size;
    for (const m of models) atKill.push(m.current());
    // On purpose: continuity is judged over AFTER_KILL_MS of playback after the kill.
    await sleep(AFTER_KILL_MS);
    atEnd.push(...(await Promise.all(models.map((m) => m.close()))));
  });

  after(async () => {
    await Promise.all(models.map((m) => m.close()));
    await Promise.all(procs.map((p) => stopProcess(p)));
    await origin?.close();
    for (const p of procs) assert.ok(!isAlive(p.child.pid as number), `peer ${p.child.pid} left running`);
  });

  const survivors = () => [...Array(PEERS).keys()].filter((i) => i % (PEERS / KILLED) !== 0);

  test('the dead leave the tracker at once', (t) => {
    t.diagnostic(`tracker dropped ${KILLED} SIGKILLed peers ${dropMs} ms after the kill`);
    assert.equal(peersAfterKill, PEERS - KILLED);
  });

  test(`every survivor keeps continuity >= ${MIN_CONTINUITY} over the ${AFTER_KILL_MS / 1000} s after the kill`, (t) => {
    for (const i of survivors()) assert.equal(procs[i]?.child.exitCode, null, `peer-${i} died: ${procs[i]?.stderr().slice(-500)}`);
    for (const i of survivors()) {
      const [k, e] = [atKill[i], atEnd[i]] as [PlaybackResult, PlaybackResult];
      const due = e.segmentsDue - k.segmentsDue;
      const onTime = e.segmentsOnTime - k.segmentsOnTime;
      t.diagnostic(`peer-${i}: ${onTime}/${due} on time after the kill (${(onTime / due).toFixed(3)}), ${e.stalls - k.stalls} stalls; before: ${k.segmentsOnTime}/${k.segmentsDue}`);
    }
    for (const i of survivors()) {
      const [k, e] = [atKill[i], atEnd[i]] as [PlaybackResult, PlaybackResult];
      const due = e.segmentsDue - k.segmentsDue;
      const onTime = e.segmentsOnTime - k.segmentsOnTime;
      assert.ok(due >= AFTER_KILL_MS / 1000 - 5, `peer-${i} played only ${due} segments after the kill`);
      assert.ok(onTime / due >= MIN_CONTINUITY, `peer-${i} continuity ${onTime}/${due} after the kill`);
      assert.equal(e.failed, 0, `peer-${i} was refused segments`);
      assert.equal(e.corrupt, 0, `peer-${i} played bytes the origin did not publish`);
    }
  });

  test('the survivors drop their dead neighbours and still get the stream from each other, not from the origin', async (t) => {
    const stats = await Promise.all(
      survivors().map(async (i) => (await (await fetch(`${urls[i]}/api/stats`)).json()) as { p2pBytes: number; originBytes: number; neighbours: number }),
    );
    const p2p = stats.reduce((n, s) => n + s.p2pBytes, 0);
    const fromOrigin = stats.reduce((n, s) => n + s.originBytes, 0);
    t.diagnostic(`survivors: offload ${(p2p / (p2p + fromOrigin)).toFixed(3)}, neighbours ${stats.map((s) => s.neighbours).join('/')}`);
    for (const s of stats) assert.ok(s.neighbours >= 1 && s.neighbours <= PEERS - KILLED - 1, `a survivor counts ${s.neighbours} neighbours`);
    assert.ok(p2p / (p2p + fromOrigin) > 0.6, `offload ${p2p / (p2p + fromOrigin)}`);
  });
});
