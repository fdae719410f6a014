/**
 * npm run sim -- --validate: the same scenario plans (viewers, links, join
 * times, seed) run as the real benchmark (ffmpeg, origin and peer processes
 * on 127.0.0.1) and in the simulator, fed the real encode's segment sizes,
 * with their figures side by side. Agreement is what makes the simulator's
 * figures at sizes no machine here can run believable.
 */
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { checkFfmpeg } from '../../origin/ffmpeg-process.ts';
import { buildPeer } from '../../peer-node/build.ts';
import { seededRng } from '../../shared/rng.ts';
import { ensureClip } from '../bench/clip.ts';
import { type FigureKey, type Figures, computeFigures } from '../bench/figures.ts';
import { runScenario } from '../bench/run-scenario.ts';
import { type AudienceMix, type ScenarioPlan, planScenario } from '../bench/scenarios.ts';
import { runWorld } from './world.ts';

const CACHE_DIR = fileURLToPath(new URL('../../.cache/', import.meta.url));

/** The agreement asked of the simulator: absolute for ratios of 0..1, relative for counts and times. */
export const TOLERANCES: readonly { key: FigureKey; kind: 'abs' | 'rel'; within: number }[] = [
  { key: 'offload', kind: 'abs', within: 0.015 },
  { key: 'continuity', kind: 'abs', within: 0.01 },
  { key: 'originCopies', kind: 'rel', within: 0.15 },
  { key: 'lagMsP50', kind: 'rel', within: 0.25 },
];
const ALSO_SHOWN: readonly FigureKey[] = ['rebufferRatio', 'lagMsP95', 'behindLiveMsP50', 'startupMsP50', 'startupMsP95', 'overhead', 'corruptPlayed'];

export interface ValidateConfig {
  seed: number;
  peers: number;
  duration: number;
  segmentSeconds: number;
  unreachable: number;
  downloadKbps: number;
  ffmpegPath: string;
}

export interface Comparison {
  key: FigureKey;
  real: number | undefined;
  sim: number | undefined;
  /** sim - real, absolute or relative to real as the tolerance is. */
  diff: number | undefined;
  within: number | null;
  ok: boolean | null;
}

/** Pure: the two runs' figures compared key by key. */
export function compare(real: Figures, sim: Figures): Comparison[] {
  const out: Comparison[] = [];
  for (const t of TOLERANCES) {
    const r = real[t.key];
    const s = sim[t.key];
    const diff = r === undefined || s === undefined ? undefined : t.kind === 'abs' ? s - r : r === 0 ? (s === 0 ? 0 : Number.POSITIVE_INFINITY) : (s - r) / r;
    out.push({ key: t.key, real: r, sim: s, diff, within: t.within, ok: diff === undefined ? null : Math.abs(diff) <= t.within });
  }
  for (const key of ALSO_SHOWN) {
    const r = real[key];
    const s = sim[key];
    out.push({ key, real: r, sim: s, diff: r === undefined || s === undefined || r === 0 ? undefined : (s - r) / r, within: null, ok: null });
  }
  return out;
}

const fmt = (key: FigureKey, v: number | undefined): string => {
  if (v === undefined) return '–';
  if (key === 'offload' || key === 'rebufferRatio' || key === 'overhead') return `${(100 * v).toFixed(2)} %`;
  if (key === 'continuity') return v.toFixed(4);
  if (key === 'originCopies') return v.toFixed(2);
  return String(Math.round(v));
};

function diffText(c: Comparison): string {
  if (c.diff === undefined) return '–';
  const t = TOLERANCES.find((x) => x.key === c.key);
  if (t?.kind === 'abs') return c.key === 'offload' ? `${c.diff >= 0 ? '+' : ''}${(100 * c.diff).toFixed(2)} pp` : `${c.diff >= 0 ? '+' : ''}${c.diff.toFixed(4)}`;
  return `${c.diff >= 0 ? '+' : ''}${(100 * c.diff).toFixed(1)} %`;
}

function toleranceText(c: Comparison): string {
  const t = TOLERANCES.find((x) => x.key === c.key);
  if (!t) return '';
  return t.kind === 'rel' ? `±${Math.round(100 * t.within)} %` : c.key === 'offload' ? `±${(100 * t.within).toFixed(1)} pp` : `±${t.within}`;
}

export function renderComparison(title: string, rows: readonly Comparison[]): string {
  const table = [['figure', 'real', 'sim', 'sim - real', 'tolerance', '']];
  for (const c of rows) table.push([c.key, fmt(c.key, c.real), fmt(c.key, c.sim), diffText(c), toleranceText(c), c.ok === null ? '' : c.ok ? 'agrees' : 'DIFFERS']);
  const widths = (table[0] as string[]).map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [`== ${title}`, ...table.map(line)].join('\n');
}

export async function validate(c: ValidateConfig, mix: AudienceMix, say: (line: string) => void): Promise<void> {
  const missing = checkFfmpeg(c.ffmpegPath);
  if (missing) throw new Error(missing);
  const segmentMs = 1000 * c.segmentSeconds;
  const plans = (['swarm-small', 'swarm-50'] as const).map(
    (name) => planScenario(name, { quick: false, peers: c.peers || null, durationS: c.duration || null, segmentMs, rng: seededRng(c.seed), mix })[0] as ScenarioPlan,
  );
  say(`encoding the test clip (${mix.streamKbps} kbit/s, cached in .cache/)`);
  const clipPath = await ensureClip({
    seconds: Math.max(120, Math.ceil(Math.max(...plans.map((p) => p.durationMs)) / 1000) + 30),
    segmentSeconds: c.segmentSeconds,
    videoKbps: mix.streamKbps - 128,
    audioKbps: 128,
    ffmpegPath: c.ffmpegPath,
    cacheDir: CACHE_DIR,
  });
  await buildPeer();
  let disagreed = false;
  for (const plan of plans) {
    say(`${plan.name}: the real benchmark, ${plan.peers.length} peers, ${plan.durationMs / 1000} s`);
    const sizes: number[] = [];
    // The run-queue length through the real run: above the core count, every process waited for a core.
    let peakLoad = loadavg()[0] as number;
    const sampler = setInterval(() => (peakLoad = Math.max(peakLoad, loadavg()[0] as number)), 5000);
    const realRun = await runScenario(plan, { clipPath, segmentSeconds: c.segmentSeconds, seed: c.seed, progress: say, onPublished: (_seq, size) => sizes.push(size) }).finally(() => clearInterval(sampler));
    const real = computeFigures(realRun);
    say(`${plan.name}: the simulator, with the real encode's ${sizes.length} segment sizes`);
    const sim = computeFigures((await runWorld({ plan, stream: { segmentMs, kbps: mix.streamKbps, sizes }, seed: c.seed, unreachableShare: c.unreachable / 100, downloadKbps: c.downloadKbps, progress: say })).record);
    const rows = compare(real, sim);
    const cores = realRun.peerCpuMs / plan.durationMs;
    const machine = availableParallelism();
    const lines = [renderComparison(`${plan.name}: real benchmark vs simulator (${plan.peers.length} viewers, ${plan.durationMs / 1000} s, seed ${c.seed})`, rows)];
    lines.push(`real run: cpuPctPerPeer ${real.cpuPctPerPeer?.toFixed(2) ?? '–'}; its peer-node workers used ${cores.toFixed(2)} of this machine's ${machine} cores; load average up to ${peakLoad.toFixed(2)}`);
    const differs = rows.filter((r) => r.ok === false);
    if (differs.length > 0) {
      const busy = cores >= 0.6 * machine || peakLoad >= machine;
      // A CPU-bound real run is explained, not failed; a difference on a machine with cores to spare is the simulator's to answer for.
      if (!busy) disagreed = true;
      lines.push(
        busy
          ? `outside tolerance: ${differs.map((d) => d.key).join(', ')}. The real run was CPU-bound (its peer nodes took ${cores.toFixed(2)} of ${machine} cores and the load average reached ${peakLoad.toFixed(2)}, with the origin, ffmpeg and the playback models beside them): each relay hop and each request waited for a core, so the real lag, continuity and origin copies measure this machine as much as the design. Code takes no time in the simulator; a cheaper peer node, or a quieter machine, closes this gap.`
          : `outside tolerance: ${differs.map((d) => d.key).join(', ')}, on a machine with cores to spare (${cores.toFixed(2)} of ${machine} used by peer nodes, load average up to ${peakLoad.toFixed(2)}): a difference between the simulator and the real run to explain.`,
      );
    }
    process.stdout.write(`\n${lines.join('\n')}\n`);
  }
  if (disagreed) process.exitCode = 1;
}
