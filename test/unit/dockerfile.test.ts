import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { COMMANDS } from '../../bin/commands.ts';
import { originFlags } from '../../origin/config.ts';
import { peerFlags } from '../../peer-node/config.ts';

/**
 * The Dockerfile checked offline (no Docker engine here), as compose.test.ts
 * checks docker-compose.yml: its stages, base images, what it copies and
 * from where, that it installs the packed tarball with no registry, and that
 * its entry point is the package's command with a command it has. What
 * `npm pack` and the offline install do is tested for real by
 * test/integration/pack.test.ts.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };

interface Instruction {
  stage: number;
  op: string;
  args: string;
}

/** Instructions in order, continuation lines joined, comments dropped, each tagged with its stage (counted from 0). */
function parseDockerfile(text: string): Instruction[] {
  const lines = text.split('\n').filter((l) => !/^\s*#/.test(l));
  const logical: string[] = [];
  let current = '';
  for (const line of lines) {
    current += line.replace(/\\\s*$/, ' ');
    if (/\\\s*$/.test(line)) continue;
    if (current.trim() !== '') logical.push(current.trim());
    current = '';
  }
  let stage = -1;
  return logical.map((l) => {
    const m = /^(\w+)\s+(.*)$/s.exec(l);
    assert.ok(m, `not an instruction: ${l}`);
    const op = (m[1] as string).toUpperCase();
    if (op === 'FROM') stage++;
    return { stage, op, args: (m[2] as string).replace(/\s+/g, ' ') };
  });
}

const instructions = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const stages = instructions.filter((i) => i.op === 'FROM').map((i) => /\bAS\s+(\S+)$/i.exec(i.args)?.[1] ?? null);
const last = stages.length - 1;
const inStage = (stage: number, op: string) => instructions.filter((i) => i.stage === stage && i.op === op);
const execForm = (i: Instruction | undefined): string[] => {
  assert.ok(i, 'missing instruction');
  const v: unknown = JSON.parse(i.args);
  assert.ok(Array.isArray(v) && v.every((w) => typeof w === 'string'), `${i.op} is not in exec form: ${i.args}`);
  return v;
};
/** A COPY's stage (`--from=`), or null for the build context, and its sources. */
function copyOf(i: Instruction): { from: string | null; sources: string[] } {
  const words = i.args.split(' ');
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length) ?? null;
  return { from, sources: words.filter((w) => !w.startsWith('--')).slice(0, -1) };
}
const dockerignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

describe('Dockerfile', () => {
  test('reads as stages of instructions', () => {
    assert.deepEqual(parseDockerfile('FROM a AS b\n# c\nRUN x \\\n  && y\nCOPY --from=b /p /q\n'), [
      { stage: 0, op: 'FROM', args: 'a AS b' },
      { stage: 0, op: 'RUN', args: 'x && y' },
      { stage: 0, op: 'COPY', args: '--from=b /p /q' },
    ]);
    assert.ok(stages.length >= 2, 'a stage to pack and one to run');
  });

  test('every stage is node:20-bookworm-slim, and the image that runs has Debian ffmpeg for the origin', () => {
    for (const from of instructions.filter((i) => i.op === 'FROM')) assert.match(from.args, /^node:20-bookworm-slim(\s+AS\s+\S+)?$/i);
    assert.ok(
      inStage(last, 'RUN').some((r) => /apt-get install [^&]*\bffmpeg\b/.test(r.args)),
      'the final stage installs no ffmpeg',
    );
  });

  test('it copies only what exists and the build context keeps: the sources, never a node_modules or a build', () => {
    for (const copy of instructions.filter((i) => i.op === 'COPY')) {
      const { from, sources } = copyOf(copy);
      if (from !== null) {
        assert.ok(stages.slice(0, copy.stage).includes(from), `COPY --from=${from}: no earlier stage of that name`);
        continue;
      }
      for (const s of sources) {
        assert.ok(existsSync(join(ROOT, s)), `COPY ${s}: not in the repository`);
        assert.ok(!dockerignore.includes(s), `COPY ${s}: .dockerignore leaves it out of the build context`);
      }
    }
    for (const kept of ['node_modules', 'dist', 'player/dist', 'origin/dashboard/dist']) assert.ok(dockerignore.includes(kept), `.dockerignore lets ${kept} in`);
  });

  test('the first stage packs the package; npm ci runs no scripts before the sources are there', () => {
    assert.ok(typeof pkg.scripts.prepack === 'string', 'package.json has no prepack to build the package');
    const runs = instructions.filter((i) => i.stage === 0 && (i.op === 'RUN' || i.op === 'COPY'));
    const sources = runs.findIndex((i) => i.op === 'COPY' && copyOf(i).sources.includes('.'));
    assert.ok(sources > 0, 'the first stage never copies the sources');
    for (const r of runs.slice(0, sources)) if (/\bnpm (ci|install)\b/.test(r.args)) assert.match(r.args, /--ignore-scripts/);
    assert.ok(
      runs.slice(sources).some((r) => /\bnpm pack\b/.test(r.args)),
      'no npm pack after the sources are copied',
    );
  });

  test('the image installs the tarball with no registry, and runs as an unprivileged user', () => {
    assert.ok(
      inStage(last, 'RUN').some((r) => /\bnpm install\b(?=.*--global)(?=.*--offline).*\.tgz\b/.test(r.args)),
      'the final stage does not install the packed tarball offline',
    );
    const user = inStage(last, 'USER').at(-1)?.args;
    assert.ok(user !== undefined && user !== 'root' && user !== '0', `runs as ${user ?? 'root'}`);
  });

  test('the entry point is the package command, and the default command one it has', () => {
    assert.deepEqual(execForm(inStage(last, 'ENTRYPOINT').at(-1)), Object.keys(pkg.bin));
    const [first] = execForm(inStage(last, 'CMD').at(-1));
    assert.ok(first === '--help' || COMMANDS.some((c) => c.name === first), `CMD ${first} is not a p2p-live command`);
  });

  test('it sets only environment the programs read: their listen addresses', () => {
    const set = inStage(last, 'ENV').flatMap((e) => e.args.split(' ').map((kv) => kv.split('=')[0]));
    const read = new Set<string>([...Object.values(originFlags), ...Object.values(peerFlags)].flatMap((f) => ('env' in f && f.env ? [f.env] : [])));
    for (const name of set) assert.ok(read.has(name ?? ''), `ENV ${name}: no program flag reads it`);
    assert.ok(set.includes(originFlags.host.env) && set.includes(peerFlags.host.env), 'the programs would listen on loopback only');
    assert.deepEqual(inStage(last, 'EXPOSE').map((e) => e.args), [String(originFlags.port.default)]);
  });
});
