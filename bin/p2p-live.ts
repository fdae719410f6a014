#!/usr/bin/env node
/**
 * The `p2p-live` command: `p2p-live <command> [flags]` runs one program with
 * the flags its npm script takes (`p2p-live origin --port 8080` is
 * `npm run origin -- --port 8080`). Each program is loaded only when asked
 * for, so a viewer's peer process holds the peer's code and not the origin's.
 */
import { existsSync } from 'node:fs';
import { setCommandName } from '../shared/cli.ts';
import { COMMANDS, type Command } from './commands.ts';

/**
 * Defined by bin/build.ts in the package: the commands it bundled, each as
 * `<name>.mjs` beside this file. Absent when this runs from the sources.
 */
declare const P2P_LIVE_BUILT: readonly string[] | undefined;
const built = typeof P2P_LIVE_BUILT === 'undefined' ? null : P2P_LIVE_BUILT;

function moduleOf(c: Command): URL | null {
  if (built) return built.includes(c.name) ? new URL(`./${c.name}.mjs`, import.meta.url) : null;
  const source = new URL(`../${c.entry}`, import.meta.url);
  return existsSync(source) ? source : null;
}

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'Usage: p2p-live <command> [flags]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)} ${c.summary}`),
    '',
    '`p2p-live <command> --help` lists the flags of a command.',
  ].join('\n');
}

const [name, ...rest] = process.argv.slice(2);
if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
  (name === undefined ? process.stderr : process.stdout).write(`${usage()}\n`);
  process.exitCode = name === undefined ? 2 : 0;
} else {
  const command = COMMANDS.find((c) => c.name === name);
  const module = command ? moduleOf(command) : null;
  if (!command) {
    process.stderr.write(`p2p-live: unknown command ${JSON.stringify(name)}; commands: ${COMMANDS.map((c) => c.name).join(', ')} (see p2p-live --help)\n`);
    process.exitCode = 2;
  } else if (!module) {
    process.stderr.write(`p2p-live ${command.name}: not available in this build (no ${command.entry})\n`);
    process.exitCode = 1;
  } else {
    setCommandName(`p2p-live ${command.name}`);
    // The programs read their flags from process.argv, as under their npm scripts.
    process.argv.splice(2, process.argv.length - 2, ...rest);
    await import(module.href);
  }
}
