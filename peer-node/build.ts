/**
 * Bundles the peer node into dist/peer.mjs (git-ignored) so that `npm run
 * peer` runs plain JavaScript on node: tsx's loader runs in a thread of its
 * own and would add ~40 MB to every viewer's peer process. Its npm
 * dependencies are bundled too, as in the package (bin/build.ts). Run by
 * `npm run build:peer` and before `npm run peer`.
 */
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build } from 'esbuild';

export const PEER_BUNDLE = fileURLToPath(new URL('../dist/peer.mjs', import.meta.url));

export async function buildPeer(): Promise<void> {
  await bundleForNode(fileURLToPath(new URL('./main.ts', import.meta.url)), PEER_BUNDLE, {
    packages: undefined,
    // ws loads these native speed-ups when installed and does without them otherwise.
    external: ['bufferutil', 'utf-8-validate'],
    // The CommonJS packages bundled (express, pino...) call require() for Node's own modules.
    banner: { js: "import { createRequire as __peerCreateRequire } from 'node:module'; const require = __peerCreateRequire(import.meta.url);" },
  });
}

/** One ES module of plain JavaScript for Node 20 from a TypeScript entry; packages stay imports unless `more` says otherwise. */
export async function bundleForNode(entry: string, outfile: string, more: BuildOptions = {}): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
    ...more,
  });
}

// Named by its source path, not import.meta.url: bundled into another program (the simulator), this module is not its entry.
if (process.argv[1] === fileURLToPath(new URL('./build.ts', import.meta.url))) await buildPeer();
