/**
 * npm run bench: the scenarios of ../shared/BENCHMARKS.md against a real
 * origin and real peer nodes on 127.0.0.1, one table per scenario, and the
 * figures as JSON with --json FILE.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type FlagSpec, helpText, parseConfig } from '../../shared/cli.ts';
import { checkFfmpeg } from '../../origin/ffmpeg-process.ts';
import { runMain } from '../../shared/process.ts';
import { seededRng } from '../../shared/rng.ts';
import { createLogger } from '../../shared/log.ts';
import { buildPeer } from '../../peer-node/build.ts';
import { ensureClip } from './clip.ts';
import { type Figures, computeFigures } from './figures.ts';
import { runScenario } from './run-scenario.ts';
import { type AbrFigures, abrFiguresJson, computeAbrFigures, renderAbrTable } from './abr-figures.ts';
import { BENCH_SCENARIO_NAMES, type BenchScenarioName, STREAM_KBPS, benchPlans } from './scenarios.ts';
import { renderTable } from './table.ts';

const flags = {
  quick: { kind: 'bool', default: false, help: 'a short version of every scenario (whole run under 3 minutes)' },
  scenario: { kind: 'choice', default: 'all', choices: ['all', ...BENCH_SCENARIO_NAMES], help: 'run one scenario' },
  peers: { kind: 'int', default: 0, min: 0, max: 500, help: 'peers per scenario (0 = the scenario\'s own)' },
  duration: { kind: 'int', default: 0, min: 0, max: 3600, help: 'seconds per scenario (0 = the scenario\'s own)' },
  seed: { kind: 'int', default: 1, min: 0, max: 2 ** 31, help: 'seed for peer links, join times and policies' },
  json: { kind: 'optional-string', default: null, help: 'also write the figures to this file as JSON' },
  segmentSeconds: { kind: 'int', default: 1, min: 1, max: 6, help: 'segment duration of the benchmark stream' },
  ffmpegPath: { kind: 'string', default: 'ffmpeg', help: 'ffmpeg binary', env: 'FFMPEG_PATH' },
  cpuProf: { kind: 'optional-string', default: null, help: "write each peer worker's V8 CPU profile (.cpuprofile, for Chrome DevTools) into this folder" },
} as const satisfies Record<string, FlagSpec>;

const CACHE_DIR = fileURLToPath(new URL('../../.cache/', import.meta.url));

void runMain('bench', async () => {
  const config = parseConfig(flags, process.argv.slice(2), process.env);
  if (!config) {
    process.stdout.write(`${helpText('npm run bench --', flags)}\n`);
    return null;
  }
  const missing = checkFfmpeg(config.ffmpegPath);
  if (missing) throw new Error(missing);
  const log = createLogger('bench', 'warn');
  const say = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
  // A single scenario still runs with the baseline, since its figures are read against it.
  const names: BenchScenarioName[] =
    config.scenario === 'all' ? [...BENCH_SCENARIO_NAMES] : [...new Set<BenchScenarioName>(['baseline-http', config.scenario as BenchScenarioName])];
  const rng = seededRng(config.seed);
  const plans = names.flatMap((name) =>
    benchPlans(name, { quick: config.quick, peers: config.peers || null, durationS: config.duration || null, segmentMs: 1000 * config.segmentSeconds, rng }),
  );
  const longest = Math.max(...plans.map((p) => p.durationMs));
  say(`encoding the test clip (${STREAM_KBPS} kbit/s, cached in .cache/)`);
  // One clip per segment duration among the plans (low-latency's has a keyframe every 0.5 s).
  const clips = new Map<number, string>();
  for (const segmentMs of new Set(plans.map((p) => p.segmentMs))) {
    clips.set(
      segmentMs,
      await ensureClip({
        seconds: Math.max(120, Math.ceil(longest / 1000) + 30),
        segmentSeconds: segmentMs / 1000,
        videoKbps: STREAM_KBPS - 128,
        audioKbps: 128,
        ffmpegPath: config.ffmpegPath,
        cacheDir: CACHE_DIR,
      }),
    );
  }
  await buildPeer();
  const results: Record<string, Figures> = {};
  const ladderResults: Record<string, AbrFigures> = {};
  let failed = false;
  for (const plan of plans) {
    say(`${plan.name}: ${plan.peers.length} peers, ${plan.durationMs / 1000} s`);
    try {
      const run = await runScenario(plan, { clipPath: clips.get(plan.segmentMs) as string, segmentSeconds: config.segmentSeconds, seed: config.seed, progress: say, cpuProfDir: config.cpuProf });
      results[plan.name] = computeFigures(run);
      if (run.abr) ladderResults[plan.name] = computeAbrFigures(run.abr);
    } catch (err) {
      failed = true;
      say(`${plan.name}: failed to run: ${(err as Error).message}`);
    }
    const figures = results[plan.name];
    if (figures) process.stdout.write(`\n${renderTable(plan.name, figures, results['baseline-http'] ?? null)}\n`);
    const ladder = ladderResults[plan.name];
    if (ladder) process.stdout.write(`${renderAbrTable(ladder)}\n`);
  }
  if (config.json) {
    const scenarios = Object.fromEntries(Object.entries(results).map(([name, f]) => [name, { ...f, ...(ladderResults[name] && abrFiguresJson(ladderResults[name])) }]));
    await writeFile(config.json, `${JSON.stringify({ scenarios }, null, 2)}\n`);
  }
  const corrupt = Object.entries(results).filter(([, f]) => (f.corruptPlayed ?? 0) > 0);
  for (const [name, f] of corrupt) say(`${name}: ${f.corruptPlayed} corrupt segments played`);
  if (failed || corrupt.length > 0) process.exitCode = 1;
  say('done');
  return { close: async () => undefined, log };
});
