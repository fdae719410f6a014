import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portForFixedPortListener } from '../../harness/ports.ts';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

export interface TestRedis {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Stops it (SIGTERM, then SIGKILL) and removes its folder. */
  stop(): Promise<void>;
}

/**
 * A real redis-server on 127.0.0.1, no persistence, in a temp folder; the
 * caller must stop() it. Redis cannot listen on port 0 and print its port,
 * so a port the kernel just handed out is used (harness/ports.ts); if
 * another process took it meanwhile, redis exits and another port is tried. `port` restarts one on
 * the port of a stopped one.
 */
export async function startRedis(port?: number): Promise<TestRedis> {
  for (let attempt = 0; ; attempt++) {
    const p = port ?? (await portForFixedPortListener());
    const dir = mkdtempSync(join(tmpdir(), 'p2p-live-redis-'));
    const child = spawn(REDIS_SERVER, ['--bind', '127.0.0.1', '--port', String(p), '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const ready = await new Promise<boolean>((resolve) => {
      let out = '';
      child.on('error', () => resolve(false));
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (/Ready to accept connections/.test(out)) resolve(true);
      });
      child.once('exit', () => resolve(false));
    });
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    };
    if (ready) return { url: `redis://127.0.0.1:${p}`, port: p, child, stop };
    await stop();
    if (port !== undefined || attempt >= 3) throw new Error(`redis-server did not start on port ${p} (is ${REDIS_SERVER} installed?)`);
  }
}
