import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

/** `npm run sim` as a user runs it: the command, its flags, its files. */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function sim(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/sim/main.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run sim', () => {
  let dir = '';
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('a small sweep prints a row per size, and writes the SVG and the JSON', { timeout: 170_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'sim-cli-'));
    const svg = join(dir, 'sweep.svg');
    const json = join(dir, 'sweep.json');
    const r = await sim(['--sweep', '6,12', '--duration', '12', '--svg', svg, '--json', json]);
    assert.equal(r.code, 0, r.stderr);
    const rows = (JSON.parse(await readFile(json, 'utf8')) as { sweep: { peers: number; figures: { corruptPlayed: number; offload: number }; bounds: { offload: number } }[] }).sweep;
    assert.deepEqual(rows.map((row) => row.peers), [6, 12]);
    for (const row of rows) {
      assert.equal(row.figures.corruptPlayed, 0);
      assert.ok(row.figures.offload > 0 && row.figures.offload <= row.bounds.offload + 1e-9, `offload ${row.figures.offload} within its bound ${row.bounds.offload}`);
    }
    assert.match(r.stdout, /^\s+6\s+\d+\.\d\d %/m);
    assert.match(r.stdout, /^\s+12\s+\d+\.\d\d %/m);
    assert.match(await readFile(svg, 'utf8'), /^<svg[\s\S]*<\/svg>\s*$/);
  });

  test('the low-latency scenario plays closer to live than the 1 s segments\' hold-back of 3 s', { timeout: 120_000 }, async () => {
    dir ||= await mkdtemp(join(tmpdir(), 'sim-cli-'));
    const json = join(dir, 'low-latency.json');
    const r = await sim(['--scenario', 'low-latency', '--peers', '8', '--duration', '12', '--json', json]);
    assert.equal(r.code, 0, r.stderr);
    const figures = (JSON.parse(await readFile(json, 'utf8')) as { scenarios: Record<string, { behindLiveMsP50: number; corruptPlayed: number; offload: number }> }).scenarios;
    assert.deepEqual(Object.keys(figures).sort(), ['baseline-http', 'low-latency']);
    const ll = figures['low-latency'];
    assert.ok(ll);
    assert.equal(ll.corruptPlayed, 0);
    assert.ok(ll.offload > 0, `offload ${ll.offload}: P2P stays on`);
    assert.ok(ll.behindLiveMsP50 > 0 && ll.behindLiveMsP50 < 3000, `behind live ${ll.behindLiveMsP50} ms`);
    assert.match(r.stdout, /low-latency/);
  });

  test('a bad flag is one clear line and exit 2', async () => {
    const r = await sim(['--latency', 'forty']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^sim: --latency must be a range lo-hi in ms, got "forty" \(see --help\)\n$/);
    const upsideDown = await sim(['--latency', '40-10']);
    assert.equal(upsideDown.code, 2);
    assert.match(upsideDown.stderr, /range 40-10 is upside down/);
    const svgAlone = await sim(['--svg', 'x.svg']);
    assert.equal(svgAlone.code, 2);
    assert.match(svgAlone.stderr, /--svg draws a sweep: give --sweep too/);
  });
});
