import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The architecture as an import graph: three programs over one protocol,
 * `shared/` for what the server programs both speak, `web/` for what the two
 * browser pages share, `harness/` for what tests and scripts share to drive
 * the programs from outside, `bin/` for the p2p-live command that runs them
 * and the build of its package. Read from the sources themselves, type-only imports
 * included (a type from another program is a dependency on it all the same).
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const AREAS = ['origin', 'peer-node', 'player', 'shared', 'web', 'harness', 'scripts', 'bin', 'test'] as const;
const SCANNED = AREAS.filter((a) => a !== 'test');

/** Static imports and re-exports (`import … from`, `export … from`, `import '…'`) and dynamic `import('…')`. */
const IMPORT = /^\s*(?:import|export)\s+(?:type\s+)?[\w$*{},\s]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;

interface Edge {
  from: string;
  to: string;
}

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.(ts|mjs)$/.test(e.name))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)).split(sep).join('/'))
    .filter((f) => !f.split('/').includes('dist'));
}

/** Imports of files in this repository, as paths from its root; packages and node: builtins are left out. */
function importsOf(file: string, text: string): string[] {
  const withoutBlockComments = text.replace(/\/\*[\s\S]*?\*\//g, '');
  return [...withoutBlockComments.matchAll(IMPORT)]
    .map((m) => m[1] ?? m[2] ?? m[3] ?? '')
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => relative(ROOT, join(ROOT, dirname(file), spec)).split(sep).join('/'));
}

/** Packages and builtins imported at run time: `import type` is erased, so it is left out. */
function runtimePackagesOf(text: string): string[] {
  const withoutBlockComments = text.replace(/\/\*[\s\S]*?\*\//g, '');
  const RUNTIME = /^\s*import\s+(?!type\b)[\w$*{},\s]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]/gm;
  return [...withoutBlockComments.matchAll(RUNTIME)].map((m) => m[1] ?? m[2] ?? '').filter((spec) => !spec.startsWith('.'));
}

function graph(): Edge[] {
  return SCANNED.flatMap(sources).flatMap((from) => importsOf(from, readFileSync(join(ROOT, from), 'utf8')).map((to) => ({ from, to })));
}

const area = (path: string) => path.split('/')[0] ?? '';

function crossing(edges: Edge[], fromAreas: readonly string[], toAreas: readonly string[]): string[] {
  return edges.filter((e) => fromAreas.includes(area(e.from)) && toAreas.includes(area(e.to))).map((e) => `${e.from} → ${e.to}`);
}

describe('the import graph keeps the architecture', () => {
  const edges = graph();

  test('the reader sees every area and the imports it knows are there', () => {
    for (const a of SCANNED) assert.ok(sources(a).length > 0, `no sources found under ${a}/`);
    const seen = new Set(edges.map((e) => `${e.from} → ${e.to}`));
    for (const known of ['player/panel.ts → web/format.ts', 'peer-node/http-api.ts → shared/player-api.ts', 'player/report.ts → shared/player-api.ts', 'scripts/soak.ts → harness/process.ts']) {
      assert.ok(seen.has(known), `${known} not found among ${edges.length} imports`);
    }
  });

  test('it reads every form of import, and no commented-out one', () => {
    const text = [
      "import { a, type B } from '../shared/a.ts';",
      "import type {\n  C,\n  D,\n} from '../origin/c.ts';",
      "export * from './e.ts';",
      "import '../web/side-effect.ts';",
      "const f = await import('../peer-node/f.ts');",
      "/* import { g } from '../player/g.ts'; */",
      "import express from 'express';",
      "import { join } from 'node:path';",
    ].join('\n');
    assert.deepEqual(importsOf('player/x.ts', text), ['shared/a.ts', 'origin/c.ts', 'player/e.ts', 'web/side-effect.ts', 'peer-node/f.ts']);
  });

  const RULES: { from: string; mustNotImport: string[] }[] = [
    { from: 'player', mustNotImport: ['origin', 'peer-node'] },
    { from: 'origin', mustNotImport: ['player', 'peer-node'] },
    { from: 'peer-node', mustNotImport: ['origin', 'player'] },
    { from: 'shared', mustNotImport: ['origin', 'peer-node', 'player'] },
    { from: 'web', mustNotImport: ['origin', 'peer-node', 'player'] },
    { from: 'harness', mustNotImport: ['player', 'web', 'scripts', 'test'] },
    // The p2p-live command loads each program by its entry module's path at run time (bin/commands.ts); it imports shared/ and the page builders only.
    { from: 'bin', mustNotImport: ['peer-node', 'harness', 'scripts', 'test'] },
  ];
  for (const rule of RULES) {
    test(`nothing in ${rule.from}/ imports ${rule.mustNotImport.map((a) => `${a}/`).join(' or ')}`, () => {
      assert.deepEqual(crossing(edges, [rule.from], rule.mustNotImport), []);
    });
  }

  test('the peer core reaches no socket or server, so the simulator runs it as it is', () => {
    const SOCKETS = ['ws', 'express', 'node:http', 'node:https', 'node:net', 'http', 'https', 'net'];
    const reached = new Set(['peer-node/peer-core.ts']);
    for (const file of reached) for (const e of edges) if (e.from === file) reached.add(e.to);
    assert.ok(reached.has('peer-node/swarm.ts'), 'the reader follows the core into the swarm');
    const sockets = [...reached].flatMap((file) =>
      runtimePackagesOf(readFileSync(join(ROOT, file), 'utf8'))
        .filter((p) => SOCKETS.includes(p))
        .map((p) => `${file} → ${p}`),
    );
    assert.deepEqual(sockets, []);
    assert.deepEqual(runtimePackagesOf("import { WebSocket } from 'ws';\nimport type { Server } from 'node:http';"), ['ws']);
  });

  test('no program imports bin/: the command that runs them is not a dependency of theirs', () => {
    assert.deepEqual(
      crossing(
        edges,
        SCANNED.filter((a) => a !== 'bin'),
        ['bin'],
      ),
      [],
    );
  });

  test('nothing outside test/ imports from test/', () => {
    assert.deepEqual(crossing(edges, SCANNED, ['test']), []);
  });
});
