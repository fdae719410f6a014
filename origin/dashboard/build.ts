/**
 * Bundles the origin dashboard page into origin/dashboard/dist/ (git-ignored):
 * index.html, style.css and dashboard.js (no library: its charts are SVG drawn
 * by chart.ts), so the origin serves everything the page needs. Run by
 * `npm run build:dashboard`, and by npm install / start / test.
 */
import { fileURLToPath } from 'node:url';
import { buildPage } from '../../web/build.ts';
import { DASHBOARD_DIST_DIR } from './dist-dir.ts';

export async function buildDashboard(outDir = DASHBOARD_DIST_DIR): Promise<void> {
  await buildPage({
    srcDir: fileURLToPath(new URL('.', import.meta.url)),
    outDir,
    script: 'dashboard.js',
    banner: '/*! p2p-live origin dashboard. */',
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = performance.now();
  await buildDashboard();
  process.stdout.write(`dashboard built into ${DASHBOARD_DIST_DIR} in ${Math.round(performance.now() - t0)} ms\n`);
}
