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
import { AbrPlaybackModel, type AbrPlaybackResult } from '../../harness/abr-playback-model.ts';
import { settledRung } from '../../harness/abr-rule.ts';
import { DEFAULT_CHANNEL } from '../../shared/channel.ts';
import type { RenditionStats } from '../../shared/player-api.ts';
import type { AbrRunRecord, AbrViewerRecord } from './abr-figures.ts';
import { type Started, rssBytes, startScript, stopProcess, waitForOutput } from '../../harness/process.ts';
import type { RunRecord, ViewerRecord } from './figures.ts';
import { PlaybackModel, type PlaybackResult } from '../../harness/playback-model.ts';
import type { PeerPlan, ScenarioPlan } from './scenarios.ts';
import type { PeerFinal, ToRunner, ToWorker } from './worker-protocol.ts';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));
const WORKERS = 2;
const PROGRESS_EVERY_MS = 5000;
/** Writing a CPU profile of a minute of 25 peer nodes takes a few seconds on a busy machine. */
const WORKER_PROFILE_EXIT_MS = 30_000;

/** Resolves when `child` has exited, or after `ms`. */
function exited(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export interface RunContext {
  /** Encoded with a keyframe every plan.segmentMs (clip.ts). */
  clipPath: string;
  /** The origin's --segment-seconds (a low-latency plan's origin makes its own). */
  segmentSeconds: number;
  seed: number;
  progress(line: string): void;
  /** Each segment the origin publishes (the simulator's --validate takes the real encode's sizes from here). */
  onPublished?: (seq: number, size: number) => void;
  /** A folder for each worker's V8 CPU profile (node --cpu-prof), written as it exits; none when not given. */
  cpuProfDir?: string | null;
}

interface Worker {
  child: ChildProcess;
  final: Promise<{ peers: PeerFinal[]; cpuMs: number }>;
  stats: Map<string, { counters: SwarmCounters; neighbours: number; renditions?: RenditionStats[] }>;
}

function startWorker(cpuProfDir: string | null): Promise<Worker> {
  const profile = cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : [];
  const child = fork(WORKER, [], { execArgv: ['--import', 'tsx', ...profile], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const stats = new Map<string, { counters: SwarmCounters; neighbours: number; renditions?: RenditionStats[] }>();
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
  return { uploadKbps: p.uploadKbps, latencyMs: p.latencyMs, picker: plan.picker, choker: plan.choker, relay: plan.relay, ...(p.downloadKbps !== undefined && { downloadKbps: p.downloadKbps }) };
}

type Published = Map<number, { sha256: string; size: number; atMs: number }>;


export async function runScenario(plan: ScenarioPlan, ctx: RunContext): Promise<RunRecord> {
  const origin = createOrigin(
    originConfig({ port: 0, source: ctx.clipPath, copy: true, segmentSeconds: ctx.segmentSeconds, lowLatency: plan.lowLatency, wholeSegments: plan.wholeSegments, egressKbps: plan.originEgressKbps, seedCopies: plan.p2p ? 1 : 0, ...(plan.ladder !== undefined && { ladder: plan.ladder }) }),
    { log: pino({ level: 'silent' }) },
  );
  const published: Published = new Map();
  let fourPublished!: () => void;
  const live = new Promise<void>((resolve) => (fourPublished = resolve));
  origin.events.on('segmentPublished', ({ segment: { info } }) => {
    published.set(info.seq, { sha256: info.sha256, size: info.size, atMs: info.publishedAtMs });
    ctx.onPublished?.(info.seq, info.size);
    if (published.size >= 4) fourPublished();
  });
  // A ladder: each rendition's segments (origin.events has the top one's).
  const renditionPublished = new Map<string, Published>();
  for (const [name, swarm] of origin.channels.get(DEFAULT_CHANNEL)?.renditions ?? []) {
    const mine: Published = new Map();
    renditionPublished.set(name, mine);
    swarm.events.on('segmentPublished', ({ segment: { info } }) => mine.set(info.seq, { sha256: info.sha256, size: info.size, atMs: info.publishedAtMs }));
  }
  const abr = plan.ladder !== undefined;
  // The test of this harness calls it without `npm run bench`'s build: never run a stale bundle.
  const peerBundle = plan.p2p && plan.processPeers > 0 ? await ensurePeerBundle() : '';
  await origin.start();
  const trackerUrl = `${origin.url.replace(/^http/, 'ws')}/tracker`;
  const workers: Worker[] = [];
  const processPeers: { plan: PeerPlan; proc: Started; url: string; model: PlaybackModel | AbrPlaybackModel; joinedAtMs: number }[] = [];
  const directModels: { plan: PeerPlan; model: PlaybackModel; joinedAtMs: number; result?: PlaybackResult; leftAtMs?: number }[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    // Viewers join a stream that is already live, with enough of it to start 3 segments behind.
    await live;
    if (plan.p2p) for (let i = 0; i < WORKERS; i++) workers.push(await startWorker(ctx.cpuProfDir ?? null));
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
          ...(p.downloadKbps !== undefined ? ['--download-kbps', String(p.downloadKbps)] : []),
        ]);
        const [, url] = await waitForOutput(proc, /playlist (http\S+)\/live\.m3u8/);
        const model = abr ? AbrPlaybackModel.forPeer(url as string) : PlaybackModel.forPeer(url as string);
        model.start();
        processPeers.push({ plan: p, proc, url: url as string, model, joinedAtMs: Date.now() });
      } else {
        const w = workers[placement.size % workers.length] as Worker;
        placement.set(p.id, w);
        w.child.send({ type: 'add', trackerUrl, peers: [{ id: p.id, seed: seed++, config: peerOverrides(plan, p), ...(abr && { abr }) }] } satisfies ToWorker);
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
    const renditionsAtWarm = new Map<string, RenditionStats[]>();
    let egressAtWarm = 0;
    let renditionEgressAtWarm = new Map<string, number>();
    // Every series: a ladder seeds each rendition under a label of its own.
    const egress = async () => (await counterTotal(origin.metrics.httpSegmentBytes)) + (await counterTotal(origin.metrics.seedBytes));
    const renditionEgress = async () => {
      const out = new Map<string, number>();
      for (const m of [await origin.metrics.httpSegmentBytes.get(), await origin.metrics.seedBytes.get()]) {
        for (const v of m.values) if (typeof v.labels.rendition === 'string') out.set(v.labels.rendition, (out.get(v.labels.rendition) ?? 0) + v.value);
      }
      return out;
    };
    const processBody = async (p: (typeof processPeers)[number]) => {
      try {
        return (await (await fetch(`${p.url}/api/stats`)).json()) as Partial<SwarmCounters> & { renditions?: RenditionStats[] };
      } catch (err) {
        const { exitCode, signalCode } = p.proc.child;
        const gone = exitCode !== null ? ` (exited with code ${exitCode})` : signalCode !== null ? ` (killed by ${signalCode})` : '';
        throw new Error(`peer process ${p.plan.id}${gone} did not answer ${p.url}/api/stats: ${(err as Error).message}`);
      }
    };
    const readWarm = async () => {
      egressAtWarm = await egress();
      renditionEgressAtWarm = await renditionEgress();
      for (const w of workers) {
        for (const [id, s] of w.stats) {
          atWarm.set(id, { ...s.counters });
          if (s.renditions) renditionsAtWarm.set(id, s.renditions);
        }
      }
      for (const p of processPeers) {
        const { renditions, ...counters } = await processBody(p);
        atWarm.set(p.plan.id, { ...newCounters(), ...counters });
        if (renditions) renditionsAtWarm.set(p.plan.id, renditions);
      }
    };
    // Taken on a timer, where a throw would reach no one: the run reports it once it ends.
    let warmFailure: Error | null = null;
    timers.push(setTimeout(() => readWarm().catch((err: Error) => (warmFailure = err)), plan.warmupMs));

    const progress = setInterval(() => {
      const up = workers.reduce((n, w) => n + [...w.stats.values()].length, 0) + processPeers.length + directModels.length;
      ctx.progress(`${plan.name}: ${Math.round((Date.now() - t0) / 1000)}/${plan.durationMs / 1000} s, ${up} viewers up`);
    }, PROGRESS_EVERY_MS);
    timers.push(progress);

    // The scenario's run: time must pass.
    await sleep(plan.durationMs);
    for (const t of timers) clearTimeout(t);
    clearInterval(progress);
    if (warmFailure) throw warmFailure;
    const endAt = Date.now();

    const viewers: ViewerRecord[] = [];
    const lagsAfterWarm = (lags: { seq: number; lagMs: number }[]) =>
      lags.filter((l) => (published.get(l.seq)?.atMs ?? 0) >= warmAt).map((l) => l.lagMs);
    const fromCounters = (id: string, c: SwarmCounters, joinedAtMs: number, leftAtMs: number, playback: PlaybackResult, lags: number[], freeRider: boolean): ViewerRecord => {
      const w = atWarm.get(id) ?? newCounters();
      return {
        freeRider,
        p2pBytes: c.p2pBytes - w.p2pBytes,
        duplicateBytes: c.duplicateBytes - w.duplicateBytes,
        originBytes: c.originBytes - w.originBytes,
        controlBytes: c.controlBytesOut - w.controlBytesOut + (c.trackerBytesIn - w.trackerBytesIn) + (c.trackerBytesOut - w.trackerBytesOut),
        activeMs: Math.max(0, leftAtMs - Math.max(joinedAtMs, warmAt)),
        playback,
        lagsMs: lags,
      };
    };

    // A ladder's viewers: what abr-figures.ts reads.
    const abrViewers: AbrViewerRecord[] = [];
    const inRun = (seq: number, rendition: string) => {
      const at = renditionPublished.get(rendition)?.get(seq)?.atMs ?? 0;
      return at >= warmAt && at <= endAt;
    };
    const abrViewer = (id: string, playback: AbrPlaybackResult, renditions: readonly RenditionStats[]) => {
      const segments = new Map<string, number>();
      const playedBytes = new Map<string, number>();
      for (const f of playback.fetched) {
        segments.set(f.rendition, (segments.get(f.rendition) ?? 0) + 1);
        if (inRun(f.seq, f.rendition)) playedBytes.set(f.rendition, (playedBytes.get(f.rendition) ?? 0) + f.bytes);
      }
      const before = new Map((renditionsAtWarm.get(id) ?? []).map((r) => [r.name, r]));
      const received = new Map(renditions.map((r) => [r.name, { p2pBytes: r.p2pBytes - (before.get(r.name)?.p2pBytes ?? 0), originBytes: r.originBytes - (before.get(r.name)?.originBytes ?? 0) }]));
      const cap = plan.peers.find((p) => p.id === id)?.downloadKbps;
      const ascending = [...(origin.channels.get(DEFAULT_CHANNEL)?.variants() ?? [])].sort((a, b) => a.bandwidth - b.bandwidth);
      const fits = cap === undefined ? null : (ascending[settledRung(ascending.map((r) => r.bandwidth), 1000 * cap)]?.name ?? null);
      abrViewers.push({ switches: playback.switches, watchMs: playback.watchMs, rendition: playback.rendition, fits, segments, playedBytes, received });
    };

    const peerRss = await Promise.all(processPeers.map(async (p) => (await rssBytes(p.proc.child.pid as number).catch(() => 0)) / 2 ** 20));
    for (const p of processPeers) {
      const playback = await p.model.close();
      const { renditions, ...counters } = await processBody(p);
      viewers.push(fromCounters(p.plan.id, { ...newCounters(), ...counters }, p.joinedAtMs, endAt, playback, [], false));
      if (abr) abrViewer(p.plan.id, playback as AbrPlaybackResult, renditions ?? []);
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
        if (abr) abrViewer(f.id, f.playback as AbrPlaybackResult, f.renditions ?? []);
      }
    }
    for (const d of directModels) {
      const playback = d.result ?? (await d.model.close());
      const bytes = playback.digests.reduce((n, x) => n + ((published.get(x.seq)?.atMs ?? 0) >= warmAt ? (published.get(x.seq)?.size ?? 0) : 0), 0);
      viewers.push({ freeRider: false, p2pBytes: 0, duplicateBytes: 0, originBytes: bytes, controlBytes: 0, activeMs: (d.leftAtMs ?? endAt) - Math.max(d.joinedAtMs, warmAt), playback, lagsMs: [] });
    }
    const bytesInRun = (p: Published) => [...p.values()].filter((s) => s.atMs >= warmAt && s.atMs <= endAt).reduce((n, s) => n + s.size, 0);
    const publishedBytes = abr ? [...renditionPublished.values()].reduce((n, p) => n + bytesInRun(p), 0) : bytesInRun(published);
    let abrRecord: AbrRunRecord | undefined;
    if (abr) {
      const egressAtEnd = await renditionEgress();
      const rungs = origin.channels.get(DEFAULT_CHANNEL)?.variants() ?? [];
      abrRecord = {
        rungs: rungs.map((r) => ({ name: r.name, bandwidth: r.bandwidth })),
        viewers: abrViewers,
        egressBytes: new Map([...egressAtEnd].map(([r, n]) => [r, n - (renditionEgressAtWarm.get(r) ?? 0)])),
        publishedBytes: new Map([...renditionPublished].map(([r, p]) => [r, bytesInRun(p)])),
        publishedSeconds: new Map([...renditionPublished].map(([r, p]) => [r, [...p.values()].filter((x) => x.atMs >= warmAt && x.atMs <= endAt).length * ctx.segmentSeconds])),
        runSeconds: (endAt - warmAt) / 1000,
      };
    }
    return {
      viewers,
      originEgressBytes: (await egress()) - egressAtWarm,
      publishedBytes,
      originSha256: new Map([...published].map(([seq, s]) => [seq, s.sha256])),
      ...(abr && { renditionSha256: new Map([...renditionPublished].map(([r, p]) => [r, new Map([...p].map(([seq, s]) => [seq, s.sha256]))])) }),
      ...(abrRecord && { abr: abrRecord }),
      peerCpuMs: cpuMs,
      peerTimeMs,
      peerProcessRssMb: peerRss,
      p2p: plan.p2p,
    };
  } finally {
    for (const t of timers) clearTimeout(t);
    for (const d of directModels) if (!d.result) await d.model.close();
    // After a failure mid-run these players still poll, and would keep the benchmark alive for good.
    await Promise.all(processPeers.map((p) => p.model.close()));
    await Promise.all(processPeers.map((p) => stopProcess(p.proc)));
    // A worker leaves once it has sent its figures; one still writing its CPU profile is given the time to.
    await Promise.all(workers.map((w) => exited(w.child, ctx.cpuProfDir ? WORKER_PROFILE_EXIT_MS : 0)));
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGTERM');
    await origin.close();
  }
}
