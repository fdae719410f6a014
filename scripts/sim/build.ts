/**
 * Bundles the simulator into dist/sim.mjs (git-ignored), which every
 * simulated run happens in: plain JavaScript on node runs the simulated
 * swarm faster than through tsx's loader, which wraps every function it
 * compiles to keep its name.
 */
import { fileURLToPath } from 'node:url';
import { bundleForNode } from '../../peer-node/build.ts';

export const SIM_BUNDLE = fileURLToPath(new URL('../../dist/sim.mjs', import.meta.url));

export async function buildSim(): Promise<void> {
  await bundleForNode(fileURLToPath(new URL('./main.ts', import.meta.url)), SIM_BUNDLE);
}
