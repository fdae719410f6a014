/**
 * Builds the installable package into dist/pkg/ (git-ignored), which is what
 * package.json's `files` ships; `npm pack` runs this as its prepack script.
 *
 * The p2p-live command and each of its programs are bundled by esbuild to
 * plain JavaScript with every npm dependency inside (shared code in common
 * chunks, so a peer process loads none of the origin's code): the tarball
 * has no dependencies, and installs with no registry at all.
 *
 * dist/pkg/ mirrors the repository's layout: the bundles in bin/, and the
 * files the programs read at run time where their sources expect them
 * (origin/ffmpeg-guard.sh, origin/dashboard/dist/, player/dist/). A module
 * that names a file relative to itself (`new URL('./x', import.meta.url)`)
 * then finds it from the bundle too: in each bundled module of this
 * repository, `import.meta.url` is rewritten to where that module's source
 * would sit in the mirror.
 */
import { chmod, copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Metafile, type Plugin, build } from 'esbuild';
import { buildDashboard } from '../origin/dashboard/build.ts';
import { buildPlayer } from '../player/build.ts';
import { COMMANDS } from './commands.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const PACKAGE_DIR = join(ROOT, 'dist', 'pkg');
const BIN_DIR = join(PACKAGE_DIR, 'bin');

/** Each of this repository's modules sees, as its import.meta.url, its own place in the mirror. */
function mirroredImportMeta(): Plugin {
  return {
    name: 'mirrored-import-meta',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, async (args) => {
        const fromRoot = relative(ROOT, args.path);
        if (fromRoot.startsWith('..') || fromRoot.split(sep).includes('node_modules')) return undefined;
        const text = await readFile(args.path, 'utf8');
        if (!text.includes('import.meta.url')) return { contents: text, loader: 'ts' };
        const fromBundle = relative(BIN_DIR, join(PACKAGE_DIR, fromRoot)).split(sep).join('/');
        return { contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(fromBundle)}, import.meta.url).href`), loader: 'ts' };
      });
    },
  };
}

/** The licences of the packages bundled into the programs, as their MIT/ISC/BSD terms ask when copies are shipped. */
async function thirdPartyNotices(metafile: Metafile): Promise<string> {
  const packages = new Set<string>();
  for (const input of Object.keys(metafile.inputs)) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m?.[1]) packages.add(m[1]);
  }
  const sections: string[] = [];
  for (const dir of [...packages].sort()) {
    const pkg = JSON.parse(await readFile(join(ROOT, dir, 'package.json'), 'utf8')) as { name: string; version: string; license?: string };
    const file = ['LICENSE', 'LICENSE.md', 'LICENSE.txt', 'license', 'LICENCE', 'License'].map((f) => join(ROOT, dir, f)).find(existsSync);
    const text = file ? await readFile(file, 'utf8') : `(no licence file; package.json says ${pkg.license ?? 'nothing'})`;
    sections.push(`${pkg.name} ${pkg.version} (${pkg.license ?? '?'})\n\n${text.trim()}\n`);
  }
  return `Packages bundled into bin/*.mjs:\n\n${sections.join(`\n${'-'.repeat(72)}\n\n`)}`;
}

export async function buildPackage(): Promise<{ built: string[]; missing: string[] }> {
  await rm(PACKAGE_DIR, { recursive: true, force: true });
  const present = COMMANDS.filter((c) => existsSync(join(ROOT, c.entry)));
  const missing = COMMANDS.filter((c) => !present.includes(c)).map((c) => c.name);
  const result = await build({
    entryPoints: [{ in: join(ROOT, 'bin', 'p2p-live.ts'), out: 'p2p-live' }, ...present.map((c) => ({ in: join(ROOT, c.entry), out: c.name }))],
    outdir: BIN_DIR,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    chunkNames: 'chunk-[hash]',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    define: { P2P_LIVE_BUILT: JSON.stringify(present.map((c) => c.name)) },
    // ws loads these native speed-ups when installed and does without them otherwise.
    external: ['bufferutil', 'utf-8-validate'],
    // The CommonJS packages bundled (express, pino...) call require() for Node's own modules, and fluent-ffmpeg
    // reads __dirname for every command. The paths they build from it (fluent-ffmpeg's presets, pino's transport
    // workers) name files the package does not ship: the programs use neither feature.
    banner: {
      js: [
        "import { createRequire as __p2pLiveCreateRequire } from 'node:module';",
        "const require = __p2pLiveCreateRequire(import.meta.url);",
        "import { fileURLToPath as __p2pLiveFileURLToPath } from 'node:url';",
        "const __dirname = __p2pLiveFileURLToPath(new URL('.', import.meta.url));",
      ].join(' '),
    },
    plugins: [mirroredImportMeta()],
    metafile: true,
    logLevel: 'warning',
  });
  await mkdir(join(PACKAGE_DIR, 'origin'), { recursive: true });
  const guard = join(PACKAGE_DIR, 'origin', 'ffmpeg-guard.sh');
  await copyFile(join(ROOT, 'origin', 'ffmpeg-guard.sh'), guard);
  await chmod(guard, 0o755);
  await Promise.all([
    buildDashboard(join(PACKAGE_DIR, 'origin', 'dashboard', 'dist')),
    buildPlayer(join(PACKAGE_DIR, 'player', 'dist')),
    writeFile(join(PACKAGE_DIR, 'THIRD-PARTY-NOTICES.txt'), await thirdPartyNotices(result.metafile)),
  ]);
  return { built: present.map((c) => c.name), missing };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const t0 = performance.now();
  const { built, missing } = await buildPackage();
  process.stdout.write(
    `package built into ${relative(process.cwd(), PACKAGE_DIR) || '.'} in ${Math.round(performance.now() - t0)} ms: p2p-live ${built.join(', ')}` +
      (missing.length > 0 ? ` (not in this build, no entry module: ${missing.join(', ')})` : '') +
      '\n',
  );
}
