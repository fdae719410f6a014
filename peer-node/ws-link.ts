import { WebSocket } from 'ws';
import { MAX_WIRE_FRAME_BYTES } from '../shared/limits.ts';
import type { Clock } from '../shared/clock.ts';
import type { Link } from './link.ts';

/** A peer that never answers our close frame loses its socket after this. */
const CLOSE_GRACE_MS = 2000;

/**
 * ws closes a connection on its own protocol errors (a frame over maxPayload,
 * a text frame that is not UTF-8, a bad frame header) with a code but no
 * reason. This class gives each such close a reason in our `<code>: <message>`
 * form, so whoever sent it learns why, as with every other refusal.
 */
export class PeerWebSocket extends WebSocket {
  override close(code?: number, data?: string | Buffer): void {
    super.close(code, data ?? (code === undefined ? undefined : wsErrorReason(code)));
  }
}

function wsErrorReason(code: number): string | undefined {
  if (code === 1009) return `ERR_TOO_LARGE: frame over ${MAX_WIRE_FRAME_BYTES} bytes`;
  if (code === 1007) return 'ERR_MALFORMED: text frame not UTF-8';
  if (code === 1002) return 'ERR_MALFORMED: WebSocket protocol error';
  return undefined;
}

/** The one place the peer node's swarm meets the `ws` package. */
export function wsLink(ws: WebSocket, clock: Clock): Link {
  // Once we close, nothing more the peer sends is read: ws still delivers frames while the close completes.
  let closing = false;
  const close = (code: number, reason: string) => {
    closing = true;
    if (ws.readyState === WebSocket.CLOSED) return;
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, reason.slice(0, 120));
    // A peer that never answers the close handshake must not hold the socket open; once the socket has closed, the
    // timer goes too, or it would keep a closing process alive for CLOSE_GRACE_MS after everything else had ended.
    const grace = clock.setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
    ws.once('close', () => grace.cancel());
  };
  return {
    send(frame, done) {
      if (ws.readyState === WebSocket.OPEN) ws.send(frame, { binary: true }, done && ((err) => done(!err)));
      else done?.(false);
    },
    close,
    onMessage(cb) {
      ws.on('message', (data, isBinary) => {
        if (closing) return;
        if (!isBinary) return close(1003, 'binary frames only');
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
