import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { PLAYER_DIR } from '../../peer-node/player-dir.ts';
import type { PlayerDebugStats } from '../../player/main.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Builds player/dist unless it is there and newer than every source of the page (npm test's pretest builds it too). */
export async function ensurePlayerBuilt(): Promise<void> {
  const built = join(PLAYER_DIR, 'player.js');
  if (existsSync(join(PLAYER_DIR, 'index.html')) && existsSync(built)) {
    const sources = await Promise.all(
      ['player', 'web', 'shared'].map(async (dir) => (await readdir(join(ROOT, dir))).filter((f) => /\.(ts|html|css)$/.test(f)).map((f) => join(ROOT, dir, f))),
    );
    const newest = Math.max(...sources.flat().map((f) => statSync(f).mtimeMs));
    if (statSync(built).mtimeMs >= newest) return;
  }
  await promisify(execFile)(process.execPath, ['--import', 'tsx', 'player/build.ts'], { cwd: ROOT, timeout: 60_000 });
}

/** The page's `window.__player.stats()`, or null before the page set it up. */
export function playerStats(page: Page): Promise<PlayerDebugStats | null> {
  return page.evaluate(() => window.__player?.stats() ?? null);
}
