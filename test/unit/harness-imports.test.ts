/**
 * The import graph around the tests: nothing outside test/ imports from
 * test/ (programs and scripts stand without their tests), and harness/, which
 * tests and scripts share, imports only the programs' code and itself, never
 * test/ or scripts/. Read from the sources, so a new import that breaks this
 * fails here rather than in a reader's head.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIRS = ['origin', 'peer-node', 'player', 'shared', 'harness', 'scripts', 'test', 'web'];

/** Every relative import (static, dynamic, export-from) of every .ts/.mjs file, as root-relative paths. */
function edges(): { from: string; to: string }[] {
  const out: { from: string; to: string }[] = [];
  for (const dir of DIRS) {
    let files: string[];
    try {
      files = readdirSync(join(ROOT, dir), { recursive: true }).map(String);
    } catch {
      continue;
    }
    for (const f of files.filter((x) => /\.(ts|mjs)$/.test(x) && !x.includes('node_modules') && !x.includes('dist/'))) {
      const from = join(dir, f);
      const text = readFileSync(join(ROOT, from), 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
        out.push({ from, to: relative(ROOT, resolve(ROOT, dirname(from), m[1] as string)) });
      }
    }
  }
  return out;
}

const top = (p: string) => p.split(/[\\/]/)[0] as string;

test('the graph is read: tests and scripts import harness/, which imports shared/', () => {
  const all = edges();
  assert.ok(all.some((e) => top(e.from) === 'test' && top(e.to) === 'harness'), 'no test imports harness/');
  assert.ok(all.some((e) => top(e.from) === 'scripts' && top(e.to) === 'harness'), 'no script imports harness/');
  assert.ok(all.some((e) => top(e.from) === 'harness' && top(e.to) === 'shared'), 'harness/ imports nothing from shared/');
});

test('nothing outside test/ imports from test/', () => {
  assert.deepEqual(edges().filter((e) => top(e.from) !== 'test' && top(e.to) === 'test'), []);
});

test('harness/ imports only origin/, peer-node/, shared/ and itself', () => {
  const allowed = new Set(['origin', 'peer-node', 'shared', 'harness']);
  assert.deepEqual(edges().filter((e) => top(e.from) === 'harness' && !allowed.has(top(e.to))), []);
});
