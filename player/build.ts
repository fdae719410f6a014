/**
 * Bundles the player page into player/dist/ (git-ignored): index.html,
 * style.css, player.js (hls.js included) and hls.js's worker, so a peer node
 * serves everything the page needs and nothing comes from elsewhere.
 * Run by `npm run build:player`, and by npm install / start / test.
 */
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { DASHBOARD_DIST_DIR } from '../origin/dashboard/dist-dir.ts';
import { buildDashboard } from '../origin/dashboard/build.ts';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

export const PLAYER_DIST_DIR = here('./dist/');

export async function buildPlayer(outDir = PLAYER_DIST_DIR): Promise<void> {
  const require = createRequire(import.meta.url);
  const hlsPackage: unknown = JSON.parse(await readFile(require.resolve('hls.js/package.json'), 'utf8'));
  const hlsVersion = typeof hlsPackage === 'object' && hlsPackage !== null && 'version' in hlsPackage ? String(hlsPackage.version) : '?';
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [here('./main.ts')],
    outfile: join(outDir, 'player.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    sourcemap: 'linked',
    banner: { js: `/*! p2p-live player. Includes hls.js ${hlsVersion}, Apache License 2.0. */` },
    logLevel: 'warning',
  });
  const worker = require.resolve('hls.js/dist/hls.worker.js');
  await Promise.all([
    copyFile(here('./index.html'), join(outDir, 'index.html')),
    copyFile(here('./style.css'), join(outDir, 'style.css')),
    copyFile(worker, join(outDir, 'hls.worker.js')),
  ]);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = performance.now();
  await buildPlayer();
  process.stdout.write(`player built into ${PLAYER_DIST_DIR} in ${Math.round(performance.now() - t0)} ms\n`);
  // The origin's dashboard is the other page: built here too, so every script that builds the player builds it.
  await buildDashboard();
  process.stdout.write(`dashboard built into ${DASHBOARD_DIST_DIR}\n`);
}
