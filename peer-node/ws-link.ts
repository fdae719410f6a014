import { WebSocket } from 'ws';
import type { Link } from './link.ts';

/** The one place the peer node's swarm meets the `ws` package. */
export function wsLink(ws: WebSocket): Link {
  return {
    send(frame) {
      if (ws.readyState === WebSocket.OPEN) ws.send(frame, { binary: true });
    },
    close(code, reason) {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, reason.slice(0, 120));
      // A peer that never answers the close handshake must not hold the socket open.
      setTimeout(() => ws.terminate(), 2000).unref();
    },
    onMessage(cb) {
      ws.on('message', (data, isBinary) => {
        if (!isBinary) {
          ws.close(1003, 'binary frames only');
          return;
        }
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
        cb(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
      });
    },
    onClose(cb) {
      ws.on('close', (code, reason) => cb(code, reason.toString()));
    },
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
  };
}
