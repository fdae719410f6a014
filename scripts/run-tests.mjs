// Node 20's --test expands no globs, so the test files are listed here.
// Unit tests run in parallel; integration tests one file at a time, since each
// starts ffmpeg and swarms that would fight over this machine's two cores.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function list(dir) {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => join(dir, f));
}

const only = process.argv.slice(2);
const files = only.length > 0 ? only : [...list('test/unit'), ...list('test/integration'), ...list('test/e2e')];
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
