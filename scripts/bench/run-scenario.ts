/**
 * Runs one scenario plan for real: an origin streaming the clip, peer nodes
 * in worker processes (and a few as processes of their own), a playback
 * model beside each, joins and leaves on schedule; then turns what happened
 * into a RunRecord.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { originConfig } from '../../origin/config.ts';
import { counterTotal } from '../../origin/metrics.ts';
import { createOrigin } from '../../origin/origin.ts';
import type { PeerConfig } from '../../peer-node/config.ts';
import type { SwarmCounters } from '../../peer-node/swarm-counters.ts';
import { newCounters } from '../../peer-node/swarm-counters.ts';
import { ensurePeerBundle } from '../../harness/peer-bundle.ts';
import { type Started, rssBytes, startScript, stopProcess, waitForOutput } from '../../harness/process.ts';
import type { RunRecord, ViewerRecord } from './figures.ts';
import { PlaybackModel, type PlaybackResult } from '../../harness/playback-model.ts';
import type { PeerPlan, ScenarioPlan } from './scenarios.ts';
import type { PeerFinal, ToRunner, ToWorker } from './worker-protocol.ts';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));
const WORKERS = 2;
const PROGRESS_EVERY_MS = 5000;

export interface RunContext {
  /** Encoded with a keyframe every plan.segmentMs (clip.ts). */
  clipPath: string;
  /** The origin's --segment-seconds (a low-latency plan's origin makes its own). */
  segmentSeconds: number;
  seed: number;
  progress(line: string): void;
  /** Each segment the origin publishes (the simulator's --validate takes the real encode's sizes from here). */
  onPublished?: (seq: number, size: number) => void;
}

interface Worker {
  child: ChildProcess;
  final: Promise<{ peers: PeerFinal[]; cpuMs: number }>;
  stats: Map<string, { counters: SwarmCounters; neighbours: number }>;
}

function startWorker(): Promise<Worker> {
  const child = fork(WORKER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const stats = new Map<string, { counters: SwarmCounters; neighbours: number }>();
  let resolveFinal!: (v: { peers: PeerFinal[]; cpuMs: number }) => void;
  const final = new Promise<{ peers: PeerFinal[]; cpuMs: number }>((r) => (resolveFinal = r));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.on('exit', (code) => code !== 0 && reject(new Error(`benchmark worker exited with ${code}`)));
    child.on('message', (msg: ToRunner) => {
      if (msg.type === 'ready') resolve({ child, final, stats });
      else if (msg.type === 'stats') {
        stats.clear();
        for (const p of msg.peers) stats.set(p.id, p);
      }
      else if (msg.type === 'final') resolveFinal(msg);
    });
  });
}

function peerOverrides(plan: ScenarioPlan, p: PeerPlan): Partial<PeerConfig> {
  return { uploadKbps: p.uploadKbps, latencyMs: p.latencyMs, picker: plan.picker, choker: plan.choker, relay: plan.relay };
}


export async function runScenario(plan: ScenarioPlan, ctx: RunContext): Promise<RunRecord> {
  const origin = createOrigin(
    originConfig({ port: 0, source: ctx.clipPath, copy: true, segmentSeconds: ctx.segmentSeconds, lowLatency: plan.lowLatency, egressKbps: plan.originEgressKbps, seedCopies: plan.p2p ? 1 : 0 }),
    { log: pino({ level: 'silent' }) },
  );
  const published = new Map<number, { sha256: string; size: number; atMs: number }>();
  let fourPublished!: () => void;
  const live = new Promise<void>((resolve) => (fourPublished = resolve));
  origin.events.on('segmentPublished', ({ segment: { info } }) => {
    published.set(info.seq, { sha256: info.sha256, size: info.size, atMs: info.publishedAtMs });
    ctx.onPublished?.(info.seq, info.size);
    if (published.size >= 4) fourPublished();
  });
  // The test of this harness calls it without `npm run bench`'s build: never run a stale bundle.
  const peerBundle = plan.p2p && plan.processPeers > 0 ? await ensurePeerBundle() : '';
  await origin.start();
  const trackerUrl = `${origin.url.replace(/^http/, 'ws')}/tracker`;
  const workers: Worker[] = [];
  const processPeers: { plan: PeerPlan; proc: Started; url: string; model: PlaybackModel; joinedAtMs: number }[] = [];
  const directModels: { plan: PeerPlan; model: PlaybackModel; joinedAtMs: number; result?: PlaybackResult; leftAtMs?: number }[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    // Viewers join a stream that is already live, with enough of it to start 3 segments behind.
    await live;
    if (plan.p2p) for (let i = 0; i < WORKERS; i++) workers.push(await startWorker());
    const t0 = Date.now();
    const warmAt = t0 + plan.warmupMs;
    const placement = new Map<string, Worker>();
    const asProcess = new Set(plan.peers.filter((p) => !p.freeRider && p.leaveAtMs === null).slice(0, plan.processPeers).map((p) => p.id));
    let seed = ctx.seed;

    const join = async (p: PeerPlan) => {
      if (!plan.p2p) {
        const model = new PlaybackModel({ playlistUrl: `${origin.url}/live/index.m3u8`, reportUrl: null });
        model.start();
        directModels.push({ plan: p, model, joinedAtMs: Date.now() });
      } else if (asProcess.has(p.id)) {
        // Launched as `npm run peer` launches it, so its memory is what a viewer's machine would see.
        const proc = startScript(peerBundle, [
          '--tracker', trackerUrl, '--port', '0', '--peer-id', p.id, '--seed', String(seed++), '--max-neighbours-per-address', '0',
          '--upload-kbps', String(p.uploadKbps), '--latency-ms', String(p.latencyMs), '--picker', plan.picker, '--choker', plan.choker, '--relay', plan.relay,
        ]);
        const [, url] = await waitForOutput(proc, /playlist (http\S+)\/live\.m3u8/);
        const model = PlaybackModel.forPeer(url as string);
        model.start();
        processPeers.push({ plan: p, proc, url: url as string, model, joinedAtMs: Date.now() });
      } else {
        const w = workers[placement.size % workers.length] as Worker;
        placement.set(p.id, w);
        w.child.send({ type: 'add', trackerUrl, peers: [{ id: p.id, seed: seed++, config: peerOverrides(plan, p) }] } satisfies ToWorker);
      }
    };
    const leave = async (p: PeerPlan) => {
      const w = placement.get(p.id);
      if (w) w.child.send({ type: 'remove', ids: [p.id] } satisfies ToWorker);
      const d = directModels.find((m) => m.plan.id === p.id);
      if (d) [d.result, d.leftAtMs] = [await d.model.close(), Date.now()];
    };
    for (const p of plan.peers) {
      timers.push(setTimeout(() => void join(p), p.joinAtMs));
      if (p.leaveAtMs !== null) timers.push(setTimeout(() => void leave(p), p.leaveAtMs));
    }

    // Counters at the end of the warm-up: figures count only what came after.
    const atWarm = new Map<string, SwarmCounters>();
    let egressAtWarm = 0;
    const egress = async () =>
      (await counterTotal(origin.metrics.httpSegmentBytes)) + ((await origin.metrics.seedBytes.get()).values[0]?.value ?? 0);
    const processStats = async (url: string): Promise<SwarmCounters> => ({ ...newCounters(), ...((await (await fetch(`${url}/api/stats`)).json()) as Partial<SwarmCounters>) });
    timers.push(
      setTimeout(async () => {
        egressAtWarm = await egress();
        for (const w of workers) for (const [id, s] of w.stats) atWarm.set(id, { ...s.counters });
        for (const p of processPeers) atWarm.set(p.plan.id, await processStats(p.url));
      }, plan.warmupMs),
    );

    const progress = setInterval(() => {
      const up = workers.reduce((n, w) => n + [...w.stats.values()].length, 0) + processPeers.length + directModels.length;
      ctx.progress(`${plan.name}: ${Math.round((Date.now() - t0) / 1000)}/${plan.durationMs / 1000} s, ${up} viewers up`);
    }, PROGRESS_EVERY_MS);
    timers.push(progress);

    // The scenario's run: time must pass.
    await sleep(plan.durationMs);
    for (const t of timers) clearTimeout(t);
    clearInterval(progress);
    const endAt = Date.now();

    const viewers: ViewerRecord[] = [];
    const lagsAfterWarm = (lags: { seq: number; lagMs: number }[]) =>
      lags.filter((l) => (published.get(l.seq)?.atMs ?? 0) >= warmAt).map((l) => l.lagMs);
    const fromCounters = (id: string, c: SwarmCounters, joinedAtMs: number, leftAtMs: number, playback: PlaybackResult, lags: number[], freeRider: boolean): ViewerRecord => {
      const w = atWarm.get(id) ?? newCounters();
      return {
        freeRider,
        p2pBytes: c.p2pBytes - w.p2pBytes,
        originBytes: c.originBytes - w.originBytes,
        controlBytes: c.controlBytesOut - w.controlBytesOut + (c.trackerBytesIn - w.trackerBytesIn) + (c.trackerBytesOut - w.trackerBytesOut),
        activeMs: Math.max(0, leftAtMs - Math.max(joinedAtMs, warmAt)),
        playback,
        lagsMs: lags,
      };
    };

    const peerRss = await Promise.all(processPeers.map(async (p) => (await rssBytes(p.proc.child.pid as number).catch(() => 0)) / 2 ** 20));
    for (const p of processPeers) {
      const playback = await p.model.close();
      const c = await processStats(p.url);
      viewers.push(fromCounters(p.plan.id, c, p.joinedAtMs, endAt, playback, [], false));
    }
    for (const w of workers) w.child.send({ type: 'finish' } satisfies ToWorker);
    let cpuMs = 0;
    let peerTimeMs = 0;
    for (const w of workers) {
      const final = await w.final;
      cpuMs += final.cpuMs;
      for (const f of final.peers) {
        peerTimeMs += f.leftAtMs - f.joinedAtMs;
        const p = plan.peers.find((x) => x.id === f.id) as PeerPlan;
        viewers.push(fromCounters(f.id, f.counters, f.joinedAtMs, f.leftAtMs, f.playback, lagsAfterWarm(f.lags), p.freeRider));
      }
    }
    for (const d of directModels) {
      const playback = d.result ?? (await d.model.close());
      const bytes = playback.digests.reduce((n, x) => n + ((published.get(x.seq)?.atMs ?? 0) >= warmAt ? (published.get(x.seq)?.size ?? 0) : 0), 0);
      viewers.push({ freeRider: false, p2pBytes: 0, originBytes: bytes, controlBytes: 0, activeMs: (d.leftAtMs ?? endAt) - Math.max(d.joinedAtMs, warmAt), playback, lagsMs: [] });
    }
    const publishedBytes = [...published.values()].filter((s) => s.atMs >= warmAt && s.atMs <= endAt).reduce((n, s) => n + s.size, 0);
    return {
      viewers,
      originEgressBytes: (await egress()) - egressAtWarm,
      publishedBytes,
      originSha256: new Map([...published].map(([seq, s]) => [seq, s.sha256])),
      peerCpuMs: cpuMs,
      peerTimeMs,
      peerProcessRssMb: peerRss,
      p2p: plan.p2p,
    };
  } finally {
    for (const t of timers) clearTimeout(t);
    for (const d of directModels) if (!d.result) await d.model.close();
    await Promise.all(processPeers.map((p) => stopProcess(p.proc)));
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGTERM');
    await origin.close();
  }
}
