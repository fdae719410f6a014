/**
 * Measures the memory of peer-node processes as `npm run bench` does
 * (VmRSS of `node dist/peer.mjs`, launched as `npm run peer` launches it),
 * with a breakdown from each process's own /metrics (V8 heap by space,
 * external memory) and, from the kernel, how much of it is mapped files
 * (node's own binary and libraries: shared with every node process, and
 * most of an idle node's resident memory). The origin streams the
 * benchmark's cached clip and a few neighbours run in this process, each
 * with a playback model, so the measured processes relay a live stream as
 * they do in the benchmark.
 * Usage: npm run measure:peer-memory -- [--seconds 40] [--processes 2] [--neighbours 8] [--node-flags "--max-semi-space-size=1"]
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { originConfig } from '../origin/config.ts';
import { createOrigin } from '../origin/origin.ts';
import { type FlagSpec, helpText, parseConfig } from '../shared/cli.ts';
import { peerConfig } from '../peer-node/config.ts';
import { type PeerNode, createPeerNode } from '../peer-node/node.ts';
import { ensurePeerBundle } from '../harness/peer-bundle.ts';
import { PlaybackModel } from '../harness/playback-model.ts';
import { type Started, rssBytes, startScript, stopProcess, waitForOutput } from '../harness/process.ts';
import { ensureClip } from './bench/clip.ts';
import { STREAM_KBPS } from './bench/scenarios.ts';

const flags = {
  seconds: { kind: 'int', default: 40, min: 5, max: 3600, help: 'how long the measured processes run before the last sample' },
  processes: { kind: 'int', default: 2, min: 1, max: 10, help: 'peer-node processes to measure' },
  neighbours: { kind: 'int', default: 8, min: 0, max: 60, help: 'peer nodes in this process that form the swarm around them' },
  bundle: { kind: 'optional-string', default: null, help: 'peer bundle to measure (default: dist/peer.mjs, built when stale), e.g. one built from another commit' },
  nodeFlags: { kind: 'string', default: '', help: 'extra node flags for the measured processes (space-separated)' },
  ffmpegPath: { kind: 'string', default: 'ffmpeg', help: 'ffmpeg binary', env: 'FFMPEG_PATH' },
} as const satisfies Record<string, FlagSpec>;

const SAMPLE_MS = 5000;
const MB = 2 ** 20;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** utime + stime of a process (all its threads), in ms: what a smaller heap may cost in collections. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

const CACHE_DIR = fileURLToPath(new URL('../.cache/', import.meta.url));

/** The gauges of prom-client's default metrics this script reads, by name and label. */
function gauges(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(nodejs_heap_size_used_bytes|nodejs_heap_size_total_bytes|nodejs_external_memory_bytes|nodejs_array_buffers_bytes|nodejs_heap_space_size_used_bytes|nodejs_heap_space_size_total_bytes)(?:\{space="(\w+)"\})? (\S+)$/.exec(line);
    if (m) out.set(m[2] ? `${m[1]}:${m[2]}` : (m[1] as string), Number(m[3]));
  }
  return out;
}

interface Sample {
  rssMb: number;
  /** Resident pages of mapped files: node's own binary and libraries, shared with every node process on the machine. */
  fileMb: number;
  metrics: Map<string, number>;
}

/** Resident memory backed by files (Rss less Anonymous, from the kernel's rollup of the process's mappings). */
async function fileBackedBytes(pid: number): Promise<number> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0);
  return (kb('Rss') - kb('Anonymous')) * 1024;
}

async function sample(p: { proc: Started; url: string }): Promise<Sample> {
  const pid = p.proc.child.pid as number;
  const rssMb = (await rssBytes(pid)) / MB;
  const fileMb = (await fileBackedBytes(pid)) / MB;
  const res = await fetch(`${p.url}/metrics`).catch(() => null);
  return { rssMb, fileMb, metrics: res?.ok ? gauges(await res.text()) : new Map() };
}

function describe(s: Sample): string {
  const mb = (k: string) => {
    const v = s.metrics.get(k);
    return v === undefined ? '   -' : (v / MB).toFixed(1).padStart(5);
  };
  return [
    `rss ${s.rssMb.toFixed(1).padStart(6)} (files ${s.fileMb.toFixed(1).padStart(5)})`,
    `heap used/total ${mb('nodejs_heap_size_used_bytes')}/${mb('nodejs_heap_size_total_bytes')}`,
    `new ${mb('nodejs_heap_space_size_total_bytes:new')}`,
    `old ${mb('nodejs_heap_space_size_used_bytes:old')}/${mb('nodejs_heap_space_size_total_bytes:old')}`,
    `code ${mb('nodejs_heap_space_size_total_bytes:code')}`,
    `lo ${mb('nodejs_heap_space_size_total_bytes:large_object')}`,
    `external ${mb('nodejs_external_memory_bytes')}`,
    `arrayBuffers ${mb('nodejs_array_buffers_bytes')}`,
  ].join('  ');
}

async function main(): Promise<void> {
  const o = parseConfig(flags, process.argv.slice(2), process.env);
  if (!o) return void process.stdout.write(`${helpText('npm run measure:peer-memory --', flags)}\n`);
  const say = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
  const clipPath = await ensureClip({ seconds: 120, segmentSeconds: 1, videoKbps: STREAM_KBPS - 128, audioKbps: 128, ffmpegPath: o.ffmpegPath, cacheDir: CACHE_DIR });
  const bundle = o.bundle ?? (await ensurePeerBundle());
  const origin = createOrigin(originConfig({ port: 0, source: clipPath, copy: true, segmentSeconds: 1, seedCopies: 1, egressKbps: 3 * STREAM_KBPS }), {
    log: pino({ level: 'silent' }),
  });
  const neighbours: { node: PeerNode; model: PlaybackModel }[] = [];
  const measured: { proc: Started; url: string; model: PlaybackModel }[] = [];
  try {
    await origin.start();
    const tracker = `${origin.url.replace(/^http/, 'ws')}/tracker`;
    for (let i = 0; i < o.neighbours; i++) {
      const node = createPeerNode(peerConfig({ tracker, port: 0, peerId: `n${i}`, seed: i + 1, maxNeighboursPerAddress: 0, uploadKbps: 3 * STREAM_KBPS }), {
        log: pino({ level: 'silent' }),
      });
      await node.start();
      const model = PlaybackModel.forPeer(node.url);
      model.start();
      neighbours.push({ node, model });
    }
    const execArgv = o.nodeFlags.split(/\s+/).filter(Boolean);
    for (let i = 0; i < o.processes; i++) {
      const proc = startScript(bundle, ['--tracker', tracker, '--port', '0', '--peer-id', `m${i}`, '--seed', String(100 + i), '--max-neighbours-per-address', '0', '--upload-kbps', String(3 * STREAM_KBPS)], { execArgv });
      const [, url] = await waitForOutput(proc, /playlist (http\S+)\/live\.m3u8/);
      const model = PlaybackModel.forPeer(url as string);
      model.start();
      measured.push({ proc, url: url as string, model });
    }
    say(`${o.processes} peer process(es)${execArgv.length ? ` with ${execArgv.join(' ')}` : ''} among ${o.neighbours} neighbours, ${o.seconds} s`);
    const t0 = Date.now();
    const cpu0 = measured.map((m) => cpuMs(m.proc.child.pid as number));
    let last: Sample[] = [];
    while (Date.now() - t0 < o.seconds * 1000) {
      await sleep(Math.min(SAMPLE_MS, o.seconds * 1000 - (Date.now() - t0)));
      last = await Promise.all(measured.map(sample));
      for (const [i, s] of last.entries()) say(`m${i} ${Math.round((Date.now() - t0) / 1000)} s: ${describe(s)}`);
    }
    const command = ['npm run measure:peer-memory --', ...process.argv.slice(2)].join(' ');
    const cpuPct = measured.map((m, i) => (100 * (cpuMs(m.proc.child.pid as number) - (cpu0[i] as number))) / (Date.now() - t0));
    const mean = (xs: number[]) => xs.reduce((n, x) => n + x, 0) / xs.length;
    const rss = last.map((s) => s.rssMb);
    const files = last.map((s) => s.fileMb);
    process.stdout.write(
      `${command}\n${relative(process.cwd(), bundle)}: rssMbPerPeer ${mean(rss).toFixed(1)} (${rss.map((x) => x.toFixed(1)).join(', ')}; of which files ${mean(files).toFixed(1)}), cpuPctPerPeer ${mean(cpuPct).toFixed(2)} (${cpuPct.map((x) => x.toFixed(2)).join(', ')})\n`,
    );
  } finally {
    for (const m of measured) await m.model.close();
    await Promise.all(measured.map((m) => stopProcess(m.proc)));
    for (const n of neighbours) {
      await n.model.close();
      await n.node.close();
    }
    await origin.close();
  }
}

await main();
