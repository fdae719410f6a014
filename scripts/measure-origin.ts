/**
 * Measures the origin at its default encode settings: ffmpeg's CPU, segment
 * sizes and bitrate, and how long a finished segment takes to reach a tracker
 * client. The origin runs in this process, so every timestamp is on one clock.
 * Usage: npm run measure:origin -- [--seconds 30] [--segment-seconds 1]
 */
import { spawnSync } from 'node:child_process';
import { on } from 'node:events';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import { originConfig, originFlags } from '../origin/config.ts';
import type { SegmentTiming } from '../origin/events.ts';
import { type Origin, createOrigin } from '../origin/origin.ts';
import { ConfigError, helpText, parseConfig } from '../shared/cli.ts';
import { PROTOCOL_VERSION } from '../shared/limits.ts';
import { decodeTrackerToPeer, encodePeerToTracker } from '../shared/tracker-protocol.ts';

const flags = {
  seconds: { kind: 'int', default: 30, min: 5, max: 3600, help: 'how long to measure, after warm-up' },
  segmentSeconds: { ...originFlags.segmentSeconds, help: "the origin's --segment-seconds" },
} as const;
/** Publications closer than this to one segment duration apart count as on pace. */
const PACE_TOLERANCE_MS = 300;
const PROGRESS_MS = 5000;
const WARMUP_SEGMENTS = 2;

/**
 * One segment published during the run: its timing as the origin's segmentPublished
 * event gives it (performance.now() ms), and when the tracker client got its announcement.
 */
type Sample = { bytes: number; durationMs: number; pieces: number; timing: SegmentTiming; arrivedAt: number | null };

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** utime + stime of a process (all its threads), in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
}

function row(label: string, values: readonly number[], digits = 0): string {
  const s = [...values].sort((a, b) => a - b);
  const cells = [pct(s, 0), pct(s, 0.5), pct(s, 0.95), s.at(-1) ?? Number.NaN].map((v) => v.toFixed(digits).padStart(9));
  return `  ${label.padEnd(34)}${cells.join('')}`;
}

const header = (title: string) => `${title.padEnd(36)}${['min', 'median', 'p95', 'max'].map((h) => h.padStart(9)).join('')}`;

/** Waits `ms`, or less if Ctrl-C comes first. */
const until = (ms: number, signal: AbortSignal): Promise<void> => sleep(ms, undefined, { signal }).catch(() => undefined);

/** Resolves once `origin` has published `count` segments, or when `signal` aborts. */
async function published(origin: Origin, count: number, signal: AbortSignal): Promise<void> {
  if (origin.window.published >= count) return;
  try {
    for await (const _ of on(origin.events, 'segmentPublished', { signal })) if (origin.window.published >= count) return;
  } catch (e) {
    if (!signal.aborted) throw e;
  }
}

async function main(): Promise<void> {
  const opts = parseConfig(flags, process.argv.slice(2), {});
  if (!opts) return void process.stdout.write(`${helpText('npm run measure:origin --', flags)}\n`);
  const command = ['node', ...process.execArgv, relative(process.cwd(), process.argv[1] ?? ''), ...process.argv.slice(2)].join(' ');
  const config = originConfig({ port: 0, logLevel: 'silent', segmentSeconds: opts.segmentSeconds });
  const origin = createOrigin(config, { log: pino({ level: 'silent' }) });
  const stop = new AbortController();
  const onSigint = () => stop.abort();
  process.once('SIGINT', onSigint);
  const samples = new Map<number, Sample>();
  let measuring = false;
  let ws: WebSocket | null = null;
  try {
    origin.events.on('segmentPublished', ({ segment: { info }, timing }) => {
      if (measuring) samples.set(info.seq, { bytes: info.size, durationMs: info.durationMs, pieces: info.pieceHashes.length, timing, arrivedAt: null });
    });
    await origin.start();

    // A real tracker client: joins as a free-rider (so it is never seeded) and stamps each segment announcement on arrival.
    const client = (ws = new WebSocket(`${origin.url.replace(/^http/, 'ws')}/tracker`));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no welcome from the tracker within 10 s')), 10_000);
      client.on('error', reject);
      client.on('close', (code, reason) => reject(new Error(`tracker closed ${code} ${reason.toString()}`)));
      client.on('open', () =>
        client.send(encodePeerToTracker({ type: 'join', version: PROTOCOL_VERSION, streamId: config.streamId, peerId: 'measure', url: null, uploadKbps: 0 })),
      );
      client.on('message', (data, isBinary) => {
        const at = performance.now();
        const m = decodeTrackerToPeer(isBinary ? (data as Buffer) : data.toString());
        if (!m.ok) return reject(new Error(`bad tracker message: ${m.error.message}`));
        if (m.value.type === 'welcome') resolve(clearTimeout(timer));
        if (m.value.type === 'error') reject(new Error(`tracker refused: ${m.value.code} ${m.value.message}`));
        const sample = m.value.type === 'segment' ? samples.get(m.value.announcement.segment.seq) : undefined;
        if (sample && sample.arrivedAt === null) sample.arrivedAt = at;
      });
    });

    await published(origin, WARMUP_SEGMENTS, AbortSignal.any([stop.signal, AbortSignal.timeout(30_000)]));
    const pid = origin.ingest.pid;
    const comm = pid === undefined ? '' : readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    if (pid === undefined || comm !== 'ffmpeg') throw new Error(`no ffmpeg to measure (pid ${pid}, comm "${comm}", ${origin.window.published} segments)`);

    measuring = true;
    const t0 = performance.now();
    const ff0 = cpuSeconds(pid);
    const node0 = process.cpuUsage();
    const progress = setInterval(() => {
      const s = (performance.now() - t0) / 1000;
      const ff = (100 * (cpuSeconds(pid) - ff0)) / s;
      process.stderr.write(`  ${s.toFixed(0).padStart(4)} s / ${opts.seconds} s: ${samples.size} segments, ffmpeg ${ff.toFixed(0)}% of a core\n`);
    }, PROGRESS_MS);
    await until(opts.seconds * 1000, stop.signal);
    clearInterval(progress);
    measuring = false;
    const wallS = (performance.now() - t0) / 1000;
    const ffPct = (100 * (cpuSeconds(pid) - ff0)) / wallS;
    const nodeCpu = process.cpuUsage(node0);
    const nodePct = (nodeCpu.user + nodeCpu.system) / 1e4 / wallS;
    const restarted = origin.ingest.pid !== pid;
    await until(500, stop.signal); // announcements of the last segments still on the way

    const all = [...samples.values()];
    const sum = (f: (s: Sample) => number) => all.reduce((n, s) => n + f(s), 0);
    const kbps = (8 * sum((s) => s.bytes)) / sum((s) => s.durationMs);
    const intervals = all.slice(1).map((s, i) => s.timing.publishedMs - (all[i] as Sample).timing.publishedMs);
    const segmentMs = config.segmentSeconds * 1000;
    const arrived = all.filter((s): s is Sample & { arrivedAt: number } => s.arrivedAt !== null);
    const ffmpegVersion = spawnSync(config.ffmpegPath, ['-version'], { encoding: 'utf8' }).stdout.split(' ').slice(0, 3).join(' ');
    const out = [
      `origin at default settings: ${config.width}x${config.height} ${config.fps} fps, ${config.videoKbps}k video + ${config.audioKbps}k audio, ${config.segmentSeconds} s segments, ${config.source}`,
      `command: ${command}`,
      `machine: ${cpus()[0]?.model.trim() ?? 'unknown cpu'}, ${availableParallelism()} cores; node ${process.version}; ${ffmpegVersion}`,
      `measured ${wallS.toFixed(1)} s after ${WARMUP_SEGMENTS} warm-up segments${restarted ? '; WARNING: ffmpeg restarted during the run' : ''}`,
      '',
      'CPU, % of one core',
      `  ffmpeg (pid ${pid}, /proc/<pid>/stat utime+stime)`.padEnd(54) + ffPct.toFixed(1).padStart(6),
      '  origin node process, this client included (cpuUsage)'.padEnd(54) + nodePct.toFixed(1).padStart(6),
      '',
      header(`segments: ${all.length}`),
      row('size, bytes', all.map((s) => s.bytes)),
      row('duration, ms', all.map((s) => s.durationMs)),
      row(`pieces of ${config.pieceSize / 1024} KiB`, all.map((s) => s.pieces)),
      `  bitrate: ${kbps.toFixed(0)} kbit/s (bytes / duration; configured ${config.videoKbps + config.audioKbps} kbit/s + MPEG-TS overhead)`,
      row('between publications, ms', intervals),
      `  published < ${PACE_TOLERANCE_MS} ms after the previous one: ${intervals.filter((ms) => ms < PACE_TOLERANCE_MS).length}; ` +
        `off ${segmentMs} ms by more than ${PACE_TOLERANCE_MS} ms: ${intervals.filter((ms) => Math.abs(ms - segmentMs) > PACE_TOLERANCE_MS).length} of ${intervals.length}`,
      '',
      header(`to the tracker client, ms (${arrived.length} of ${all.length})`),
      row('playlist PUT -> segment message', arrived.map((s) => s.arrivedAt - s.timing.playlistPutMs), 2),
      row('last PUT read -> segment message', arrived.map((s) => s.arrivedAt - Math.max(s.timing.playlistPutMs, s.timing.segmentPutEndMs)), 2),
      row('segment PUT end -> segment message', arrived.map((s) => s.arrivedAt - s.timing.segmentPutEndMs), 2),
      row('publish -> segment message', arrived.map((s) => s.arrivedAt - s.timing.publishedMs), 2),
      row('announce -> segment message', arrived.map((s) => s.arrivedAt - s.timing.announcedMs), 2),
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    process.off('SIGINT', onSigint);
    ws?.removeAllListeners().on('error', () => {}).terminate();
    await origin.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`measure-origin: ${(e as Error).message}\n`);
  process.exitCode = e instanceof ConfigError ? 2 : 1;
});
