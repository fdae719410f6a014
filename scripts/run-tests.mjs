// Runs the test files, each in a `node --test` process of its own:
//   - first the few files listed in ALONE, one at a time with no other
//     integration file beside them, streamed as they run; meanwhile the unit
//     files and the BACKGROUND ones run one at a time at the lowest CPU
//     priority (nice 19), so they take only the CPU the ALONE file leaves
//     idle (most of it: those files wait on real time) and never delay it;
//   - then every other file (and any of those not yet run), three at a
//     time, each file's output printed whole as it ends so
//     files do not interleave. Most of an integration file's time is spent
//     waiting on real time (a player playing N seconds), not computing: over
//     a whole run two at a time kept this two-core machine about a quarter
//     busy, so three side by side cost each other little (a run at three
//     passed whole beside four other engineers' simulations, load average
//     7-10). TEST_CONCURRENCY overrides it.
// Every test has a timeout (--test-timeout), and every file a wall-clock
// bound after which its whole process group (ffmpeg and Chromium included) is
// killed: a hung hook or a leaked handle fails that file, it does not hold CI.
// Node 20's --test expands no globs, so the files are listed here.
// The last lines are the totals in the test runner's own format (ℹ tests,
// ℹ pass, ℹ fail...), summed over files, which CI reads; exit 1 on any failure.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The slowest single test today takes ~70 s on this machine (churn); this leaves room for a loaded CI box. */
const TEST_TIMEOUT_MS = 180_000;
/** A file's whole run, hooks included; the slowest file takes ~70 s. */
const FILE_TIMEOUT_MS = { unit: 120_000, other: 300_000 };
// TEST_FILE_TIMEOUT_S shortens both, to see the bound work without waiting minutes.
if (process.env.TEST_FILE_TIMEOUT_S) FILE_TIMEOUT_MS.unit = FILE_TIMEOUT_MS.other = Number(process.env.TEST_FILE_TIMEOUT_S) * 1000;
const CONCURRENCY = Number(process.env.TEST_CONCURRENCY) || 3;
/**
 * Files that assert playback continuity over a swarm of processes, or a flat
 * memory line, in real time, with little margin: another file's ffmpeg and
 * peers on the same two cores would blur what they measure. A file at nice
 * 19 does not: it gets the CPU only while their processes wait (churn beside
 * fuzz, sim-world and p2p-live-command so: 50/50 segments on time after the
 * kill for every survivor, the dead dropped in 84 ms).
 */
const ALONE = new Set(['churn', 'swarm', 'hostile', 'soak', 'tracker-replicas'].map((name) => join('test', 'integration', `${name}.test.ts`)));
/**
 * Integration files that assert no speed and bound every wait generously
 * (seconds where it takes a fraction): waiting for the CPU at nice 19 delays
 * them without changing what they assert. sim-cli's simulator runs on a
 * virtual clock; pack is mostly npm and esbuild; tracker-bench says "it
 * asserts no speed"; origin-process, tls and channels check exits, output,
 * joins and bytes; ladder and low-latency-origin read durations and keyframe
 * times from the media, not the clock. Not here: files that judge playback
 * on time, latency, pacing, backoff or caching by the clock.
 */
const BACKGROUND = new Set(['sim-cli', 'pack', 'tracker-bench', 'origin-process', 'tls', 'ladder', 'channels', 'channels-replicas', 'low-latency-origin'].map((name) => join('test', 'integration', `${name}.test.ts`)));
const COUNTS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo'];
/**
 * Seconds the slowest of the files run at nice 19 take on this 2-core machine
 * (a clean-clone run, rounded), so that their lane starts the longest first
 * and what is left of it when the ALONE files end is short files, which fill
 * the shared slots' gaps at the end. A file not listed counts as short.
 */
const KNOWN_SECONDS = {
  'unit/fuzz': 38, 'integration/origin-process': 26, 'integration/sim-cli': 24, 'integration/tracker-bench': 23, 'integration/pack': 21,
  'unit/sim-world': 16, 'integration/tls': 15, 'integration/ladder': 13, 'unit/p2p-live-command': 12, 'integration/channels-replicas': 11,
  'integration/channels': 11, 'integration/low-latency-origin': 10, 'unit/compose': 8,
};
function estimatedSeconds(file) {
  return KNOWN_SECONDS[file.replace(/\\/g, '/').replace(/^test\//, '').replace(/\.test\.ts$/, '')] ?? 1;
}

function list(dir) {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => join(dir, f));
}

const isUnit = (f) => /(^|[\\/])test[\\/]unit[\\/]/.test(f);

/**
 * Runs one file; resolves with its counts (parsed from the spec reporter's summary) and whether it ended by itself.
 * `idle`: at nice 19, through nice(1) so that every thread and child of the file inherits it.
 */
function runFile(file, { stream, idle = false }) {
  return new Promise((resolve) => {
    const started = Date.now();
    const node = [process.execPath, '--import', 'tsx', '--test', '--test-concurrency=1', `--test-timeout=${TEST_TIMEOUT_MS}`, '--test-reporter=spec', file];
    const [command, ...args] = idle ? ['nice', '-n', '19', ...node] : node;
    const child = spawn(
      command,
      args,
      // A group of its own, so a timeout can kill everything the file started.
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    running.add(child.pid);
    let out = '';
    const take = (sink) => (d) => {
      out += d;
      if (stream) sink.write(d);
    };
    child.stdout.on('data', take(process.stdout));
    child.stderr.on('data', take(process.stderr));
    // At nice 19 a file may wait long for the CPU beside a busy neighbour: that is not a hang, so it gets the longer bound.
    const limit = isUnit(file) && !idle ? FILE_TIMEOUT_MS.unit : FILE_TIMEOUT_MS.other;
    let timedOut = false;
    const killer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, limit);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      running.delete(child.pid);
      // Whatever the file left behind (a child that ignored SIGTERM) goes with it.
      killGroup(child.pid);
      // The last match: the summary comes last, after anything a test printed.
      const counts = Object.fromEntries(COUNTS.map((k) => [k, Number([...out.matchAll(new RegExp(`^ℹ ${k} (\\d+)$`, 'gm'))].at(-1)?.[1] ?? 0)]));
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      let note = '';
      if (timedOut) note = `${file}: killed after ${limit / 1000} s (the file's bound)`;
      else if (code !== 0 && counts.fail === 0) note = `${file}: exited with ${code ?? signal} and no failed test`;
      if (note) {
        // A file that did not finish, or failed outside any test, counts as one failed test.
        counts.tests += 1;
        counts.fail += 1;
      }
      resolve({ file, out, counts, seconds, note });
    });
  });
}

function killGroup(pid) {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

const only = process.argv.slice(2);
const files = only.length > 0 ? only : [...list('test/unit'), ...list('test/integration'), ...list('test/e2e')];
const alone = files.filter((f) => ALONE.has(f));
// Longest first (a stable sort: equal estimates keep their order).
const longestFirst = (list) => list.sort((a, b) => estimatedSeconds(b) - estimatedSeconds(a));
// The unit and BACKGROUND files beside the ALONE ones, when there are ALONE files to run.
const background = alone.length > 0 ? longestFirst(files.filter((f) => isUnit(f) || BACKGROUND.has(f))) : [];
// The shared files in directory order, not longest first: that starts the heaviest (player, restart, flood) side by
// side, and restart lost its margins so twice on the loaded shared machine; in this order the run was already balanced.
const shared = files.filter((f) => !ALONE.has(f) && !background.includes(f));
const results = [];
const wallStart = Date.now();
/** Process groups of the files running now. */
const running = new Set();

// Ctrl-C or CI cancelling the job: take the running files' groups down too.
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const pid of running) killGroup(pid);
    process.exit(130);
  });
}
/** Files run beside the ALONE ones, printed whole between two ALONE files so as not to cut into one's stream. */
const besideAlone = [];
const printBesideAlone = () => {
  for (const r of besideAlone.splice(0)) process.stdout.write(r.out);
};
let aloneDone = false;
// One at a time: with two, both cores busy at nice 19, churn lost its margin once (on the shared machine, at load 12).
const idleLane = (async () => {
  while (!aloneDone && background.length > 0) {
    const r = await runFile(background.shift(), { stream: false, idle: true });
    besideAlone.push(r);
    results.push(r);
  }
})();
for (const file of alone) {
  results.push(await runFile(file, { stream: true }));
  printBesideAlone();
}
aloneDone = true;
// The file still running at nice 19 finishes so, beside the shared files; those not started join their queue.
const queue = [...shared, ...background.splice(0)];
const idleLaneDone = idleLane.then(printBesideAlone);
await Promise.all(
  Array.from({ length: Math.min(CONCURRENCY, queue.length) }, async () => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      const r = await runFile(file, { stream: false });
      process.stdout.write(r.out);
      results.push(r);
    }
  }),
);
await idleLaneDone;

const total = Object.fromEntries(COUNTS.map((k) => [k, results.reduce((n, r) => n + r.counts[k], 0)]));
process.stdout.write('\nper file (s): ' + results.map((r) => `${r.file.replace(/^test\//, '')} ${r.seconds}`).join(', ') + '\n');
for (const r of results) if (r.note) process.stdout.write(`✖ ${r.note}\n`);
for (const r of results) if (r.counts.fail > 0 && !r.note) process.stdout.write(`✖ ${r.file}: ${r.counts.fail} failed\n`);
for (const k of COUNTS) process.stdout.write(`ℹ ${k} ${total[k]}\n`);
process.stdout.write(`ℹ duration_ms ${Date.now() - wallStart}\n`);
process.exit(total.fail > 0 || total.cancelled > 0 ? 1 : 0);
