import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { TrackerBenchFigures } from '../../scripts/tracker-bench/figures.ts';

/**
 * `npm run bench:tracker` at a tiny size, as a user runs it, so it does not
 * rot: every connection joins, every figure comes out finite, and every
 * process it started (origin, ffmpeg, load workers) is gone when it ends,
 * also when it is interrupted. It asserts no speed.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Started with a mark in its environment, which every process it starts inherits. */
function bench(args: string[], mark: string): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/tracker-bench/main.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, TRACKER_BENCH_TEST_MARK: mark },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d));
  child.stderr?.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Processes still running with `mark` in their environment (/proc, Linux). */
async function marked(mark: string): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d));
  const found: number[] = [];
  for (const pid of pids) {
    const env = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
    if (env.includes(`TRACKER_BENCH_TEST_MARK=${mark}`)) found.push(Number(pid));
  }
  return found;
}

/** Children can take a moment to see their parent go; none may outlive this. */
async function noneLeft(mark: string): Promise<number[]> {
  for (let i = 0; i < 50; i++) {
    const left = await marked(mark);
    if (left.length === 0) return [];
    await new Promise((r) => setTimeout(r, 200));
  }
  return marked(mark);
}

describe('npm run bench:tracker, tiny', () => {
  let dir = '';
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('50 connections, 2 segments: all join, every figure is finite, the table is printed, nothing is left running', { timeout: 120_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'tracker-bench-'));
    const json = join(dir, 'figures.json');
    const mark = randomBytes(8).toString('hex');
    const run = bench(['--connections', '50', '--segments', '2', '--workers', '2', '--json', json], mark);
    const code = await run.exited;
    assert.equal(code, 0, run.stderr());
    const f = (JSON.parse(await readFile(json, 'utf8')) as { figures: TrackerBenchFigures }).figures;
    assert.equal(f.connections, 50);
    assert.equal(f.joined, 50, 'every connection joined');
    assert.equal(f.lost, 0);
    assert.equal(f.workers, 2);
    assert.ok(f.segments >= 2, `${f.segments} segments measured`);
    assert.equal(f.missingReceipts, 0, 'every connection received every measured announcement');
    for (const key of ['lastReceiptMsP50', 'lastReceiptMsP99', 'lastReceiptMsMax', 'receiptMsP50', 'receiptMsP99'] as const) {
      assert.ok(Number.isFinite(f[key]) && f[key] > 0, `${key} = ${f[key]}`);
    }
    assert.ok(f.receiptMsP50 <= f.lastReceiptMsMax, 'no connection heard of a segment after the last one did');
    for (const key of ['trackerCpuPct', 'joinCpuPct', 'rssKbPerConnection', 'heapKbPerConnection', 'workerCpuPct', 'joinSeconds'] as const) {
      assert.ok(Number.isFinite(f[key]), `${key} = ${f[key]}`);
    }
    assert.ok((f.trackerCpuPct as number) > 0, 'the tracker did some work');
    assert.match(run.stdout(), /connections joined\s+50 \/ 50/);
    assert.match(run.stdout(), /publish to last receipt p99, ms\s+[\d.]+\s+< 500/);
    assert.deepEqual(await noneLeft(mark), [], 'origin, ffmpeg and workers all ended');
  });

  test('interrupted while measuring: it says so, exits non-zero, and leaves nothing running', { timeout: 120_000 }, async () => {
    const mark = randomBytes(8).toString('hex');
    const run = bench(['--connections', '20', '--seconds', '600', '--workers', '2'], mark);
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (/measuring/.test(run.stderr())) resolve();
        else if (run.child.exitCode !== null) reject(new Error(`ended before measuring: ${run.stderr()}`));
        else setTimeout(check, 100);
      };
      check();
    });
    assert.ok((await marked(mark)).length >= 5, 'the benchmark, its origin, ffmpeg and the two workers were running');
    run.child.kill('SIGINT');
    const code = await run.exited;
    assert.equal(code, 1);
    assert.match(run.stderr(), /interrupted \(SIGINT\)/);
    assert.deepEqual(await noneLeft(mark), [], 'origin, ffmpeg and workers all ended');
  });
});
