/**
 * (harness/: shared by tests and scripts, see process.ts.)
 * dist/peer.mjs, built when older than any source it bundles: `npm test`
 * and `npm run peer` build it first, but a single test file run by hand, the
 * soak or the benchmark may find it stale, and would then measure old code.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PEER_BUNDLE, buildPeer } from '../peer-node/build.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

export { PEER_BUNDLE };

function newest(dir: string): number {
  return readdirSync(join(ROOT, dir), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts'))
    .reduce((m, f) => Math.max(m, statSync(join(ROOT, dir, f)).mtimeMs), 0);
}

/** Builds dist/peer.mjs unless it is newer than every source under peer-node/ and shared/; returns its path. */
export async function ensurePeerBundle(): Promise<string> {
  const built = existsSync(PEER_BUNDLE) ? statSync(PEER_BUNDLE).mtimeMs : 0;
  if (built < Math.max(newest('peer-node'), newest('shared'))) await buildPeer();
  return PEER_BUNDLE;
}
