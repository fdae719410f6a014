/**
 * A bare tracker client for tests: joins with whatever it is told to claim,
 * sends what the test says, and keeps every message it is sent, decoded.
 * Optionally listens on /peer and answers any dial with a handshake as
 * `answerAs` (an honest node's first frame), so the tracker's probe can
 * find it reachable.
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket, WebSocketServer } from 'ws';
import { PROTOCOL_VERSION } from '../../shared/limits.ts';
import { type PeerStats, type PeerToTracker, type TrackerToPeer, decodeTrackerToPeer, encodePeerToTracker } from '../../shared/tracker-protocol.ts';
import { encodeWire } from '../../shared/wire-protocol.ts';

export interface TestTrackerClient {
  readonly peerId: string;
  readonly ws: WebSocket;
  readonly received: TrackerToPeer[];
  /** Port of its /peer listener, if it has one. */
  readonly port: number | null;
  /** Connections its /peer listener accepted. */
  readonly dialled: () => number;
  send(msg: PeerToTracker): void;
  welcomed(): Promise<void>;
  /** Every peer id it has been handed, in welcome and peers messages. */
  handedOut(): Set<string>;
  close(): Promise<void>;
}

export interface TestTrackerClientOptions {
  peerId: string;
  /** The URL it joins with; given its listener's port when it has one. */
  url: (port: number | null) => string | null;
  /** Listen on /peer and answer dials with a handshake of this id. */
  answerAs?: string;
  streamId?: string;
}

export async function trackerClient(tracker: string, o: TestTrackerClientOptions): Promise<TestTrackerClient> {
  let server: Server | null = null;
  let port: number | null = null;
  let dialled = 0;
  if (o.answerAs !== undefined) {
    const answerAs = o.answerAs;
    const wss = new WebSocketServer({ noServer: true });
    server = createServer((_req, res) => res.writeHead(404).end());
    server.on('upgrade', (req, socket, head) => {
      socket.on('error', () => socket.destroy());
      wss.handleUpgrade(req, socket, head, (ws) => {
        dialled++;
        ws.on('error', () => undefined);
        ws.send(encodeWire({ type: 'handshake', version: PROTOCOL_VERSION, streamId: o.streamId ?? 'live', peerId: answerAs }));
      });
    });
    const s = server;
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  }
  const ws = new WebSocket(tracker, { perMessageDeflate: false });
  const received: TrackerToPeer[] = [];
  ws.on('error', () => undefined);
  ws.on('message', (data, isBinary) => {
    const d = decodeTrackerToPeer(isBinary ? (data as Buffer) : String(data));
    if (d.ok) received.push(d.value);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const send = (msg: PeerToTracker) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(encodePeerToTracker(msg));
  };
  send({ type: 'join', version: PROTOCOL_VERSION, streamId: o.streamId ?? 'live', peerId: o.peerId, url: o.url(port), uploadKbps: 0 });
  return {
    peerId: o.peerId,
    ws,
    received,
    port,
    dialled: () => dialled,
    send,
    async welcomed() {
      const t0 = Date.now();
      while (!received.some((m) => m.type === 'welcome')) {
        if (Date.now() - t0 > 10_000 || ws.readyState !== WebSocket.OPEN) throw new Error(`${o.peerId}: no welcome`);
        await sleep(20);
      }
    },
    handedOut() {
      const ids = new Set<string>();
      for (const m of received) if (m.type === 'welcome' || m.type === 'peers') for (const p of m.peers) ids.add(p.peerId);
      return ids;
    },
    async close() {
      ws.terminate();
      server?.closeAllConnections();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    },
  };
}

export const ZERO_REPORT: PeerStats = { p2pBytes: 0, originBytes: 0, uploadedBytes: 0, stalls: 0, stallMs: 0, neighbours: 0, hashFailures: 0 };
