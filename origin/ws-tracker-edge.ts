import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import type { Clock, TimerHandle } from '../shared/clock.ts';
import { MAX_TRACKER_INBOUND_BYTES } from '../shared/limits.ts';
import type { TrackerConn, TrackerConnEvents } from './tracker-conn.ts';

/**
 * ws closes a connection on its own protocol errors (a frame over maxPayload,
 * text that is not UTF-8, a bad frame header) with a code but no reason; this
 * gives those closes a reason in the `<code>: <message>` form of every other refusal.
 */
class TrackerWebSocket extends WebSocket {
  override close(code?: number, data?: string | Buffer): void {
    let reason = data;
    if (reason === undefined && code === 1009) reason = `ERR_TOO_LARGE: frame over ${MAX_TRACKER_INBOUND_BYTES} bytes`;
    if (reason === undefined && code === 1007) reason = 'ERR_MALFORMED: text frame not UTF-8';
    if (reason === undefined && code === 1002) reason = 'ERR_MALFORMED: WebSocket protocol error';
    super.close(code, reason);
  }
}

function wsTrackerConn(ws: WebSocket): TrackerConn {
  return {
    get open() {
      return ws.readyState === WebSocket.OPEN;
    },
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    send: (frame) => ws.send(frame, { binary: typeof frame !== 'string' }),
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
  };
}

/**
 * The one place the tracker meets the `ws` package: it upgrades requests to
 * tracker connections, and pings every connection at `heartbeatMs` so that a
 * peer which is alive but quiet between announces is seen by its pong; one
 * that sent a message since the last beat was seen by it, and is not pinged
 * (with 10,000 peers announcing every 2 s, that is most pings, and their pongs).
 */
export class WsTrackerEdge {
  private readonly wss: WebSocketServer;
  private readonly heartbeat: TimerHandle;
  /** Connections that sent a message since the last heartbeat. */
  private readonly heard = new WeakSet<WebSocket>();

  constructor(
    clock: Clock,
    heartbeatMs: number,
    private readonly log: Logger,
  ) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_TRACKER_INBOUND_BYTES, WebSocket: TrackerWebSocket });
    this.wss.on('error', (err) => log.error({ err }, 'tracker server error'));
    this.heartbeat = clock.setInterval(() => {
      for (const ws of this.wss.clients) {
        // A connection that sent a frame since the last beat has shown it is there: a ping would be one more write for nothing.
        if (this.heard.delete(ws)) continue;
        if (ws.readyState === WebSocket.OPEN) ws.ping();
      }
    }, heartbeatMs);
  }

  /** Upgrades the request and hands the connection to `attach`, which says where its events go. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, attach: (conn: TrackerConn) => TrackerConnEvents): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const events = attach(wsTrackerConn(ws));
      ws.on('error', (err) => this.log.debug({ err: err.message }, 'tracker socket error'));
      ws.on('pong', () => events.onAlive());
      ws.on('message', (data, isBinary) => {
        this.heard.add(ws);
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
        events.onMessage(isBinary ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) : buf.toString('utf8'));
      });
      ws.on('close', () => events.onClose());
    });
  }

  /** Resolves once every connection it upgraded has closed. */
  close(): Promise<void> {
    this.heartbeat.cancel();
    return new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
