/**
 * Bundles the player page into player/dist/ (git-ignored): index.html,
 * style.css, player.js (hls.js included) and hls.js's worker, so a peer node
 * serves everything the page needs. Run by `npm run build:player`, and by
 * npm install / start / test.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { buildPage } from '../web/build.ts';

export const PLAYER_DIST_DIR = fileURLToPath(new URL('./dist/', import.meta.url));

export async function buildPlayer(outDir = PLAYER_DIST_DIR): Promise<void> {
  const require = createRequire(import.meta.url);
  const hlsPackage: unknown = JSON.parse(await readFile(require.resolve('hls.js/package.json'), 'utf8'));
  const hlsVersion = typeof hlsPackage === 'object' && hlsPackage !== null && 'version' in hlsPackage ? String(hlsPackage.version) : '?';
  await buildPage({
    srcDir: fileURLToPath(new URL('.', import.meta.url)),
    outDir,
    script: 'player.js',
    banner: `/*! p2p-live player. Includes hls.js ${hlsVersion}, Apache License 2.0. */`,
    extraFiles: [require.resolve('hls.js/dist/hls.worker.js')],
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = performance.now();
  await buildPlayer();
  process.stdout.write(`player built into ${PLAYER_DIST_DIR} in ${Math.round(performance.now() - t0)} ms\n`);
}
