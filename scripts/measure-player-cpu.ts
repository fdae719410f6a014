/**
 * Measures what the player page costs Chromium: an origin on its test pattern
 * at the default 640x360, one peer node per page, Debian's Chromium playing
 * every page. Once all play, for `--seconds`: the CPU time of every Chromium
 * process from /proc (renderers apart), and each page's main-thread time from
 * the DevTools Performance domain (tasks, script, layout, style).
 * Usage: npm run measure:player -- [--seconds 30] [--pages 2] [--warmup-seconds 10]
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { pino } from 'pino';
import { originConfig } from '../origin/config.ts';
import { type Origin, createOrigin } from '../origin/origin.ts';
import { peerConfig } from '../peer-node/config.ts';
import { type PeerNode, createPeerNode } from '../peer-node/node.ts';
import { PLAYER_DIR } from '../peer-node/player-dir.ts';
import { buildPlayer } from '../player/build.ts';
import { ConfigError, helpText, parseConfig } from '../shared/cli.ts';
import { launchChromium } from '../harness/browser.ts';

const flags = {
  seconds: { kind: 'int', default: 30, min: 5, max: 3600, help: 'how long to measure, once every page plays' },
  pages: { kind: 'int', default: 2, min: 1, max: 8, help: 'player pages, each on a peer node of its own' },
  warmupSeconds: { kind: 'int', default: 10, min: 0, max: 600, help: 'played before measuring' },
} as const;
const SEGMENT_S = 2;
const METRICS = ['TaskDuration', 'ScriptDuration', 'LayoutDuration', 'RecalcStyleDuration', 'LayoutCount', 'RecalcStyleCount'] as const;
type PageMetrics = Record<(typeof METRICS)[number], number>;

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

function stat(pid: number): { ppid: number; cpuS: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), cpuS: (Number(f[11]) + Number(f[12])) / CLK_TCK };
  } catch {
    return null; // gone since the listing
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** CPU seconds of the browser started with `userDataDir` and of all its descendants, keyed by pid, with each one's --type. */
function chromiumCpu(userDataDir: string): Map<number, { type: string; cpuS: number }> {
  const all = new Map<number, { ppid: number; cpuS: number }>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    const s = Number.isInteger(pid) ? stat(pid) : null;
    if (s) all.set(pid, s);
  }
  const ours = new Set([...all.keys()].filter((pid) => cmdline(pid).includes(`--user-data-dir=${userDataDir}`) && !cmdline(pid).includes('--type=')));
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, s] of all) if (!ours.has(pid) && ours.has(s.ppid)) grew = ours.add(pid) !== undefined;
  }
  const out = new Map<number, { type: string; cpuS: number }>();
  for (const pid of ours) out.set(pid, { type: /--type=(\S+)/.exec(cmdline(pid))?.[1] ?? 'browser', cpuS: all.get(pid)?.cpuS ?? 0 });
  return out;
}

async function pageMetrics(cdp: CDPSession): Promise<PageMetrics> {
  const { metrics } = await cdp.send('Performance.getMetrics');
  const byName = new Map(metrics.map((m) => [m.name, m.value]));
  return Object.fromEntries(METRICS.map((k) => [k, byName.get(k) ?? 0])) as PageMetrics;
}

async function main(): Promise<void> {
  const opts = parseConfig(flags, process.argv.slice(2), {});
  if (!opts) return void process.stdout.write(`${helpText('npm run measure:player --', flags)}\n`);
  await buildPlayer();
  const log = pino({ level: 'silent' });
  let origin: Origin | undefined;
  const peers: PeerNode[] = [];
  let context: BrowserContext | undefined;
  const userDataDir = await mkdtemp(join(tmpdir(), 'p2p-live-cpu-'));
  try {
    origin = createOrigin(originConfig({ port: 0, segmentSeconds: SEGMENT_S }), { log });
    await origin.start();
    const tracker = `${origin.url.replace(/^http/, 'ws')}/tracker`;
    for (let i = 0; i < opts.pages; i++) {
      const peer = createPeerNode(peerConfig({ tracker, port: 0, peerId: `cpu-${i}`, seed: i + 1, maxNeighboursPerAddress: 0 }), { log, staticDir: PLAYER_DIR });
      await peer.start();
      peers.push(peer);
    }
    context = await launchChromium(userDataDir, { width: 1100, height: 900 });
    const pages: Page[] = [];
    for (const peer of peers) {
      const page = pages.length === 0 ? (context.pages()[0] ?? (await context.newPage())) : await context.newPage();
      await page.goto(`${peer.url}/`);
      pages.push(page);
    }
    for (const page of pages) await page.waitForFunction(() => (window.__player?.stats().currentTime ?? 0) > 0, undefined, { timeout: 90_000, polling: 500 });
    await sleep(opts.warmupSeconds * 1000);
    const sessions = await Promise.all(pages.map((p) => context?.newCDPSession(p) as Promise<CDPSession>));
    for (const s of sessions) await s.send('Performance.enable');

    const published0 = origin.window.published;
    const cpu0 = chromiumCpu(userDataDir);
    const m0 = await Promise.all(sessions.map(pageMetrics));
    const t0 = performance.now();
    await sleep(opts.seconds * 1000);
    const wallS = (performance.now() - t0) / 1000;
    const cpu1 = chromiumCpu(userDataDir);
    const m1 = await Promise.all(sessions.map(pageMetrics));

    const byType = new Map<string, number>();
    for (const [pid, p] of cpu1) byType.set(p.type, (byType.get(p.type) ?? 0) + p.cpuS - (cpu0.get(pid)?.cpuS ?? 0));
    const total = [...byType.values()].reduce((a, b) => a + b, 0);
    const share = (s: number) => `${((100 * s) / wallS).toFixed(1)} % of a core`;
    // A starved ffmpeg makes a stream slower than real time, and stalls that are no fault of the page.
    const streamS = (origin.window.published - published0) * SEGMENT_S;
    process.stdout.write(`${opts.pages} player pages, ${wallS.toFixed(1)} s measured after ${opts.warmupSeconds} s of playback; the origin published ${streamS} s of stream meanwhile\n`);
    process.stdout.write(`Chromium, all processes: ${total.toFixed(2)} s CPU = ${share(total)}\n`);
    for (const [type, s] of [...byType].sort((a, b) => b[1] - a[1])) process.stdout.write(`  ${type.padEnd(12)} ${s.toFixed(2).padStart(6)} s = ${share(s)}\n`);
    for (const [i, m] of m1.entries()) {
      const d = Object.fromEntries(METRICS.map((k) => [k, m[k] - (m0[i]?.[k] ?? 0)])) as PageMetrics;
      process.stdout.write(
        `page ${i} main thread: tasks ${(1000 * d.TaskDuration).toFixed(0)} ms (${share(d.TaskDuration)}), script ${(1000 * d.ScriptDuration).toFixed(0)} ms, ` +
          `layout ${(1000 * d.LayoutDuration).toFixed(0)} ms in ${d.LayoutCount}, style ${(1000 * d.RecalcStyleDuration).toFixed(0)} ms in ${d.RecalcStyleCount}\n`,
      );
    }
    for (const [i, page] of pages.entries()) {
      const s = await page.evaluate(() => window.__player?.stats() ?? null);
      process.stdout.write(`page ${i}: ${s?.status}, behind live ${s?.latencyS?.toFixed(1)} s, ${s?.stalls} stalls, ${s?.stallMs} ms stalled, share from peers ${s?.p2pShare?.toFixed(2)}\n`);
    }
  } finally {
    await context?.close();
    await Promise.all(peers.map((p) => p.close()));
    await origin?.close();
    await rm(userDataDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = e instanceof ConfigError ? 2 : 1;
});
