/**
 * The tracker under load, and how its CPU and memory are read: either an
 * origin this benchmark starts (its built-in /tracker, the meter preloaded
 * into its process), or a tracker running elsewhere on this machine, read
 * from /proc when its pid is given.
 */
import { type ChildProcess, fork, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { MeterSample, MeterSnapshotWritten, ToMeter } from './protocol.ts';
import { runQueueWaitNs } from './schedstat.ts';

const ORIGIN_MAIN = fileURLToPath(new URL('../../origin/main.ts', import.meta.url));
const METER = fileURLToPath(new URL('./meter.ts', import.meta.url));
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
const TAIL_CHARS = 1500;

/** A reading of the tracker process: CPU time so far, and memory (heap only when read inside the process). */
export interface Reading {
  atMs: number;
  cpuUs: number;
  /** Its event loop's time on a run queue so far (schedstat.ts), ns. */
  runWaitNs: number | null;
  rssBytes: number;
  heapUsedBytes: number | null;
}

export interface TrackerTarget {
  url: string;
  describe: string;
  /** Null when nothing can be read (a tracker elsewhere, no pid given). `gc`: collect first, for a memory reading. */
  read(gc: boolean): Promise<Reading | null>;
  /** Writes a V8 heap snapshot of the tracker's process to `path` and resolves with where; null if it cannot. */
  heapSnapshot(path: string): Promise<string | null>;
  stop(): Promise<void>;
}

export interface OriginOptions {
  connections: number;
  ffmpegPath: string;
  /** A folder for the origin's V8 CPU profile (node --cpu-prof), written when it exits; null for none. */
  cpuProfDir: string | null;
  signal: AbortSignal;
}

/**
 * The stream is ffmpeg's test pattern at a small size: its encode is not
 * what is measured, and every figure here depends on how many segments
 * there are (one a second, the default), not on how big they are, apart
 * from the announcement's one hash per 16 KiB piece.
 */
const STREAM_ARGS = ['--width', '160', '--height', '90', '--fps', '10', '--video-kbps', '100', '--audio-kbps', '32'];

export async function startOrigin(o: OriginOptions): Promise<TrackerTarget> {
  const args = [
    '--port', '0', '--log-level', 'warn', '--ffmpeg-path', o.ffmpegPath, ...STREAM_ARGS,
    // The operator's flag for a swarm this large (default 2000).
    '--max-peers', String(Math.max(2000, o.connections)),
  ];
  const profile = o.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir] : [];
  const child = fork(ORIGIN_MAIN, args, { execArgv: ['--import', 'tsx', '--expose-gc', ...profile, '--import', METER], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-64 * 1024));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (err) => (output += `\n${err.message}`));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const tail = () => output.slice(-TAIL_CHARS);
  const stop = () => stopChild(child, exited);
  try {
    const url = await waitFor(child, exited, o.signal, () => /origin: tracker\s+(ws:\/\/\S+)/.exec(output)?.[1] ?? null, () => `the origin did not start: ${tail()}`);
    const health = `${url.replace(/^ws/, 'http').replace(/\/tracker$/, '')}/healthz`;
    // The stream is live, so the memory read before the first join holds an origin that is already ingesting.
    await waitFor(child, exited, o.signal, async () => {
      const r = await fetch(health).then((res) => res.json() as Promise<{ segments?: number }>).catch(() => null);
      return (r?.segments ?? 0) >= 2 ? true : null;
    }, () => `the origin published no segment: ${tail()}`);
    const ask = meterOf(child);
    let id = 0;
    return {
      url,
      describe: `the origin's built-in tracker (${url}; ffmpeg test pattern 160x90, 1 s segments; --max-peers ${Math.max(2000, o.connections)})`,
      read: async (gc) => {
        const m = await ask<MeterSample>({ type: 'sample', id: id++, gc });
        return { atMs: m.atMs, cpuUs: m.cpuUs, runWaitNs: m.runWaitNs, rssBytes: m.rssBytes, heapUsedBytes: m.heapUsedBytes };
      },
      heapSnapshot: async (path) => (await ask<MeterSnapshotWritten>({ type: 'heap-snapshot', id: id++, path })).path,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** A tracker this benchmark did not start: read from /proc if its pid is given, else not at all. */
export function externalTracker(url: string, pid: number | null): TrackerTarget {
  return {
    url,
    describe: `the tracker at ${url}${pid ? ` (pid ${pid}, read from /proc: no heap figure, no GC before reading)` : ' (no --tracker-pid: CPU and memory not read)'}`,
    read: async () => (pid ? procReading(pid) : null),
    heapSnapshot: async () => null,
    stop: async () => undefined,
  };
}

async function waitFor<T>(child: ChildProcess, exited: Promise<void>, signal: AbortSignal, check: () => T | null | Promise<T | null>, failure: () => string): Promise<T> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let gone = false;
  void exited.then(() => (gone = true));
  for (;;) {
    signal.throwIfAborted();
    const v = await check();
    if (v !== null) return v;
    if (gone || child.exitCode !== null || Date.now() > deadline) throw new Error(failure());
    await sleep(250);
  }
}

/** Asks the meter in `child` and waits for its answer of the same type and id. */
function meterOf(child: ChildProcess): <T extends MeterSample | MeterSnapshotWritten>(msg: ToMeter) => Promise<T> {
  return (msg) =>
    new Promise((resolve, reject) => {
      const onMessage = (m: MeterSample | MeterSnapshotWritten) => {
        if (m?.type !== msg.type || m.id !== msg.id) return;
        done();
        resolve(m as never);
      };
      const onExit = () => {
        done();
        reject(new Error('the tracker process exited'));
      };
      const done = () => {
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send(msg);
    });
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  // SIGTERM: the origin closes its tracker and stops ffmpeg itself.
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(t);
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

function procReading(pid: number): Reading {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuUs = ((Number(f[11]) + Number(f[12])) / CLK_TCK) * 1e6;
  const rssKb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN);
  return { atMs: Date.now(), cpuUs, runWaitNs: runQueueWaitNs(pid), rssBytes: rssKb * 1024, heapUsedBytes: null };
}

/** The soft and hard limits on open files of this process (children inherit them), from /proc (Linux). */
export function openFilesLimit(): { soft: number; hard: number } | null {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  if (!m) return null;
  const n = (s: string | undefined) => (s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
  return { soft: n(m[1]), hard: n(m[2]) };
}
