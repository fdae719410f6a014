/**
 * Flag parsing shared by the origin and peer programs. Each program declares
 * its flags once (name, kind, default, bounds, help); this turns argv and env
 * into a frozen typed object or one clear error line naming the flag.
 */
import { parseArgs } from 'node:util';

export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG';
}

interface Base {
  help: string;
  env?: string;
  /** Never echoed back in an error: a bad value may still be close to the real secret. */
  secret?: boolean;
}
export type FlagSpec =
  | (Base & { kind: 'int'; default: number; min: number; max: number })
  /** `list`: the flag may be repeated and each value may be a comma-separated list; each item must match `pattern`, and the value is the items joined by commas. */
  | (Base & { kind: 'string'; default: string; pattern?: RegExp; patternHelp?: string; list?: boolean })
  /** `bare`: the value of the flag given alone (at the end of argv or before another flag). */
  | (Base & { kind: 'optional-string'; default: null; pattern?: RegExp; patternHelp?: string; bare?: string })
  | (Base & { kind: 'choice'; default: string; choices: readonly string[] })
  | (Base & { kind: 'bool'; default: boolean })
  /** Repeatable: every occurrence, in order (no env). */
  | (Base & { kind: 'list'; default: readonly string[] });

type ValueOf<S extends FlagSpec> = S extends { kind: 'int' }
  ? number
  : S extends { kind: 'bool' }
    ? boolean
    : S extends { kind: 'list' }
      ? readonly string[]
      : S extends { kind: 'optional-string' }
        ? string | null
        : S extends { kind: 'choice'; choices: readonly (infer C)[] }
          ? C
          : string;

export type ConfigOf<T extends Record<string, FlagSpec>> = { readonly [K in keyof T]: ValueOf<T[K]> };

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

let invokedAs: string | null = null;

/** Called by the `p2p-live` command before it runs one of its programs, so that program's --help names what was typed. */
export function setCommandName(name: string): void {
  invokedAs = name;
}

/** The command that started this program: `p2p-live <command>`, or else its npm script (`npm run origin --`). */
export function commandName(npmScript: string): string {
  return invokedAs ?? npmScript;
}

export function helpText(program: string, specs: Record<string, FlagSpec>): string {
  const lines = [`Usage: ${program} [flags]`, ''];
  for (const [name, s] of Object.entries(specs)) {
    const value = `<${s.kind === 'choice' ? s.choices.join('|') : s.kind === 'int' ? 'n' : 'value'}>`;
    const flag = s.kind === 'bool' ? `--${kebab(name)}` : `--${kebab(name)} ${s.kind === 'optional-string' && s.bare !== undefined ? `[${value}]` : value}`;
    const def = s.kind === 'list' ? ' (repeatable)' : s.default === null || s.default === '' ? '' : ` (default ${String(s.default)})`;
    const env = s.env ? ` [env ${s.env}]` : '';
    lines.push(`  ${flag.padEnd(44)} ${s.help}${def}${env}`);
  }
  lines.push(`  ${'--help'.padEnd(44)} show this help`);
  return lines.join('\n');
}

/** Returns the config, or null when --help was asked for. Throws ConfigError on any bad flag. */
export function parseConfig<T extends Record<string, FlagSpec>>(
  specs: T,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ConfigOf<T> | null {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { help: { type: 'boolean' } };
  for (const [name, s] of Object.entries(specs)) {
    options[kebab(name)] = { type: s.kind === 'bool' ? 'boolean' : 'string', multiple: s.kind === 'list' || (s.kind === 'string' && s.list === true) };
  }
  const bare = new Map<string, string>();
  for (const [name, s] of Object.entries(specs)) if (s.kind === 'optional-string' && s.bare !== undefined) bare.set(`--${kebab(name)}`, s.bare);
  const args = argv.map((a, i) => {
    const value = bare.get(a);
    const next = argv[i + 1];
    return value !== undefined && (next === undefined || next.startsWith('--')) ? `${a}=${value}` : a;
  });
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new ConfigError((e as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  if (values.help) return null;
  const out: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(specs)) {
    const flag = `--${kebab(name)}`;
    if (s.kind === 'list') {
      const given = values[kebab(name)];
      const list = Array.isArray(given) ? given.map(String) : [...s.default];
      if (list.includes('')) throw new ConfigError(`${flag} must be a non-empty string, got ""`);
      out[name] = Object.freeze(list);
      continue;
    }
    const given = values[kebab(name)];
    const raw = Array.isArray(given) ? given.join(',') : (given ?? (s.env ? env[s.env] : undefined));
    if (raw === undefined) {
      out[name] = s.default;
      continue;
    }
    switch (s.kind) {
      case 'bool':
        out[name] = typeof raw === 'boolean' ? raw : raw === 'true' || raw === '1';
        break;
      case 'int': {
        const n = Number(raw);
        if (typeof raw !== 'string' || !/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < s.min || n > s.max) {
          throw new ConfigError(`${flag} must be an integer from ${s.min} to ${s.max}, got ${JSON.stringify(raw)}`);
        }
        out[name] = n;
        break;
      }
      case 'choice':
        if (typeof raw !== 'string' || !s.choices.includes(raw)) {
          throw new ConfigError(`${flag} must be one of ${s.choices.join(', ')}, got ${JSON.stringify(raw)}`);
        }
        out[name] = raw;
        break;
      case 'string':
      case 'optional-string': {
        const list = s.kind === 'string' && s.list === true;
        const items = list && typeof raw === 'string' ? raw.split(',').map((x) => x.trim()) : [raw];
        if (items.some((item) => typeof item !== 'string' || item === '' || (s.pattern && !s.pattern.test(item)))) {
          const got = s.secret && typeof raw === 'string' ? `${raw.length} characters` : JSON.stringify(raw);
          throw new ConfigError(`${flag} must be ${list ? 'a comma-separated list of ' : ''}${s.patternHelp ?? 'a non-empty string'}, got ${got}`);
        }
        out[name] = items.join(',');
        break;
      }
    }
  }
  return Object.freeze(out) as ConfigOf<T>;
}
