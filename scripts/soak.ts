/**
 * npm run soak -- --minutes N: an origin and a few peer nodes, each a process
 * of its own (the peers from dist/peer.mjs, as `npm run peer` runs them), with
 * a headless player on every peer, run for N minutes while
 * the memory and handles of every process are sampled. It prints a line per
 * sample and, at the end, whether each process stayed flat; exit code 1 if
 * one did not, or a player failed. test/integration/soak.test.ts runs the same
 * for under a minute.
 *
 * Per process: resident memory (VmRSS) and open file descriptors from /proc;
 * over the V8 inspector (each node process runs with --inspect on a free
 * loopback port), a full garbage collection and then the live JavaScript
 * memory (heap in use plus Buffers and other external memory) and the active
 * resources (process.getActiveResourcesInfo(): timers, sockets, servers,
 * child processes). Live memory after a full GC is what a leak grows, without
 * the sawtooth of collection, so even a short run shows one. The origin's
 * ffmpeg is sampled from /proc.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { ensurePeerBundle } from '../harness/peer-bundle.ts';
import { PlaybackModel, type PlaybackResult } from '../harness/playback-model.ts';
import { type Started, childPids, startScript, stopProcess, waitForOutput } from '../harness/process.ts';
import { TrackerWatch } from '../harness/tracker-watch.ts';
import { type FlagSpec, helpText, parseConfig } from '../shared/cli.ts';
import { createLogger } from '../shared/log.ts';
import { runMain } from '../shared/process.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const ORIGIN_FLAGS = ['--width', '320', '--height', '180', '--fps', '15', '--video-kbps', '400', '--audio-kbps', '64'];
const PEER_FLAGS = ['--max-neighbours-per-address', '0', '--upload-kbps', '900', '--latency-ms', '20'];

export interface SoakOptions {
  durationMs: number;
  sampleEveryMs: number;
  peers: number;
  /** The origin's live window (--window-segments). */
  windowSegments: number;
  /** Called with each progress line (the table). */
  progress?: (line: string) => void;
  /** Resolves early when it fires (Ctrl-C). */
  stopSignal?: AbortSignal;
}

export interface ProcSample {
  rssMb: number;
  fds: number;
  /** Heap in use plus external memory right after a full GC; null for ffmpeg. */
  liveMb: number | null;
  /** process.getActiveResourcesInfo().length; null for ffmpeg. */
  resources: number | null;
  /** Bounded structures the process reports: live window or store segments, tracker peers. */
  held: Record<string, number>;
}

export interface Sample {
  atMs: number;
  procs: Record<string, ProcSample | null>;
  playersOnTime: number;
  playersDue: number;
  playersFailed: number;
}

export interface SoakResult {
  names: string[];
  /** Every process it started (and each ffmpeg the origin ran), for the caller to check they are gone. */
  pids: number[];
  samples: Sample[];
  players: PlaybackResult[];
}

type Proc = Started & { name: string };

/** Starts a node program (a .ts under tsx, or a built .mjs) with the inspector on a free loopback port (see Inspector). */
function startProc(name: string, script: string, args: string[]): Proc {
  return { name, ...startScript(script, args, { execArgv: ['--inspect=127.0.0.1:0'], cwd: ROOT }) };
}

const tail = (p: Proc) => `${p.stdout().slice(-500)}${p.stderr().slice(-500)}`;

/** VmRSS and open fds of a process, from /proc (Linux); null once it is gone. */
export function procStats(pid: number): { rssMb: number; fds: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN);
    return { rssMb: rssKb / 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return null;
  }
}

/** A session on a node process's inspector: forces full collections and reads its memory and resources. */
class Inspector {
  private nextId = 0;
  private readonly pending = new Map<number, (result: unknown) => void>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { id?: number; result?: unknown };
      if (m.id !== undefined) this.pending.get(m.id)?.(m.result);
    });
    ws.on('error', () => undefined);
  }

  static async connect(p: Proc): Promise<Inspector> {
    const [, url] = await waitForOutput(p, /Debugger listening on (ws:\/\/\S+)/, 30_000, 'stderr');
    const ws = new WebSocket(url as string);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new Inspector(ws);
  }

  private call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`inspector ${method} timed out`));
      }, 10_000);
      this.pending.set(id, (result) => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(result);
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Live memory after a full GC, and active resources. */
  async sample(): Promise<{ liveMb: number; resources: number }> {
    await this.call('HeapProfiler.collectGarbage');
    const r = (await this.call('Runtime.evaluate', {
      expression: 'JSON.stringify({ m: process.memoryUsage(), r: process.getActiveResourcesInfo().length })',
      returnByValue: true,
    })) as { result: { value: string } };
    const { m, r: resources } = JSON.parse(r.result.value) as { m: NodeJS.MemoryUsage; r: number };
    return { liveMb: (m.heapUsed + m.external) / 2 ** 20, resources };
  }

  close(): void {
    this.ws.terminate();
  }
}

/** A process's /metrics, each metric summed over its labels. */
async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (m) out.set(m[1] as string, (out.get(m[1] as string) ?? 0) + Number(m[2]));
  }
  return out;
}

const HELD: Record<string, string> = {
  origin_live_window_segments: 'window',
  origin_peers: 'peers',
  peer_store_segments: 'store',
  peer_neighbours: 'neighbours',
};

async function sampleProc(pid: number | undefined, url: string | null, inspector: Inspector | null): Promise<ProcSample | null> {
  if (pid === undefined) return null;
  // The collection first: RSS is then read at the process's leanest.
  const live = inspector ? await inspector.sample() : null;
  const s = procStats(pid);
  if (!s) return null;
  let m: Map<string, number> | null = null;
  if (url) {
    try {
      m = await scrape(url);
    } catch {
      m = null;
    }
  }
  const held: Record<string, number> = {};
  for (const [metric, name] of Object.entries(HELD)) {
    const v = m?.get(metric);
    if (v !== undefined) held[name] = v;
  }
  return { ...s, liveMb: live?.liveMb ?? null, resources: live?.resources ?? null, held };
}

/** Runs the soak and returns every sample; stops every process it started, whatever happens. */
export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const say = o.progress ?? (() => undefined);
  const procs: Proc[] = [];
  const models: PlaybackModel[] = [];
  const inspectors: Inspector[] = [];
  const ffmpegPids = new Set<number>();
  let watcher: TrackerWatch | null = null;
  const samples: Sample[] = [];
  const peerBundle = await ensurePeerBundle();
  try {
    const origin = startProc('origin', 'origin/main.ts', ['--port', '0', '--window-segments', String(o.windowSegments), ...ORIGIN_FLAGS]);
    procs.push(origin);
    const originUrl = (await waitForOutput(origin, /playlist\s+(http\S+)\/live\/index\.m3u8/, 30_000))[1] as string;
    const trackerUrl = `${originUrl.replace(/^http/, 'ws')}/tracker`;
    watcher = new TrackerWatch(trackerUrl, { peerId: 'soak-watcher', keep: 300, reconnectMs: 500 });
    // Peers run as `npm run peer` runs them, from the bundle, so their memory is a viewer's.
    const peers = Array.from({ length: o.peers }, (_, i) =>
      startProc(`peer-${i}`, peerBundle, ['--tracker', trackerUrl, '--port', '0', '--peer-id', `soak-${i}`, ...PEER_FLAGS]),
    );
    procs.push(...peers);
    const peerUrls = await Promise.all(peers.map(async (p) => (await waitForOutput(p, /player\s+(http:\/\/\S+?)\/?$/m, 30_000))[1] as string));
    const [originInspector, ...peerInspectors] = await Promise.all([origin, ...peers].map((p) => Inspector.connect(p)));
    inspectors.push(originInspector as Inspector, ...peerInspectors);
    for (const url of peerUrls) models.push(PlaybackModel.forPeer(url, watcher.sha));
    for (const m of models) m.start();

    const names = ['origin', 'ffmpeg', ...peers.map((p) => p.name)];
    say(header(names));
    const startedAt = Date.now();
    for (let next = startedAt; Date.now() - startedAt < o.durationMs && !o.stopSignal?.aborted; ) {
      const ffmpegPid = (await childPids(origin.child.pid as number))[0];
      if (ffmpegPid !== undefined) ffmpegPids.add(ffmpegPid);
      const entries = await Promise.all([
        sampleProc(origin.child.pid, originUrl, originInspector as Inspector),
        sampleProc(ffmpegPid, null, null),
        ...peers.map((p, i) => sampleProc(p.child.pid, peerUrls[i] as string, peerInspectors[i] as Inspector)),
      ]);
      const players = models.map((m) => m.current());
      const sample: Sample = {
        atMs: Date.now() - startedAt,
        procs: Object.fromEntries(names.map((n, i) => [n, entries[i] ?? null])),
        playersOnTime: players.reduce((n, r) => n + r.segmentsOnTime, 0),
        playersDue: players.reduce((n, r) => n + r.segmentsDue, 0),
        playersFailed: players.reduce((n, r) => n + r.failed, 0),
      };
      samples.push(sample);
      say(row(names, sample));
      for (const p of procs) if (p.child.exitCode !== null || p.child.signalCode !== null) throw new Error(`${p.name} exited: ${tail(p)}`);
      next += o.sampleEveryMs;
      // The sampling interval: time must pass between samples; Ctrl-C cuts it short.
      await sleep(Math.max(0, next - Date.now()), undefined, { signal: o.stopSignal }).catch(() => undefined);
    }
    const players = await Promise.all(models.map((m) => m.close()));
    return { names, pids: [...procs.map((p) => p.child.pid as number), ...ffmpegPids], samples, players };
  } finally {
    await Promise.all(models.map((m) => m.close()));
    for (const i of inspectors) i.close();
    watcher?.close();
    await Promise.all(procs.map((p) => stopProcess(p)));
  }
}

function header(names: string[]): string {
  return ['time', ...names.map((n) => `${n}: rss MB/live MB/fds/res`), 'players on time', 'failed'].join(' | ');
}

function fmt(v: number | null | undefined, digits = 0): string {
  return v === null || v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits);
}

function row(names: string[], s: Sample): string {
  const cells = names.map((n) => {
    const p = s.procs[n];
    if (!p) return 'gone';
    const held = Object.entries(p.held)
      .map(([k, v]) => `${k} ${v}`)
      .join(' ');
    return `${fmt(p.rssMb, 1)}/${fmt(p.liveMb, 2)}/${p.fds}/${fmt(p.resources)}${held ? ` (${held})` : ''}`;
  });
  const mins = Math.floor(s.atMs / 60_000);
  const secs = Math.floor((s.atMs % 60_000) / 1000);
  return [`${mins}:${String(secs).padStart(2, '0')}`, ...cells, `${s.playersOnTime}/${s.playersDue}`, String(s.playersFailed)].join(' | ');
}

/** Least-squares slope of y over x. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export interface Verdict {
  name: string;
  /** Growth after warm-up, by least squares: resident memory, and live JavaScript memory after a full GC. */
  rssMbPerMin: number;
  liveMbPerMin: number | null;
  rssMb: [number, number];
  liveMb: [number, number] | null;
  fds: [number, number];
  resources: [number, number] | null;
  /** Median fd and resource counts in the last third of the run after warm-up, less those in the first third. */
  fdGrowth: number;
  resourceGrowth: number | null;
  flat: boolean;
  why: string[];
}

export interface Limits {
  warmUpMs: number;
  rssMbPerMin: number;
  liveMbPerMin: number;
  fdGrowth: number;
  resourceGrowth: number;
}

/**
 * What "flat" means. Live memory after a full GC is steady to within a few
 * hundred KB, so a leak of one segment a second (~60 KB/s, 3.5 MB/min) is
 * plain within a minute. Resident memory keeps growing for the first minutes
 * (JIT, heap sizing, allocator arenas: up to ~9 MB/min in a 40 s window,
 * measured), so a short run only bounds it loosely; a long one, after a
 * longer warm-up, tightly.
 */
export function limitsFor(durationMs: number): Limits {
  return durationMs < 5 * 60_000
    ? { warmUpMs: 18_000, rssMbPerMin: 30, liveMbPerMin: 1.5, fdGrowth: 3, resourceGrowth: 3 }
    : { warmUpMs: 2 * 60_000, rssMbPerMin: 2, liveMbPerMin: 0.5, fdGrowth: 3, resourceGrowth: 3 };
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
const range = (xs: number[]): [number, number] => [Math.min(...xs), Math.max(...xs)];

export function judge(r: SoakResult, limits: Limits): Verdict[] {
  const after = r.samples.filter((s) => s.atMs >= limits.warmUpMs);
  return r.names.map((name) => {
    const points = after.flatMap((s) => {
      const p = s.procs[name];
      return p ? [{ atMs: s.atMs, ...p }] : [];
    });
    if (points.length < 6) {
      return { name, rssMbPerMin: 0, liveMbPerMin: null, rssMb: [0, 0], liveMb: null, fds: [0, 0], resources: null, fdGrowth: 0, resourceGrowth: null, flat: false, why: ['too few samples'] };
    }
    const why: string[] = [];
    const minutes = points.map((p) => p.atMs / 60_000);
    const rssMbPerMin = slope(points.map((p, i) => [minutes[i] as number, p.rssMb] as const));
    const hasLive = points.every((p) => p.liveMb !== null && p.resources !== null);
    const liveMbPerMin = hasLive ? slope(points.map((p, i) => [minutes[i] as number, p.liveMb as number] as const)) : null;
    const third = Math.max(1, Math.floor(points.length / 3));
    const [first, last] = [points.slice(0, third), points.slice(-third)];
    const fdGrowth = median(last.map((p) => p.fds)) - median(first.map((p) => p.fds));
    const resourceGrowth = hasLive ? median(last.map((p) => p.resources as number)) - median(first.map((p) => p.resources as number)) : null;
    if (rssMbPerMin > limits.rssMbPerMin) why.push(`rss grows ${rssMbPerMin.toFixed(2)} MB/min`);
    if (liveMbPerMin !== null && liveMbPerMin > limits.liveMbPerMin) why.push(`live memory grows ${liveMbPerMin.toFixed(2)} MB/min`);
    if (fdGrowth > limits.fdGrowth) why.push(`fds grew by ${fdGrowth}`);
    if (resourceGrowth !== null && resourceGrowth > limits.resourceGrowth) why.push(`active resources grew by ${resourceGrowth}`);
    return {
      name,
      rssMbPerMin,
      liveMbPerMin,
      rssMb: range(points.map((p) => p.rssMb)),
      liveMb: hasLive ? range(points.map((p) => p.liveMb as number)) : null,
      fds: range(points.map((p) => p.fds)),
      resources: hasLive ? range(points.map((p) => p.resources as number)) : null,
      fdGrowth,
      resourceGrowth,
      flat: why.length === 0,
      why,
    };
  });
}

const signed = (n: number) => `${n >= 0 ? '+' : ''}${n}`;

export function renderVerdicts(v: readonly Verdict[]): string {
  const lines = ['process  | rss MB (min-max, MB/min) | live MB (min-max, MB/min) | fds (min-max, growth) | resources (min-max, growth) | flat'];
  for (const x of v) {
    lines.push(
      [
        x.name.padEnd(8),
        `${x.rssMb[0].toFixed(1)}-${x.rssMb[1].toFixed(1)} (${x.rssMbPerMin.toFixed(2)})`,
        x.liveMb ? `${x.liveMb[0].toFixed(2)}-${x.liveMb[1].toFixed(2)} (${(x.liveMbPerMin as number).toFixed(3)})` : '-',
        `${x.fds[0]}-${x.fds[1]} (${signed(x.fdGrowth)})`,
        x.resources ? `${x.resources[0]}-${x.resources[1]} (${signed(x.resourceGrowth as number)})` : '-',
        x.flat ? 'yes' : `NO: ${x.why.join('; ')}`,
      ].join(' | '),
    );
  }
  return lines.join('\n');
}

const flags = {
  minutes: { kind: 'int', default: 10, min: 1, max: 24 * 60, help: 'how long to run' },
  peers: { kind: 'int', default: 3, min: 1, max: 20, help: 'peer node processes, each with a player' },
  sampleSeconds: { kind: 'int', default: 5, min: 1, max: 600, help: 'seconds between samples' },
  windowSegments: { kind: 'int', default: 30, min: 3, max: 600, help: "the origin's live window in segments" },
} as const satisfies Record<string, FlagSpec>;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const stop = new AbortController();
  void runMain('soak', async () => {
    const config = parseConfig(flags, process.argv.slice(2), process.env);
    if (!config) {
      process.stdout.write(`${helpText('npm run soak --', flags)}\n`);
      return null;
    }
    const log = createLogger('soak', 'warn');
    const done = (async () => {
      process.stdout.write(`soak: origin + ${config.peers} peers with players for ${config.minutes} min, a sample every ${config.sampleSeconds} s\n`);
      const result = await runSoak({
        durationMs: config.minutes * 60_000,
        sampleEveryMs: config.sampleSeconds * 1000,
        peers: config.peers,
        windowSegments: config.windowSegments,
        progress: (line) => process.stdout.write(`${line}\n`),
        stopSignal: stop.signal,
      });
      const verdicts = judge(result, limitsFor(config.minutes * 60_000));
      const due = result.players.reduce((n, p) => n + p.segmentsDue, 0);
      const onTime = result.players.reduce((n, p) => n + p.segmentsOnTime, 0);
      const failed = result.players.reduce((n, p) => n + p.failed + p.corrupt, 0);
      process.stdout.write(`\n${renderVerdicts(verdicts)}\nplayers: ${onTime}/${due} segments on time, ${failed} failed or corrupt\n`);
      process.exitCode = verdicts.every((v) => v.flat) && failed === 0 ? 0 : 1;
    })().catch((err: Error) => {
      process.stderr.write(`soak: ${err.message}\n`);
      process.exitCode = 1;
    });
    void done.then(() => process.exit());
    return {
      log,
      close: async () => {
        stop.abort();
        await done;
      },
    };
  });
}
