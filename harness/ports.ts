/**
 * (harness/: shared by tests and scripts, see process.ts.)
 * Every program here listens on port 0 and prints its URL; tests read the port
 * back from that. The listeners that cannot are ffmpeg's RTMP server
 * (`-listen 1`): its tcp layer refuses port 0 ("Port missing in uri"), so a
 * broadcaster's port must be chosen before ffmpeg starts; and redis-server,
 * for which port 0 means no TCP at all. This picks one the kernel has just
 * handed out and released. Another process can take it
 * before ffmpeg binds it; the kernel hands out ephemeral ports in rotation,
 * so that is rare, and a test using it should fail loudly on EADDRINUSE
 * rather than hang. Use it for nothing that can listen on 0.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export async function portForFixedPortListener(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export const portForFfmpegRtmpListener = portForFixedPortListener;

/** Whether something on this machine listens on TCP `port`, read from /proc (Linux): a look that, unlike a connect, does not disturb a listener that takes one connection. */
export function listening(port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
        const [, local, , state] = line.trim().split(/\s+/);
        if (local?.endsWith(hex) && state === '0A') return true;
      }
    } catch {
      // no IPv6 table
    }
  }
  return false;
}
