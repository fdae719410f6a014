/**
 * Bundles the origin dashboard page into origin/dashboard/dist/ (git-ignored):
 * index.html, style.css and dashboard.js (no library: its charts are SVG drawn
 * by chart.ts), so the origin serves everything the page needs and nothing
 * comes from elsewhere. Run by `npm run build:dashboard`, and with the player
 * by `npm run build:player` (so npm install / start / test build it too).
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { DASHBOARD_DIST_DIR } from './dist-dir.ts';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

export async function buildDashboard(outDir = DASHBOARD_DIST_DIR): Promise<void> {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [here('./main.ts')],
    outfile: join(outDir, 'dashboard.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    sourcemap: 'linked',
    banner: { js: '/*! p2p-live origin dashboard. */' },
    logLevel: 'warning',
  });
  await Promise.all([copyFile(here('./index.html'), join(outDir, 'index.html')), copyFile(here('./style.css'), join(outDir, 'style.css'))]);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = performance.now();
  await buildDashboard();
  process.stdout.write(`dashboard built into ${DASHBOARD_DIST_DIR} in ${Math.round(performance.now() - t0)} ms\n`);
}
