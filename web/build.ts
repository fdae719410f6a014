/**
 * Bundles one browser page into its dist directory: its script, its
 * stylesheet with the shared theme inlined, index.html and any files served
 * beside them, so the page loads nothing from anywhere else (its
 * Content-Security-Policy allows only 'self').
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { build } from 'esbuild';

export interface Page {
  /** Holds index.html, style.css and main.ts. */
  srcDir: string;
  outDir: string;
  /** Name of the bundled script, as index.html loads it. */
  script: string;
  /** Kept at the top of the minified script: what it is and the licences of what it bundles. */
  banner: string;
  /** Copied beside the page as they are. */
  extraFiles?: readonly string[];
}

export async function buildPage(page: Page): Promise<void> {
  await mkdir(page.outDir, { recursive: true });
  await Promise.all([
    build({
      entryPoints: [join(page.srcDir, 'main.ts')],
      outfile: join(page.outDir, page.script),
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: 'es2020',
      minify: true,
      sourcemap: 'linked',
      banner: { js: page.banner },
      logLevel: 'warning',
    }),
    // Resolves the page's @import of web/theme.css, so the page still loads one stylesheet.
    build({ entryPoints: [join(page.srcDir, 'style.css')], outfile: join(page.outDir, 'style.css'), bundle: true, logLevel: 'warning' }),
    copyFile(join(page.srcDir, 'index.html'), join(page.outDir, 'index.html')),
    ...(page.extraFiles ?? []).map((f) => copyFile(f, join(page.outDir, basename(f)))),
  ]);
}
