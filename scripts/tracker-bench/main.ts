/**
 * npm run bench:tracker: one tracker holding N joined lightweight peer
 * connections (default 10,000), each speaking the real tracker protocol from
 * load worker processes; prints the tracker's CPU, its memory per connection,
 * and how long a segment's announcement takes from the origin publishing it
 * to the last connection receiving it, beside the targets of issue 13.
 * Figures are printed, never asserted.
 */
import { writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FlagSpec, ConfigError, helpText, parseConfig } from '../../shared/cli.ts';
import { checkFfmpeg } from '../../origin/ffmpeg-process.ts';
import { TRACKER_MESSAGES_PER_SEC, MAX_UNJOINED_TRACKER_CONNECTIONS_PER_ADDRESS } from '../../shared/limits.ts';
import { type Measured, TARGETS, computeFigures, renderTable, segmentFigure } from './figures.ts';
import type { SegmentReceipts } from './protocol.ts';
import { type Reading, type TrackerTarget, externalTracker, openFilesLimit, startOrigin } from './tracker-target.ts';
import { runQueueWaitNs } from './schedstat.ts';
import { type LoadWorker, shares, startWorker } from './workers.ts';

const flags = {
  connections: { kind: 'int', default: 10_000, min: 1, max: 100_000, help: 'joined connections the tracker holds' },
  segments: { kind: 'int', default: 30, min: 1, max: 100_000, help: 'segments to measure once all have joined' },
  seconds: { kind: 'int', default: 0, min: 0, max: 86_400, help: 'measure this long instead of --segments (0 = by --segments)' },
  workers: { kind: 'int', default: 4, min: 1, max: 64, help: 'load worker processes the connections are spread over' },
  joinsInFlight: { kind: 'int', default: 24, min: 1, max: MAX_UNJOINED_TRACKER_CONNECTIONS_PER_ADDRESS, help: 'joins a worker has waiting for their welcome at once' },
  tracker: { kind: 'optional-string', default: null, pattern: /^wss?:\/\/\S+$/, patternHelp: 'a ws:// or wss:// URL', help: 'load this running tracker instead of starting an origin' },
  trackerPid: { kind: 'int', default: 0, min: 0, max: 2 ** 22, help: "with --tracker: its process id, to read its CPU and RSS from /proc (0 = don't)" },
  streamId: { kind: 'string', default: 'live', pattern: /^[A-Za-z0-9_-]{1,64}$/, patternHelp: '1-64 of [A-Za-z0-9_-]', help: 'stream the connections join (with --tracker)' },
  json: { kind: 'optional-string', default: null, help: 'also write the figures to this file as JSON' },
  heapSnapshot: { kind: 'optional-string', default: null, help: "write a V8 heap snapshot of the origin to this file once all have joined (before measuring; it pauses the tracker)" },
  cpuProf: { kind: 'optional-string', default: null, help: "write the origin's V8 CPU profile (.cpuprofile, for Chrome DevTools) into this folder" },
  ffmpegPath: { kind: 'string', default: 'ffmpeg', help: 'ffmpeg binary', env: 'FFMPEG_PATH' },
} as const satisfies Record<string, FlagSpec>;

/** A load worker reports a segment some connection never got this long after its first receipt (load-worker.ts), plus slack. */
const SEGMENT_GIVE_UP_MS = 12_000;
const PROGRESS_EVERY_MS = 2000;
const JOIN_STALL_MS = 30_000;
/** After the last welcome: the join burst's sends flushed and its garbage collectable before memory is read. */
const SETTLE_MS = 2000;
/** Beyond the sockets: files, pipes, ffmpeg's connections. */
const SPARE_FILES = 256;

const say = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

/** Loopback only: a remote tracker is not for a benchmark, and 127.0.0.x are this machine's anyway. */
function localAddresses(url: string, workers: number): (string | null)[] {
  const host = new URL(url).hostname;
  const loopback = host === '127.0.0.1' || host === 'localhost';
  // One source address per worker: the tracker's admission limits are per address, and they stay at their defaults.
  return Array.from({ length: workers }, (_, i) => (loopback ? `127.0.0.${2 + i}` : null));
}

function checkOpenFiles(connections: number, workers: number, startsOrigin: boolean): void {
  const limit = openFilesLimit();
  if (!limit) return;
  const need = (startsOrigin ? connections : Math.ceil(connections / workers)) + SPARE_FILES;
  if (limit.soft < need) {
    throw new Error(
      `ulimit -n is ${limit.soft}; ${connections} connections need at least ${need} open files per process: ` +
        (limit.hard >= need
          ? `run \`ulimit -n ${need}\` first, or pass fewer --connections`
          : `the hard limit (${limit.hard}) is too low as well: raise it (as root, \`ulimit -Hn ${need}\`, or in /etc/security/limits.conf), or pass fewer --connections`),
    );
  }
}

type Config = NonNullable<ReturnType<typeof parseConfig<typeof flags>>>;

async function run(config: Config, signal: AbortSignal): Promise<void> {
  const wallStart = Date.now();
  // Every process here competes for the same cores as whatever else runs: the figures are read against this.
  const loadBefore = loadavg()[0] ?? Number.NaN;
  const workerCount = Math.min(config.workers, config.connections);
  checkOpenFiles(config.connections, workerCount, config.tracker === null);
  if (config.tracker === null) {
    const missing = checkFfmpeg(config.ffmpegPath);
    if (missing) throw new Error(missing);
  }
  const workers: LoadWorker[] = [];
  let target: TrackerTarget | null = null;
  let died: string | null = null;
  const receipts = new Map<number, { parts: Map<number, SegmentReceipts>; firstAtMs: number }>();
  let complete = 0;
  try {
    say(config.tracker ? `loading ${config.tracker}` : 'starting an origin (ffmpeg test pattern)');
    target = config.tracker ? externalTracker(config.tracker, config.trackerPid || null) : await startOrigin({ connections: config.connections, ffmpegPath: config.ffmpegPath, cpuProfDir: config.cpuProf, signal });
    const tracker = target;
    say(`tracker ${tracker.url}`);
    const before = await tracker.read(true);
    const addresses = localAddresses(tracker.url, workerCount);
    const events = {
      onSegment: (w: LoadWorker, r: SegmentReceipts) => {
        const entry = receipts.get(r.seq) ?? { parts: new Map(), firstAtMs: Date.now() };
        receipts.set(r.seq, entry);
        entry.parts.set(w.index, r);
        if (entry.parts.size === workers.length) complete++;
      },
      onDied: (_w: LoadWorker, why: string) => (died ??= why),
    };
    workers.push(...(await Promise.all(Array.from({ length: workerCount }, (_, i) => startWorker(i, events)))));
    const joinCpu0 = await tracker.read(false);
    const joinStart = Date.now();
    shares(config.connections, workerCount).forEach((n, i) =>
      workers[i]?.send({
        type: 'start',
        spec: { trackerUrl: tracker.url, streamId: config.streamId, connections: n, idPrefix: `bench-${i}-`, localAddress: addresses[i] ?? null, maxInFlight: config.joinsInFlight },
      }),
    );
    const sum = (f: (w: LoadWorker) => number) => workers.reduce((n, w) => n + f(w), 0);
    const lastError = () => workers.map((w) => w.lastError).find((e) => e !== null) ?? 'no reason given';
    const check = () => {
      signal.throwIfAborted();
      if (died) throw new Error(died);
    };

    let best = 0;
    let bestAt = Date.now();
    let saidAt = 0;
    while (sum((w) => w.joined) < config.connections) {
      check();
      const joined = sum((w) => w.joined);
      if (sum((w) => w.lost) > 0) throw new Error(`${sum((w) => w.lost)} connections closed while joining (last: ${lastError()})`);
      if (joined > best) [best, bestAt] = [joined, Date.now()];
      if (Date.now() - bestAt > JOIN_STALL_MS) throw new Error(`joins stalled at ${joined}/${config.connections} (last: ${lastError()})`);
      if (Date.now() - saidAt >= PROGRESS_EVERY_MS) {
        say(`joined ${joined}/${config.connections}`);
        saidAt = Date.now();
      }
      await sleep(200);
    }
    const joinSeconds = (Date.now() - joinStart) / 1000;
    const joinCpu1 = await tracker.read(false);
    say(`all ${config.connections} joined in ${joinSeconds.toFixed(1)} s; settling ${SETTLE_MS / 1000} s before reading memory`);
    await sleep(SETTLE_MS, undefined, { signal });
    const joinedMemory = await tracker.read(true);
    if (config.heapSnapshot) {
      const written = await tracker.heapSnapshot(config.heapSnapshot);
      say(written ? `heap snapshot written to ${written}` : 'no heap snapshot: the tracker is not a process this benchmark started');
      // Writing it stops the tracker for seconds: let the backlog clear before measuring.
      await sleep(SETTLE_MS, undefined, { signal });
    }

    const fromMs = Date.now();
    for (const w of workers) w.send({ type: 'measure', fromMs });
    const cpu0 = await tracker.read(false);
    const workerWait0 = workers.map((w) => runQueueWaitNs(w.pid));
    while (workers.some((w) => w.measuringCpuMs === null)) {
      check();
      await sleep(20);
    }
    const done = () => (config.seconds > 0 ? Date.now() - fromMs >= config.seconds * 1000 : complete >= config.segments);
    saidAt = Date.now();
    while (!done()) {
      check();
      await sleep(100);
      if (Date.now() - saidAt >= PROGRESS_EVERY_MS) {
        const now = await tracker.read(false);
        const cpu = now && cpu0 ? ` tracker CPU ${((100 * (now.cpuUs - cpu0.cpuUs)) / 1000 / Math.max(1, now.atMs - cpu0.atMs)).toFixed(0)} %,` : '';
        const goal = config.seconds > 0 ? `${Math.round((Date.now() - fromMs) / 1000)}/${config.seconds} s` : `${complete}/${config.segments} segments`;
        say(`measuring: ${goal},${cpu} ${sum((w) => w.joined)} joined, ${sum((w) => w.lost)} lost`);
        saidAt = Date.now();
      }
    }
    const cpu1 = await tracker.read(false);
    const workerWait1 = workers.map((w) => runQueueWaitNs(w.pid));
    const endAt = Date.now();
    const joined = sum((w) => w.joined);
    const lost = sum((w) => w.lost);
    const startCpu = workers.map((w) => w.measuringCpuMs ?? 0);
    const workerCpuMs = (await Promise.all(workers.map((w) => w.stop()))).map((cpu, i) => cpu - (startCpu[i] ?? 0));

    // Complete segments, and those some worker never saw at all once it is too late for them; not those still arriving.
    const measured = [...receipts.values()]
      .filter((e) => e.parts.size === workers.length || endAt - e.firstAtMs > SEGMENT_GIVE_UP_MS)
      .map((e) => {
        const parts = [...e.parts.values()];
        const seq = parts[0]?.seq ?? -1;
        const publishedAtMs = parts[0]?.publishedAtMs ?? 0;
        for (const w of workers) if (!e.parts.has(w.index)) parts.push({ seq, publishedAtMs, latenciesMs: [], missing: w.joined });
        return parts;
      });
    const pct = (a: Reading | null, b: Reading | null) => (a && b && b.atMs > a.atMs ? (100 * (b.cpuUs - a.cpuUs)) / 1000 / (b.atMs - a.atMs) : null);
    const waiting = (a: Reading | null, b: Reading | null) =>
      a?.runWaitNs != null && b?.runWaitNs != null && b.atMs > a.atMs ? (100 * (b.runWaitNs - a.runWaitNs)) / 1e6 / (b.atMs - a.atMs) : null;
    const workerWaitMs = workerWait0.flatMap((a, i) => {
      const b = workerWait1[i];
      return a === null || b == null ? [] : [(b - a) / 1e6];
    });
    const memory = (r: Reading | null) => (r ? { rssBytes: r.rssBytes, heapUsedBytes: r.heapUsedBytes } : null);
    const m: Measured = {
      connections: config.connections,
      joined,
      lost,
      joinSeconds,
      joinCpuPct: pct(joinCpu0, joinCpu1),
      trackerCpuPct: pct(cpu0, cpu1),
      trackerWaitingPct: waiting(cpu0, cpu1),
      memoryBefore: memory(before),
      memoryJoined: memory(joinedMemory),
      segments: measured,
      workerCpuMs,
      workerWaitMs,
      windowMs: endAt - fromMs,
    };
    const figures = computeFigures(m);
    const wallSeconds = (Date.now() - wallStart) / 1000;
    const machine = { cores: availableParallelism(), loadAverageBefore: loadBefore, loadAverageAfter: loadavg()[0] ?? Number.NaN };
    const lines = [
      `tracker: ${tracker.describe}`,
      `load: ${config.connections} connections over ${workerCount} worker processes${addresses[0] ? ` from ${addresses[0]}..${addresses.at(-1)}` : ''}, ` +
        `each joining with no address (never probed) and upload 0 (never seeded), announcing at the welcome's interval, get-peers every 10 s ` +
        `(${TRACKER_MESSAGES_PER_SEC}/s is the tracker's per-connection cap)`,
      `measured: ${(m.windowMs / 1000).toFixed(1)} s from all joined; publish instant = the announcement's publishedAtMs (origin clock, same machine)`,
      `machine: ${machine.cores} cores, 1-min load average ${machine.loadAverageBefore.toFixed(1)} before the run and ${machine.loadAverageAfter.toFixed(1)} after (the tracker, ffmpeg, the workers and anything else share the cores)`,
      '',
      renderTable(figures),
      '',
      `wall time ${wallSeconds.toFixed(0)} s`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    if (config.json) {
      const perSegment = measured.map(segmentFigure);
      await writeFile(config.json, `${JSON.stringify({ figures, targets: TARGETS, tracker: tracker.describe, machine, wallSeconds, perSegment }, null, 2)}\n`);
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await target?.stop();
  }
}

async function main(): Promise<void> {
  let config: Config | null;
  try {
    config = parseConfig(flags, process.argv.slice(2), process.env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`bench:tracker: ${e.message} (see --help)\n`);
    process.exitCode = 2;
    return;
  }
  if (!config) {
    process.stdout.write(`${helpText('npm run bench:tracker --', flags)}\n`);
    return;
  }
  const abort = new AbortController();
  const onSignal = (sig: string) => {
    say(`${sig}: stopping the workers and the tracker`);
    abort.abort(new Error(`interrupted (${sig})`));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await run(config, abort.signal);
  } catch (e) {
    process.stderr.write(`bench:tracker: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}

void main();
