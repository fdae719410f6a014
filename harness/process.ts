/**
 * harness/: what drives the programs from outside, shared by the tests and
 * the scripts (bench, soak): starting and stopping program processes, their
 * memory, the playback model, a tracker watcher, the peer bundle built when
 * stale. It sits beside test/ and scripts/ so that neither imports the
 * other: tests import harness/ and the scripts whose own logic they test;
 * scripts import harness/ and never test/; harness/ imports only origin/,
 * peer-node/ and shared/.
 *
 * This file: program processes, and their memory from /proc (Linux).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

const MAX_OUTPUT = 8 * 2 ** 20;

export interface Started {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Exited, and its output read to the end. */
  closed: () => boolean;
}

export interface StartOptions {
  /** Extra environment, over this process's. */
  env?: Record<string, string>;
  /** Node flags before the script (e.g. --inspect=127.0.0.1:0). */
  execArgv?: string[];
  cwd?: string;
}

/**
 * Starts `node --import tsx <script> ...args` (a .ts file) or `node <script>`
 * (a built .mjs); the caller must stop it (see stopProcess).
 */
export function startScript(script: string, args: string[], o: StartOptions = {}): Started {
  const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...(o.execArgv ?? []), ...loader, script, ...args], {
    env: { ...process.env, ...o.env },
    cwd: o.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  // The newest output is what a test reads last and a failure shows; a soak of hours must not hold all of it.
  const keep = (s: string) => (s.length > MAX_OUTPUT ? s.slice(-MAX_OUTPUT / 2) : s);
  child.stdout?.on('data', (d: Buffer) => (out = keep(out + d.toString())));
  child.stderr?.on('data', (d: Buffer) => (err = keep(err + d.toString())));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let closed = false;
  child.on('close', () => (closed = true));
  return { child, stdout: () => out, stderr: () => err, exited, closed: () => closed };
}

export async function stopProcess(p: Started): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), 8000);
  await p.exited;
  clearTimeout(t);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Child pids of `pid`, read from /proc (Linux). */
export async function childPids(pid: number): Promise<number[]> {
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return text.trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Resolves with the first match of `pattern` in what the process printed
 * (stdout, or stderr with `from: 'stderr'`), as soon as it prints it; fails
 * when the process exits first or after `timeoutMs`, with the output's tail.
 */
export function waitForOutput(p: Started, pattern: RegExp, timeoutMs = 20_000, from: 'stdout' | 'stderr' = 'stdout'): Promise<RegExpExecArray> {
  const text = from === 'stdout' ? p.stdout : p.stderr;
  const stream = from === 'stdout' ? p.child.stdout : p.child.stderr;
  return new Promise((resolve, reject) => {
    const done = (f: () => void) => {
      clearTimeout(timer);
      stream?.off('data', check);
      p.child.off('close', onExit);
      f();
    };
    const check = () => {
      const m = pattern.exec(text());
      if (m) done(() => resolve(m));
    };
    const tail = () => `${p.stdout().slice(-400)}${p.stderr().slice(-400)}`;
    const onExit = () => {
      const m = pattern.exec(text());
      done(() => (m ? resolve(m) : reject(new Error(`process exited before printing ${pattern}: ${tail()}`))));
    };
    const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for output ${pattern}: ${tail()}`))), timeoutMs);
    // Listeners added after the startScript's own, so `text()` already holds the chunk.
    stream?.on('data', check);
    // 'close', not 'exit': the pipes may still hold the last lines when it exits.
    p.child.on('close', onExit);
    if (p.closed()) onExit();
    else check();
  });
}

/** A process's resident memory (VmRSS), from /proc (Linux). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** Samples a process's RSS every 50 ms while `during` runs; returns the peak. */
export async function peakRss(pid: number, during: () => Promise<void>): Promise<number> {
  let peak = await rssBytes(pid);
  let done = false;
  const sampler = (async () => {
    while (!done) {
      peak = Math.max(peak, await rssBytes(pid).catch(() => 0));
      // Sampling, not waiting for anything: the interval is the resolution of the peak.
      await sleep(50);
    }
  })();
  try {
    await during();
  } finally {
    done = true;
    await sampler;
  }
  return Math.max(peak, await rssBytes(pid));
}
