/**
 * npm run sim: the scenarios of ../shared/BENCHMARKS.md in virtual time, with
 * the real peer-node and origin-side code (world.ts); a sweep over swarm
 * sizes with the physical bounds beside each figure; and --validate, which
 * runs the same plans as the real benchmark and prints both side by side.
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { originFlags } from '../../origin/config.ts';
import { type FlagSpec, ConfigError, helpText, parseConfig } from '../../shared/cli.ts';
import { createLogger } from '../../shared/log.ts';
import { runMain } from '../../shared/process.ts';
import { seededRng } from '../../shared/rng.ts';
import { type Figures, computeFigures } from '../bench/figures.ts';
import { type AudienceMix, SCENARIO_NAMES, type ScenarioName, type ScenarioPlan, defaultMix, planScenario } from '../bench/scenarios.ts';
import { renderTable } from '../bench/table.ts';
import { physicalBounds } from './bounds.ts';
import { SIM_BUNDLE, buildSim } from './build.ts';
import type { StreamShape } from './stream.ts';
import { renderSweepSvg } from './svg.ts';
import { type SweepRow, renderSweepTable } from './sweep-table.ts';
import { validate } from './validate.ts';
import { runWorld } from './world.ts';

/** The child's young generation, in MB (V8's default is 16 at most). */
const SEMI_SPACE_MB = 64;
const RANGE = /^\d+(\.\d+)?-\d+(\.\d+)?$/;
const SIM_SCENARIOS = [...SCENARIO_NAMES] as const;

export const simFlags = {
  scenario: { kind: 'choice', default: 'all', choices: ['all', ...SIM_SCENARIOS], help: 'run one scenario (picker-ablation: at N = 1000 unless --peers)' },
  peers: { kind: 'int', default: 0, min: 0, max: 1_000_000, help: "viewers per scenario (0 = the scenario's own)" },
  duration: { kind: 'int', default: 0, min: 0, max: 36_000, help: "simulated seconds per scenario (0 = the scenario's own; 60 in a sweep)" },
  seed: { kind: 'int', default: 1, min: 0, max: 2 ** 31, help: 'seed for viewers, links, join times, policies and the stream' },
  repeat: { kind: 'int', default: 1, min: 1, max: 100, help: 'runs per scenario with seeds seed, seed+1, ...: figures are their mean, with the spread' },
  quick: { kind: 'bool', default: false, help: 'the short version of every scenario, as npm run bench -- --quick' },
  json: { kind: 'optional-string', default: null, help: 'also write the figures to this file as JSON' },
  sweep: { kind: 'optional-string', default: null, pattern: /^\d+(,\d+)*$/, patternHelp: 'viewer counts separated by commas, e.g. 50,200,1000,10000', help: 'run swarm-50 at each of these viewer counts, one process each, and print one row per count' },
  svg: { kind: 'optional-string', default: null, help: 'with --sweep: draw offload, origin copies and continuity against N into this SVG file' },
  validate: { kind: 'bool', default: false, help: 'run swarm-small and swarm-50 in the simulator and as the real benchmark (ffmpeg, real processes) and compare' },
  segmentSeconds: { kind: 'int', default: 1, min: 1, max: 10, help: 'segment duration' },
  streamKbps: { kind: 'int', default: 1500, min: 50, max: 100_000, help: 'stream rate: segment sizes when --segment-sizes is not given, and the unit of upload rates' },
  segmentSizes: { kind: 'optional-string', default: null, help: "JSON file with a real encode's segment sizes in bytes (used in turn)" },
  slowShare: { kind: 'int', default: 20, min: 0, max: 100, help: 'percent of viewers with a slow uplink' },
  slowUpload: { kind: 'int', default: 50, min: 0, max: 10_000, help: 'slow uplink, percent of the stream rate' },
  fastUpload: { kind: 'string', default: '150-300', pattern: RANGE, patternHelp: 'a range lo-hi', help: 'other uplinks, percent of the stream rate, uniform in this range' },
  downloadKbps: { kind: 'int', default: 0, min: 0, max: 10_000_000, help: "every viewer's download limit (0 = unlimited)" },
  latency: { kind: 'string', default: '10-40', pattern: RANGE, patternHelp: 'a range lo-hi in ms', help: "one-way latency of each viewer's link, uniform in this range" },
  originEgress: { kind: 'int', default: 50, min: 0, max: 1_000_000, help: "origin egress cap in tenths of a stream copy (50 = 5 copies; 0 = unlimited)" },
  spareEgress: {
    kind: 'int',
    default: originFlags.spareEgressPercent.default,
    min: originFlags.spareEgressPercent.min,
    max: originFlags.spareEgressPercent.max,
    help: "the origin's --spare-egress-percent: free-riders' fallbacks, all together, in percent of one stream copy",
  },
  wholeSegments: { kind: 'bool', default: false, help: "the origin's --whole-segments: in low-latency, announce each segment only once it is whole (default: its pieces as they arrive)" },
  fallbackWait: {
    kind: 'int',
    default: originFlags.fallbackWaitMs.default,
    min: originFlags.fallbackWaitMs.min,
    max: originFlags.fallbackWaitMs.max,
    help: "the origin's --fallback-wait-ms: an HTTP fallback that would wait longer behind its queued egress is refused (0 = queue every one)",
  },
  pieceSize: {
    kind: 'int',
    default: originFlags.pieceSize.default,
    min: originFlags.pieceSize.min,
    max: originFlags.pieceSize.max,
    help: "the origin's --piece-size: bytes per piece",
  },
  joinSpread: { kind: 'int', default: 10, min: 0, max: 3600, help: 'seconds over which viewers arrive as a swarm forms' },
  flashWindow: { kind: 'int', default: 5, min: 0, max: 3600, help: 'flash-crowd: seconds within which everyone arrives' },
  churnEvery: { kind: 'int', default: 30, min: 1, max: 3600, help: 'churn: seconds between waves of leaving and joining' },
  churnShare: { kind: 'int', default: 33, min: 0, max: 100, help: 'churn: percent of those present who leave each wave (as many join)' },
  freeRiders: { kind: 'int', default: 20, min: 0, max: 100, help: 'free-riders: percent of viewers that never upload' },
  unreachable: { kind: 'int', default: 0, min: 0, max: 100, help: 'percent of viewers that cannot accept connections (behind NAT): they dial out only' },
  ffmpegPath: { kind: 'string', default: 'ffmpeg', help: 'ffmpeg binary, for --validate', env: 'FFMPEG_PATH' },
  /** Internal: each simulated run happens in a child process of its own, for an honest peak memory. */
  childResult: { kind: 'optional-string', default: null, help: "(internal) run one plan of --scenario and write its figures and cost to this file" },
  childVariant: { kind: 'int', default: 0, min: 0, max: 100, help: '(internal) which plan of --scenario' },
} as const satisfies Record<string, FlagSpec>;

type SimConfig = NonNullable<ReturnType<typeof parseConfig<typeof simFlags>>>;

const range = (text: string, scale: number): [number, number] => {
  const [lo, hi] = text.split('-').map((x) => Number(x) / scale) as [number, number];
  if (hi < lo) throw new ConfigError(`range ${text} is upside down`);
  return [lo, hi];
};

function mixOf(c: SimConfig): AudienceMix {
  return {
    ...defaultMix(c.quick),
    streamKbps: c.streamKbps,
    slowShare: c.slowShare / 100,
    slowUpload: c.slowUpload / 100,
    fastUpload: range(c.fastUpload, 100),
    latencyMs: range(c.latency, 1),
    originEgressCopies: c.originEgress / 10,
    joinSpreadMs: c.quick ? defaultMix(true).joinSpreadMs : 1000 * c.joinSpread,
    flashWindowMs: 1000 * c.flashWindow,
    churnEveryMs: c.quick ? defaultMix(true).churnEveryMs : 1000 * c.churnEvery,
    churnShare: c.churnShare / 100,
    freeRiderShare: c.freeRiders / 100,
  };
}

function streamOf(c: SimConfig): StreamShape {
  let sizes: number[] = [];
  if (c.segmentSizes) {
    const parsed: unknown = JSON.parse(readFileSync(c.segmentSizes, 'utf8'));
    if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((n) => Number.isSafeInteger(n) && n > 0)) {
      throw new ConfigError(`--segment-sizes must name a JSON array of positive integers, ${c.segmentSizes} is not one`);
    }
    sizes = parsed as number[];
  }
  return { segmentMs: 1000 * c.segmentSeconds, kbps: c.streamKbps, sizes };
}

/** The plans of one scenario name; the simulator's picker-ablation compares all four policies on the very same viewers. */
function plansOf(name: ScenarioName, c: SimConfig, seed: number): ScenarioPlan[] {
  const options = { quick: c.quick, peers: c.peers || null, durationS: c.duration || null, segmentMs: 1000 * c.segmentSeconds, rng: seededRng(seed), mix: mixOf(c) };
  if (name !== 'picker-ablation') return planScenario(name, options);
  const [reference] = planScenario('swarm-50', { ...options, peers: c.peers || 1000 });
  const base = reference as ScenarioPlan;
  return [
    { ...base, name: 'picker-ablation-rarest-deadline' },
    { ...base, name: 'picker-ablation-sequential', picker: 'sequential' },
    { ...base, name: 'picker-ablation-random', picker: 'random' },
    { ...base, name: 'picker-ablation-all-unchoked', choker: 'all-unchoked' },
  ];
}

interface Cost {
  wallMs: number;
  events: number;
  peakViewers: number;
  peakRssMb: number;
  bytesPerViewer: number;
}

/** What one simulated run hands back to the process that asked for it. */
interface RunResult {
  figures: Figures;
  cost: Cost;
  /** Total declared upload of its viewers (kbit/s; unlimited counts as infinite), for the bounds. */
  uploadKbps: number;
  viewers: number;
}

function costLine(cost: Cost): string {
  return `cost: ${(cost.wallMs / 1000).toFixed(1)} s wall, ${cost.events} events (${Math.round(cost.events / (cost.wallMs / 1000))}/s), peak RSS ${Math.round(cost.peakRssMb)} MB, ${Math.round(cost.bytesPerViewer / 1024)} KiB per viewer`;
}

/** The mean of each figure over runs, and its spread (max - min). */
function meanOf(runs: readonly Figures[]): { mean: Figures; spread: Figures } {
  const mean: Figures = {};
  const spread: Figures = {};
  for (const key of Object.keys(runs[0] ?? {}) as (keyof Figures)[]) {
    const values = runs.map((f) => f[key]).filter((v): v is number => v !== undefined);
    if (values.length === 0) continue;
    mean[key] = values.reduce((a, b) => a + b, 0) / values.length;
    spread[key] = Math.max(...values) - Math.min(...values);
  }
  return { mean, spread };
}

/** In a child process: runs variant `variant` of scenario `c.scenario` with `c.seed`, and writes its RunResult to `file`. */
async function childRun(c: SimConfig, variant: number, file: string, say: (line: string) => void): Promise<void> {
  const plan = plansOf(c.scenario as ScenarioName, c, c.seed)[variant] as ScenarioPlan;
  const started = performance.now();
  // A plan may have segments of its own (low-latency's 0.5 s); sizes then follow from the stream rate, or --segment-sizes.
  const out = await runWorld({ plan, stream: { ...streamOf(c), segmentMs: plan.segmentMs }, seed: c.seed, unreachableShare: c.unreachable / 100, downloadKbps: c.downloadKbps, spareEgressPercent: c.spareEgress, fallbackWaitMs: c.fallbackWait, pieceSize: c.pieceSize, wholeSegments: c.wholeSegments, progress: say });
  const result: RunResult = {
    figures: computeFigures(out.record),
    cost: {
      wallMs: performance.now() - started,
      events: out.events,
      peakViewers: out.peakViewers,
      peakRssMb: out.peakRssBytes / 2 ** 20,
      bytesPerViewer: out.peakViewers === 0 ? 0 : Math.max(0, out.peakRssBytes - out.baseRssBytes) / out.peakViewers,
    },
    uploadKbps: plan.peers.reduce((n, p) => n + (p.uploadKbps < 0 ? Number.POSITIVE_INFINITY : p.uploadKbps), 0),
    viewers: plan.peers.length,
  };
  // JSON has no Infinity: an unlimited total is written as null.
  await writeFile(file, JSON.stringify({ ...result, uploadKbps: Number.isFinite(result.uploadKbps) ? result.uploadKbps : null }));
}

/**
 * Runs one simulated run in a child process of its own: the bundled
 * simulator (plain JavaScript, no tsx wrappers), whose peak memory is that
 * run's alone.
 */
async function inChild(argv: readonly string[], scenario: ScenarioName, variant: number, seed: number, more: readonly string[] = []): Promise<RunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'sim-run-'));
  try {
    const file = join(dir, 'result.json');
    const args = [...withoutFlags(argv, ['--sweep', '--svg', '--json', '--scenario', '--seed', '--repeat', ...more]), '--scenario', scenario, '--seed', String(seed), '--child-variant', String(variant), '--child-result', file];
    await new Promise<void>((resolve, reject) => {
      // A simulation allocates short-lived objects by the million (frames, messages, plans): a young generation
      // larger than V8's default is collected less often, for a little more memory.
      const child = fork(SIM_BUNDLE, args, { execArgv: ['--max-old-space-size=14336', `--max-semi-space-size=${SEMI_SPACE_MB}`], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the simulated run of ${scenario} exited with ${code}`))));
    });
    const raw = JSON.parse(await readFile(file, 'utf8')) as Omit<RunResult, 'uploadKbps'> & { uploadKbps: number | null };
    return { ...raw, uploadKbps: raw.uploadKbps ?? Number.POSITIVE_INFINITY };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function runScenarios(c: SimConfig, argv: readonly string[], say: (line: string) => void): Promise<void> {
  // A single scenario still runs with the baseline, as in the benchmark; the ablation is read against its own reference run.
  const names: ScenarioName[] =
    c.scenario === 'all' ? [...SCENARIO_NAMES] : c.scenario === 'picker-ablation' ? ['picker-ablation'] : [...new Set<ScenarioName>(['baseline-http', c.scenario as ScenarioName])];
  await buildSim();
  const results: Record<string, Figures> = {};
  const spreads: Record<string, Figures> = {};
  const costs: Record<string, Cost> = {};
  for (const name of names) {
    for (const [v, plan] of plansOf(name, c, c.seed).entries()) {
      const runs: RunResult[] = [];
      for (let r = 0; r < c.repeat; r++) {
        say(`${plan.name}: ${plan.peers.length} viewers, ${plan.durationMs / 1000} simulated s, seed ${c.seed + r}`);
        runs.push(await inChild(argv, name, v, c.seed + r));
      }
      const { mean, spread } = meanOf(runs.map((x) => x.figures));
      const cost = (runs.at(-1) as RunResult).cost;
      results[plan.name] = mean;
      if (c.repeat > 1) spreads[plan.name] = spread;
      costs[plan.name] = cost;
      const spreadNote = c.repeat > 1 ? `\nspread over ${c.repeat} seeds (max - min): ${Object.entries(spread).map(([k, x]) => `${k} ${Number(x.toFixed(4))}`).join(', ')}` : '';
      process.stdout.write(`\n${renderTable(plan.name, mean, results['baseline-http'] ?? null)}\n${costLine(cost)}${spreadNote}\n`);
    }
  }
  if (c.json) await writeFile(c.json, `${JSON.stringify({ scenarios: results, ...(c.repeat > 1 ? { spread: spreads } : {}), cost: costs }, null, 2)}\n`);
  const corrupt = Object.entries(results).filter(([, f]) => (f.corruptPlayed ?? 0) > 0);
  for (const [name, f] of corrupt) say(`${name}: ${f.corruptPlayed} corrupt segments played`);
  if (corrupt.length > 0) process.exitCode = 1;
}

async function runSweep(c: SimConfig, argv: readonly string[], say: (line: string) => void): Promise<void> {
  const sizes = (c.sweep as string).split(',').map(Number);
  const durationS = c.duration || 60;
  await buildSim();
  const rows: SweepRow[] = [];
  for (const n of sizes) {
    say(`sweep: ${n} viewers, ${durationS} simulated s`);
    const run = await inChild([...withoutFlags(argv, ['--peers', '--duration']), '--peers', String(n), '--duration', String(durationS)], 'swarm-50', 0, c.seed);
    rows.push({
      peers: run.viewers,
      figures: run.figures,
      bounds: physicalBounds({ viewers: run.viewers, totalPeerUploadKbps: run.uploadKbps, streamKbps: c.streamKbps }),
      wallMs: run.cost.wallMs,
      peakRssMb: run.cost.peakRssMb,
      events: run.cost.events,
      bytesPerViewer: run.cost.bytesPerViewer,
    });
    process.stdout.write(`\n${renderSweepTable(rows)}\n`);
  }
  if (c.svg) await writeFile(c.svg, renderSweepSvg(rows, { title: `swarm-50's audience at N viewers, ${durationS} simulated s, seed ${c.seed}` }));
  if (c.json) await writeFile(c.json, `${JSON.stringify({ sweep: rows }, null, 2)}\n`);
}

/** argv less the named flags and their values (all of them take one, but --sweep's siblings above). */
function withoutFlags(argv: readonly string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const name = a.split('=')[0] as string;
    if (names.includes(name)) {
      if (!a.includes('=') && !BOOL_FLAGS.has(name)) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

const BOOL_FLAGS = new Set(Object.entries(simFlags).filter(([, s]) => s.kind === 'bool').map(([name]) => `--${name.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`));

void runMain('sim', async () => {
  const argv = process.argv.slice(2);
  const c = parseConfig(simFlags, argv, process.env);
  if (!c) {
    process.stdout.write(`${helpText('npm run sim --', simFlags)}\n`);
    return null;
  }
  if (c.svg && !c.sweep) throw new ConfigError('--svg draws a sweep: give --sweep too');
  // Ranges and files are checked before anything runs.
  mixOf(c);
  streamOf(c);
  const log = createLogger('sim', 'warn');
  const say = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
  // A simulation holds nothing to close, and its runs (children of this process) end when it does: Ctrl-C stops at once.
  // (--validate keeps the deferred stop of runMain, so the real benchmark's processes are stopped by it.)
  if (!c.validate) for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  if (c.childResult) {
    // The parent going away (stopped, killed) must not leave a simulation running for nobody.
    const orphaned = () => process.exit(1);
    process.on('disconnect', orphaned);
    await childRun(c, c.childVariant, c.childResult, say);
    // Done: the channel to the parent is all that keeps this process alive, and the parent waits for it to end.
    process.off('disconnect', orphaned);
    process.disconnect?.();
  } else if (c.validate) await validate(c, mixOf(c), say);
  else if (c.sweep) await runSweep(c, argv, say);
  else await runScenarios(c, argv, say);
  return { close: async () => undefined, log };
});
