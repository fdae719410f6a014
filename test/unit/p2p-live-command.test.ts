import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { COMMANDS } from '../../bin/commands.ts';

/**
 * The p2p-live command run from the sources (`node --import tsx bin/p2p-live.ts`),
 * where it loads each program's entry module by its path in bin/commands.ts.
 * The bundled command of the package is tested by test/integration/pack.test.ts.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);
const p2pLive = (...args: string[]) => run(process.execPath, ['--import', 'tsx', 'bin/p2p-live.ts', ...args], { cwd: ROOT, timeout: 60_000 });
const failure = (p: Promise<unknown>) =>
  p.then(
    () => assert.fail('exited 0'),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

describe('the p2p-live command, from the sources', () => {
  test('every command names an entry module in this repository, once; the tracker may be missing until it lands', () => {
    assert.deepEqual(
      COMMANDS.map((c) => c.name),
      ['origin', 'peer', 'tracker', 'demo'],
    );
    for (const c of COMMANDS) if (c.name !== 'tracker') assert.ok(existsSync(join(ROOT, c.entry)), `${c.name}: no ${c.entry}`);
  });

  test('--help lists the commands; none at all is a usage error', async () => {
    const { stdout } = await p2pLive('--help');
    for (const c of COMMANDS) assert.ok(stdout.includes(`  ${c.name} `) && stdout.includes(c.summary), `${c.name} not listed`);
    const none = await failure(p2pLive());
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^Usage: p2p-live <command>/);
  });

  test('a command gets the arguments after its name, as its npm script would', async () => {
    for (const c of COMMANDS.filter((c) => existsSync(join(ROOT, c.entry)))) {
      const { stdout } = await p2pLive(c.name, '--help');
      assert.match(stdout, new RegExp(`^Usage: p2p-live ${c.name} \\[flags\\]`), `${c.name} --help names its npm script instead`);
    }
    const bad = await failure(p2pLive('peer', '--port', 'eighty'));
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'peer: --port must be an integer from 0 to 65535, got "eighty" (see --help)\n');
  });
});
