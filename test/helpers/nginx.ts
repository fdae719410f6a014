import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.ts';

export const NGINX = process.env.NGINX_PATH ?? '/usr/sbin/nginx';
export const NGINX_TEMPLATE = new URL('../../deploy/nginx/p2p-live.conf.template', import.meta.url);

/** deploy/nginx's template with its `${P2P_…}` placeholders filled; one left unfilled is an error, not a silent blank. */
export function renderTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\$\{(P2P_[A-Z_]+)\}/g, (whole, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`no value for ${whole} in the nginx template`);
    return v;
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface Nginx {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** Lines of its access log so far (format `p2p`: status, cache status, uri). */
  accessLog(): Promise<{ status: number; cache: string; uri: string }[]>;
  close(): Promise<void>;
}

/**
 * Debian's nginx running deploy/nginx/p2p-live.conf.template in front of
 * `originHostPort`, in the foreground, in a temp dir of its own, on a free port
 * of 127.0.0.1; stopped (and the dir removed) by close().
 */
export async function startNginx(originHostPort: string): Promise<Nginx> {
  const dir = await mkdtemp(join(tmpdir(), 'p2p-live-nginx-'));
  // As root the master drops its workers to nginx's default user (nobody), which must reach the cache in here;
  // nginx creates and chowns the cache and temp dirs itself.
  await chmod(dir, 0o755);
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await mkdir(join(dir, 'tmp', sub), { recursive: true });
  const template = await readFile(NGINX_TEMPLATE, 'utf8');
  let child: ChildProcess | null = null;
  let log = '';
  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    const force = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(force);
  };
  try {
    // The port is found free, then given to nginx, which cannot listen on 0 and say where: another
    // process may take it in between, so a bind failure is tried again on another.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const site = renderTemplate(template, { P2P_LISTEN: `127.0.0.1:${port}`, P2P_ORIGIN: originHostPort, P2P_CACHE_DIR: join(dir, 'cache') });
      await writeFile(join(dir, 'p2p-live.conf'), site);
      await writeFile(
        join(dir, 'nginx.conf'),
        [
          'worker_processes 1;',
          'events { worker_connections 1024; }',
          'http {',
          ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(dir, 'tmp', t === 'client_body' ? 'body' : t)};`),
          '  log_format p2p \'$status $upstream_cache_status $uri\';',
          `  access_log ${join(dir, 'access.log')} p2p;`,
          `  include ${join(dir, 'p2p-live.conf')};`,
          '}',
          '',
        ].join('\n'),
      );
      log = '';
      const c = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')}; error_log stderr warn;`], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = c;
      c.on('error', (err) => (log += `spawn: ${err.message}\n`));
      c.stdout?.on('data', (d: Buffer) => (log += d.toString()));
      c.stderr?.on('data', (d: Buffer) => (log += d.toString()));
      const url = `http://127.0.0.1:${port}`;
      const up = await waitFor(
        'nginx to listen',
        async () => {
          if (c.exitCode !== null) return 'exited' as const;
          // Everything outside the proxied paths is nginx's own 404.
          const res = await fetch(`${url}/`, { signal: AbortSignal.timeout(1000) });
          return res.status === 404 && res.headers.get('server') === 'nginx' ? ('up' as const) : undefined;
        },
        10_000,
        50,
      );
      if (up === 'up') {
        return {
          url,
          async accessLog() {
            const text = await readFile(join(dir, 'access.log'), 'utf8').catch(() => '');
            return text
              .split('\n')
              .filter(Boolean)
              .map((line) => {
                const [status = '', cache = '', uri = ''] = line.split(' ');
                return { status: Number(status), cache, uri };
              });
          },
          async close() {
            await stop();
            await rm(dir, { recursive: true, force: true });
          },
        };
      }
      if (!/Address already in use/.test(log) || attempt >= 3) throw new Error(`nginx exited ${c.exitCode}: ${log.slice(-2000)}`);
    }
  } catch (e) {
    await stop();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
