import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';

/**
 * Listens and resolves with the port bound (port 0 picks a free one). A
 * listen failure (port taken) rejects; later server errors are logged, so
 * the server always has an error handler.
 */
export async function listen(server: Server, port: number, host: string, log: Logger): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      server.on('error', (err) => log.error({ err }, 'http server error'));
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}
