/**
 * Bundles the simulator into dist/sim.mjs (git-ignored), which the sweep
 * runs each size in: plain JavaScript on node runs the simulated swarm
 * faster than through tsx's loader, which wraps every function it
 * compiles to keep its name.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const SIM_BUNDLE = fileURLToPath(new URL('../../dist/sim.mjs', import.meta.url));

export async function buildSim(): Promise<void> {
  await build({
    entryPoints: [fileURLToPath(new URL('./main.ts', import.meta.url))],
    outfile: SIM_BUNDLE,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
}
