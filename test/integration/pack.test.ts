import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Started, startScript, stopProcess, waitForOutput } from '../../harness/process.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * The package as a user gets it, without a clone: `npm pack` (whose prepack
 * bundles the programs), run in a copy of this checkout so its builds write
 * nothing here and race no other test over dist/; the tarball installed into
 * an empty folder with no registry (`--offline`, its own npm cache); then the
 * installed `p2p-live`: its help, a short origin + peer run on ffmpeg's test
 * pattern from there, and `--open` with $BROWSER set to a script that
 * records the URL instead of opening anything.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; bin: Record<string, string> };
const run = promisify(execFile);
const LIGHT = ['--width', '320', '--height', '180', '--fps', '15', '--video-kbps', '300'];

/** This environment minus the npm_* variables of an `npm test` around us, so the npm we run reads only its own flags. */
function npmEnv(cache: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
  return { ...env, npm_config_cache: cache, npm_config_update_notifier: 'false', npm_config_audit: 'false', npm_config_fund: 'false' };
}

/** Files of this checkout that git tracks or would track (new, not ignored): what a clone has. */
async function copyCheckout(to: string): Promise<void> {
  const { stdout } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, maxBuffer: 16 * 2 ** 20 });
  const files = stdout.split('\0').filter((f) => f !== '' && f.split('/')[0] !== 'node_modules' && existsSync(join(ROOT, f)));
  assert.ok(files.includes('bin/build.ts'), 'git ls-files did not list the sources');
  for (const f of files) {
    await mkdir(dirname(join(to, f)), { recursive: true });
    await cp(join(ROOT, f), join(to, f), { preserveTimestamps: true });
  }
  // The dev dependencies the build needs (esbuild, tsx, the bundled packages): this checkout's, unchanged.
  await symlink(realpathSync(join(ROOT, 'node_modules')), join(to, 'node_modules'));
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

describe('the packed package, installed with no registry', () => {
  let tmp = '';
  let app = '';
  let bin = '';
  let out = '';
  let tarball = '';
  const started: Started[] = [];

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'p2p-live-pack-'));
    const src = join(tmp, 'src');
    out = join(tmp, 'out');
    app = join(tmp, 'app');
    await Promise.all([mkdir(src), mkdir(out), mkdir(app)]);
    await copyCheckout(src);
    const env = npmEnv(join(tmp, 'npm-cache'));
    const packed = await run('npm', ['pack', '--pack-destination', out], { cwd: src, env, timeout: 150_000, maxBuffer: 16 * 2 ** 20 });
    tarball = `${pkg.name}-${pkg.version}.tgz`;
    assert.equal(packed.stdout.trim().split('\n').at(-1), tarball);
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
    await run('npm', ['install', '--offline', join(out, tarball)], { cwd: app, env, timeout: 60_000 });
    bin = join(app, 'node_modules', '.bin', 'p2p-live');
  });

  after(async () => {
    await Promise.all(started.map(stopProcess));
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  test('the repository declares no runtime dependencies: they are bundled, so the tarball needs no registry', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
    for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies', 'bundleDependencies', 'bundledDependencies']) {
      assert.equal(manifest[field], undefined, `package.json has ${field}: list npm packages under devDependencies; bin/build.ts bundles what the programs import`);
    }
    assert.deepEqual(Object.keys(pkg.bin), ['p2p-live']);
  });

  test('it installs alone, as plain JavaScript with the pages and files the programs read', () => {
    assert.deepEqual(readdirSync(join(app, 'node_modules')).filter((f) => !f.startsWith('.')), [pkg.name], 'installed packages besides p2p-live');
    const installed = join(app, 'node_modules', pkg.name);
    const files = filesUnder(installed);
    assert.deepEqual(files.filter((f) => /\.(ts|tsx|cts|mts)$/.test(f)), [], 'TypeScript in the package');
    for (const f of ['dist/pkg/bin/p2p-live.mjs', 'dist/pkg/bin/origin.mjs', 'dist/pkg/bin/peer.mjs', 'dist/pkg/bin/demo.mjs', 'dist/pkg/origin/ffmpeg-guard.sh', 'dist/pkg/origin/dashboard/dist/index.html', 'dist/pkg/player/dist/index.html', 'dist/pkg/player/dist/player.js', 'dist/pkg/THIRD-PARTY-NOTICES.txt']) {
      assert.ok(files.includes(f), `${f} is not in the package`);
    }
  });

  test('p2p-live --help lists the commands; an unknown one fails in one line', async () => {
    const { stdout } = await run(bin, ['--help'], { cwd: app });
    for (const c of ['origin', 'peer', 'tracker', 'demo']) assert.match(stdout, new RegExp(`^  ${c} `, 'm'));
    const bad = await run(bin, ['nonsense'], { cwd: app }).then(
      () => assert.fail('an unknown command exited 0'),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^p2p-live: unknown command "nonsense"; commands: origin, peer, tracker, demo/);
  });

  test('npx runs it straight from the tarball, as README.md gives it', async () => {
    const { stdout } = await run('npx', ['--yes', '--offline', `./${tarball}`, 'peer', '--help'], { cwd: out, env: npmEnv(join(tmp, 'npx-cache')), timeout: 60_000 });
    assert.match(stdout, /^Usage: p2p-live peer \[flags\]/);
    assert.match(stdout, /^ {2}--open\b/m);
  });

  test('each command takes --help and names itself as p2p-live <command>', async () => {
    const { stdout: peer } = await run(bin, ['peer', '--help'], { cwd: app });
    assert.match(peer, /^Usage: p2p-live peer \[flags\]/);
    for (const flag of ['--tracker', '--port', '--open', '--upload-kbps']) assert.match(peer, new RegExp(`^  ${flag}\\b`, 'm'));
    const { stdout: origin } = await run(bin, ['origin', '--help'], { cwd: app });
    assert.match(origin, /^Usage: p2p-live origin \[flags\]/);
    assert.match(origin, /^ {2}--segment-seconds\b/m);
    const { stdout: demo } = await run(bin, ['demo', '--help'], { cwd: app });
    assert.match(demo, /^Usage: p2p-live demo \[flags\]/);
    assert.match(demo, /^ {2}--peers\b/m);
    // The tracker program is wired in once its module exists; until then the build says so.
    if (existsSync(join(ROOT, 'origin', 'tracker-main.ts'))) {
      const { stdout: tracker } = await run(bin, ['tracker', '--help'], { cwd: app });
      assert.match(tracker, /--port/);
    } else {
      const e = await run(bin, ['tracker', '--help'], { cwd: app }).then(
        () => assert.fail('tracker ran without its module'),
        (err: { code: number; stderr: string }) => err,
      );
      assert.equal(e.code, 1);
      assert.match(e.stderr, /^p2p-live tracker: not available in this build \(no origin\/tracker-main\.ts\)$/m);
    }
  });

  test('origin and a peer run from the installed package; --open hands the player URL to $BROWSER', async () => {
    const script = realpathSync(bin);
    const origin = startScript(script, ['origin', '--host', '127.0.0.1', '--port', '0', ...LIGHT], { cwd: app });
    started.push(origin);
    const [, playlist] = await waitForOutput(origin, /playlist\s+(http\S+)/, 30_000);
    const originBase = new URL(playlist as string).origin;
    // The dashboard page the package ships (answered to loopback without a token).
    const dashboard = await fetch(`${originBase}/dashboard`);
    assert.equal(dashboard.status, 200);
    assert.match(await dashboard.text(), /dashboard\.js/);

    const opened = join(tmp, 'opened.txt');
    const recorder = join(tmp, 'browser.sh');
    await writeFile(recorder, `#!/bin/sh\nprintf '%s\\n' "$1" >> '${opened}'\n`);
    await chmod(recorder, 0o755);
    const tracker = `${originBase.replace(/^http/, 'ws')}/tracker`;
    const peer = startScript(script, ['peer', '--tracker', tracker, '--port', '0', '--open'], { cwd: app, env: { BROWSER: recorder } });
    started.push(peer);
    const [, player] = await waitForOutput(peer, /player\s+(http\S+\/)$/m, 20_000);
    const url = player as string;
    const recorded = await waitFor('the browser command to be run', async () => (existsSync(opened) ? await readFile(opened, 'utf8') : undefined), 10_000);
    assert.equal(recorded, `${url}\n`);

    // The page the browser was sent to, with the hls.js bundle beside it.
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /player\.js/);
    assert.equal((await fetch(`${url}player.js`)).status, 200);

    // A few whole segments through the peer's own HLS, as a player gets them.
    const segments = await waitFor(
      'the peer to list 3 segments',
      async () => {
        const res = await fetch(`${url}live.m3u8`);
        if (res.status !== 200) return undefined;
        const uris = (await res.text()).split('\n').filter((l) => l.startsWith('live/seg-'));
        return uris.length >= 3 ? uris : undefined;
      },
      40_000,
      250,
    );
    const body = new Uint8Array(await (await fetch(`${url}${segments.at(-1)}`)).arrayBuffer());
    assert.ok(body.length > 1000, `segment of ${body.length} bytes`);
    assert.equal(body[0], 0x47, 'not an MPEG-TS segment');
    const metrics = await (await fetch(`${url}metrics`)).text();
    const received = ['peer_origin_bytes_total', 'peer_p2p_bytes_total'].reduce((n, m) => n + Number(new RegExp(`^${m} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0), 0);
    assert.ok(received >= body.length, `the peer counts ${received} segment bytes received`);
    const health = (await (await fetch(`${url}healthz`)).json()) as { trackerConnected: boolean; segments: number };
    assert.equal(health.trackerConnected, true);
    assert.ok(health.segments >= 3);

    // A browser that cannot be opened is a warning; the peer runs on.
    const blind = startScript(script, ['peer', '--tracker', tracker, '--port', '0', '--open'], { cwd: app, env: { BROWSER: join(tmp, 'no-such-browser') } });
    started.push(blind);
    const [, blindUrl] = await waitForOutput(blind, /player\s+(http\S+\/)$/m, 20_000);
    await waitForOutput(blind, /could not open a browser/, 10_000, 'stderr');
    assert.equal((await fetch(`${blindUrl as string}healthz`)).status, 200);
    assert.equal(blind.child.exitCode, null);

    for (const p of [blind, peer, origin]) {
      await stopProcess(p);
      assert.equal(p.child.exitCode, 0, `exit of ${p.stderr().slice(-400)}`);
    }
  });
});
