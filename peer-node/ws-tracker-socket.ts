import { WebSocket } from 'ws';
import { MAX_PIECE_SIZE, MAX_TRACKER_MESSAGE_BYTES } from '../shared/limits.ts';
import type { TlsSetup } from '../shared/tls.ts';
import type { TrackerConnect } from './tracker-socket.ts';

/** Tracker sockets over ws; `tlsClient` for a wss:// tracker (a private CA to trust). */
export function wsTrackerConnect(tlsClient: TlsSetup['client'] = {}): TrackerConnect {
  return (url, events) => {
    const ws = new WebSocket(url, { maxPayload: MAX_TRACKER_MESSAGE_BYTES + MAX_PIECE_SIZE, ...tlsClient });
    ws.on('error', (err) => events.onError(err));
    ws.on('open', () => events.onOpen());
    ws.on('message', (data, isBinary) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      events.onMessage(isBinary ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) : buf.toString('utf8'));
    });
    ws.on('close', (code, reason) => events.onClose(code, reason.toString()));
    return {
      get open() {
        return ws.readyState === WebSocket.OPEN;
      },
      send: (text) => ws.send(text),
      close: (code, reason) => ws.close(code, reason),
      terminate: () => ws.terminate(),
    };
  };
}
