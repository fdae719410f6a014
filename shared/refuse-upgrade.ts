import type { Duplex } from 'node:stream';

/**
 * Answers a WebSocket upgrade with a plain HTTP 503 and closes the socket,
 * as ws itself refuses a bad upgrade: the cheapest refusal there is, before
 * any WebSocket state exists. Clients retry after `Retry-After`.
 */
export function refuseUpgrade(socket: Duplex, reason: string): void {
  const body = `${reason}\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 5\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
