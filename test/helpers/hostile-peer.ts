/**
 * A hostile peer that speaks the real protocols: it joins the tracker like any
 * node (an id and its own ws://127.0.0.1:<port>/peer URL, so honest nodes dial
 * it), dials the peers it is told of, handshakes properly, and then lies:
 *
 * - its bitfield and `have`s claim every piece of every announced segment;
 * - it unchokes everyone and answers every request with bytes of the right
 *   length that are not the origin's;
 * - it sends pieces nobody asked for: garbage for segments in the window, and
 *   pieces of segments outside it;
 * - it withholds whatever the origin seeds to it.
 *
 * It records every connection from its side (who, opened when, accepted when,
 * closed how), so a test can see it being disconnected and refused.
 * Also exports raw clients for garbage and flood tests.
 *
 * As a program: node --import tsx test/helpers/hostile-peer.ts --tracker ws://127.0.0.1:8080/tracker
 */
import { randomBytes } from 'node:crypto';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { MAX_WIRE_FRAME_BYTES, PROTOCOL_VERSION } from '../../shared/limits.ts';
import { type SegmentAnnouncement, pieceRange } from '../../shared/segment.ts';
import { decodeTrackerToPeer, encodePeerToTracker } from '../../shared/tracker-protocol.ts';
import { type WireMessage, bitsetBytes, decodeWire, encodeWire } from '../../shared/wire-protocol.ts';

export interface HostileOptions {
  /** The origin's tracker, ws://host:port/tracker. */
  tracker: string;
  peerId?: string;
  streamId?: string;
  /** Declared in `join`: above 0, the origin seeds pieces to it, which it withholds. */
  uploadKbps?: number;
  /** Dial every peer the tracker names (honest nodes dial it anyway). */
  dial?: boolean;
  /** Per connection, right after the handshake: pieces of segments outside the window. */
  outOfWindowPieces?: number;
  /** Per connection, after its first lie to a request and then every `unrequestedEveryMs`: garbage pieces nobody asked for. */
  unrequestedBadPieces?: number;
  unrequestedEveryMs?: number;
}

/** One connection as the hostile peer saw it. */
export interface HostileConn {
  outbound: boolean;
  /** The peer id the other side gave in its handshake. */
  remoteId: string | null;
  openedAtMs: number;
  /** When the other side's bitfield came: it accepted our handshake. */
  acceptedAtMs: number | null;
  closedAtMs: number | null;
  closeCode: number | null;
  closeReason: string;
  requests: number;
  /** Requests answered with bytes the origin never published. */
  badAnswers: number;
  /** Garbage pieces sent unasked, for segments in the window. */
  unrequestedBad: number;
  /** Pieces sent for segments outside the window. */
  outOfWindow: number;
  /** Pieces claimed in `have`s and the bitfield, none of them held. */
  claimed: number;
}

const WINDOW = 30;
const ANNOUNCE_EVERY_MS = 2000;

export class HostilePeer {
  readonly peerId: string;
  readonly conns: HostileConn[] = [];
  seedPiecesWithheld = 0;
  private readonly opts: Required<HostileOptions>;
  private readonly segments = new Map<number, SegmentAnnouncement>();
  private readonly live = new Map<WebSocket, HostileConn>();
  private readonly known = new Map<string, string>();
  private pieceSize = 16 * 1024;
  private server: Server | null = null;
  private wss: WebSocketServer | null = null;
  private tracker: WebSocket | null = null;
  private announceTimer: NodeJS.Timeout | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private port = 0;

  constructor(opts: HostileOptions) {
    this.opts = {
      peerId: `hostile-${randomBytes(4).toString('hex')}`,
      streamId: 'live',
      uploadKbps: 1_000_000,
      dial: true,
      outOfWindowPieces: 3,
      unrequestedBadPieces: 1,
      unrequestedEveryMs: 1500,
      ...(Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as HostileOptions),
    };
    this.peerId = this.opts.peerId;
  }

  /** Its peer-wire URL, as it gave it to the tracker. */
  get url(): string {
    return `ws://127.0.0.1:${this.port}/peer`;
  }

  /** Listens on /peer, joins the tracker; resolves on `welcome`. */
  async start(): Promise<void> {
    const server = createServer((_req, res) => res.writeHead(404).end());
    const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_WIRE_FRAME_BYTES });
    server.on('upgrade', (req, socket, head) => {
      socket.on('error', () => socket.destroy());
      if ((req.url ?? '').split('?')[0] !== '/peer') return void socket.destroy();
      wss.handleUpgrade(req, socket, head, (ws) => this.adopt(ws, false));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.wss = wss;
    this.port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(this.opts.tracker);
      this.tracker = ws;
      ws.on('error', reject);
      ws.on('open', () =>
        ws.send(encodePeerToTracker({ type: 'join', version: PROTOCOL_VERSION, streamId: this.opts.streamId, peerId: this.peerId, url: this.url, uploadKbps: this.opts.uploadKbps })),
      );
      ws.on('message', (data, isBinary) => {
        const decoded = decodeTrackerToPeer(isBinary ? (data as Buffer) : String(data));
        if (!decoded.ok) return;
        const m = decoded.value;
        if (m.type === 'seed') {
          this.seedPiecesWithheld++;
        } else if (m.type === 'welcome') {
          this.pieceSize = m.pieceSize;
          for (const a of m.segments) this.learnSegment(a.segment);
          this.learnPeers(m.peers);
          this.announceTimer = setInterval(() => this.sendAnnounce(), ANNOUNCE_EVERY_MS);
          resolve();
        } else if (m.type === 'segment') {
          this.learnSegment(m.announcement.segment);
          this.claimEverywhere(m.announcement.segment);
        } else if (m.type === 'peers') {
          this.learnPeers(m.peers);
        }
      });
    });
  }

  /** Dials `url`; resolves with the record once it closes or `settleMs` passed. */
  async dialAndWait(url: string, settleMs: number): Promise<HostileConn> {
    const ws = new WebSocket(url, { maxPayload: MAX_WIRE_FRAME_BYTES, perMessageDeflate: false });
    const conn = this.adopt(ws, true);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, settleMs);
      ws.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
    return conn;
  }

  /** Connections to or from `peerId`. */
  with(peerId: string): HostileConn[] {
    return this.conns.filter((c) => c.remoteId === peerId);
  }

  /** Connections still open. */
  get openConns(): HostileConn[] {
    return [...this.live.values()];
  }

  async close(): Promise<void> {
    if (this.announceTimer) clearInterval(this.announceTimer);
    for (const t of this.timers) clearInterval(t);
    this.tracker?.terminate();
    for (const ws of this.live.keys()) ws.terminate();
    this.wss?.close();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private learnSegment(s: SegmentAnnouncement): void {
    this.segments.set(s.seq, s);
    for (const seq of this.segments.keys()) if (seq <= s.seq - WINDOW) this.segments.delete(seq);
  }

  private learnPeers(peers: readonly { peerId: string; url: string }[]): void {
    for (const p of peers) {
      if (p.peerId === this.peerId || this.known.has(p.peerId)) continue;
      this.known.set(p.peerId, p.url);
      if (this.opts.dial) void this.dialAndWait(p.url, 0);
    }
  }

  private sendAnnounce(): void {
    if (this.tracker?.readyState !== WebSocket.OPEN) return;
    const stats = { p2pBytes: 0, originBytes: 0, uploadedBytes: 0, stalls: 0, stallMs: 0, neighbours: this.live.size, hashFailures: 0 };
    this.tracker.send(encodePeerToTracker({ type: 'announce', stats }));
    // Asks for more peers each time, so it learns and dials nodes that joined after it.
    if (this.opts.dial) this.tracker.send(encodePeerToTracker({ type: 'get-peers', max: 50 }));
  }

  private adopt(ws: WebSocket, outbound: boolean): HostileConn {
    const conn: HostileConn = {
      outbound,
      remoteId: null,
      openedAtMs: Date.now(),
      acceptedAtMs: null,
      closedAtMs: null,
      closeCode: null,
      closeReason: '',
      requests: 0,
      badAnswers: 0,
      unrequestedBad: 0,
      outOfWindow: 0,
      claimed: 0,
    };
    this.conns.push(conn);
    this.live.set(ws, conn);
    const send = (msg: WireMessage) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(encodeWire(msg), { binary: true });
    };
    const sendHandshake = () => send({ type: 'handshake', version: PROTOCOL_VERSION, streamId: this.opts.streamId, peerId: this.peerId });
    if (outbound) ws.once('open', sendHandshake);
    else sendHandshake();
    ws.on('error', () => undefined);
    ws.on('close', (code, reason) => {
      this.live.delete(ws);
      conn.closedAtMs = Date.now();
      conn.closeCode = code;
      conn.closeReason = reason.toString();
    });
    let unrequestedRounds = 0;
    const sendUnrequested = () => {
      // The newest segment, a different piece each round: one the other side most likely lacks, so it must verify it.
      const seg = [...this.segments.values()].at(-1);
      for (let i = 0; seg && i < this.opts.unrequestedBadPieces; i++) {
        const piece = (unrequestedRounds * this.opts.unrequestedBadPieces + i) % seg.pieceHashes.length;
        send({ type: 'piece', seq: seg.seq, piece, data: this.garbage(seg, piece) });
        conn.unrequestedBad++;
      }
      unrequestedRounds++;
    };
    ws.on('message', (data, isBinary) => {
      if (!isBinary) return;
      const buf = data as Buffer;
      const decoded = decodeWire(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
      if (!decoded.ok) return;
      const m = decoded.value;
      switch (m.type) {
        case 'handshake': {
          conn.remoteId = m.peerId;
          const segs = [...this.segments.values()];
          send({
            type: 'bitfield',
            segments: segs.map((s) => ({ seq: s.seq, pieceCount: s.pieceHashes.length, bits: new Uint8Array(bitsetBytes(s.pieceHashes.length)).fill(0xff) })),
          });
          conn.claimed += segs.reduce((n, s) => n + s.pieceHashes.length, 0);
          send({ type: 'unchoke' });
          send({ type: 'interested' });
          const newest = segs.at(-1)?.seq ?? 0;
          for (let i = 0; i < this.opts.outOfWindowPieces; i++) {
            // Far ahead of the live edge, and long gone behind it.
            const seq = i % 2 === 0 ? newest + 1000 + i : Math.max(0, newest - 1000 - i);
            send({ type: 'piece', seq, piece: 0, data: randomBytes(this.pieceSize) });
            conn.outOfWindow++;
          }
          const t = setInterval(() => {
            if (this.live.has(ws)) sendUnrequested();
            else {
              clearInterval(t);
              this.timers.delete(t);
            }
          }, this.opts.unrequestedEveryMs);
          this.timers.add(t);
          return;
        }
        case 'bitfield':
          conn.acceptedAtMs ??= Date.now();
          return;
        case 'request': {
          conn.requests++;
          const seg = this.segments.get(m.seq);
          send({ type: 'piece', seq: m.seq, piece: m.piece, data: seg ? this.garbage(seg, m.piece) : randomBytes(this.pieceSize) });
          if (conn.badAnswers++ === 0) sendUnrequested();
          return;
        }
        default:
          return;
      }
    });
    return conn;
  }

  /** Bytes of exactly the piece's length that are not the piece. */
  private garbage(seg: SegmentAnnouncement, piece: number): Uint8Array {
    const { start, end } = pieceRange(seg.size, this.pieceSize, piece);
    return randomBytes(Math.max(1, end - start));
  }

  /** Lies to everyone it is connected to: it holds every piece of the new segment. */
  private claimEverywhere(s: SegmentAnnouncement): void {
    const pieces = s.pieceHashes.map((_, piece) => ({ seq: s.seq, piece }));
    const frame = encodeWire({ type: 'have', pieces });
    for (const [ws, conn] of this.live) {
      if (conn.acceptedAtMs === null || ws.readyState !== WebSocket.OPEN) continue;
      ws.send(frame, { binary: true });
      conn.claimed += pieces.length;
    }
  }
}

// ------------------------------------------------------------ raw clients

export interface Closed {
  code: number;
  reason: string;
  atMs: number;
}

/** A bare WebSocket client that records what happened to it. */
export interface RawClient {
  ws: WebSocket;
  /** True once open; false if the upgrade was refused or failed. */
  opened: Promise<boolean>;
  closed: Promise<Closed>;
  /** HTTP status of a refused upgrade (e.g. 503), if any. */
  refusedStatus: number | null;
  frames: { data: Buffer; binary: boolean }[];
  isOpen(): boolean;
}

export function rawClient(url: string, o: { localAddress?: string; maxPayload?: number } = {}): RawClient {
  const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 10_000, maxPayload: o.maxPayload ?? 64 * 1024 * 1024, ...(o.localAddress ? { localAddress: o.localAddress } : {}) });
  const client: RawClient = {
    ws,
    opened: null as unknown as Promise<boolean>,
    closed: null as unknown as Promise<Closed>,
    refusedStatus: null,
    frames: [],
    isOpen: () => ws.readyState === WebSocket.OPEN,
  };
  client.opened = new Promise((resolve) => {
    ws.once('open', () => resolve(true));
    ws.on('error', (err) => {
      const m = /Unexpected server response: (\d+)/.exec(err.message);
      if (m) client.refusedStatus = Number(m[1]);
      resolve(false);
    });
  });
  client.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString(), atMs: Date.now() })));
  ws.on('message', (data, binary) => client.frames.push({ data: data as Buffer, binary }));
  return client;
}

/** Whether a frame a raw client got from the tracker is a segment announcement (a binary frame). */
export function isAnnouncement(f: RawClient['frames'][number]): boolean {
  if (!f.binary) return false;
  const d = decodeTrackerToPeer(f.data);
  return d.ok && d.value.type === 'segment';
}

export function handshakeFrame(peerId: string, streamId = 'live', version = PROTOCOL_VERSION): Uint8Array {
  return encodeWire({ type: 'handshake', version, streamId, peerId });
}

/** Resolves with the close, or null if the socket is still open after `ms`. */
export function closedWithin(c: RawClient, ms: number): Promise<Closed | null> {
  return Promise.race([c.closed, new Promise<null>((resolve) => setTimeout(() => resolve(null), ms).unref())]);
}

// ------------------------------------------------------------ as a program

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const tracker = arg('tracker');
  if (!tracker) {
    process.stderr.write('usage: hostile-peer.ts --tracker ws://host:port/tracker [--peer-id id] [--upload-kbps n]\n');
    process.exit(2);
  }
  const h = new HostilePeer({ tracker, peerId: arg('peer-id'), uploadKbps: Number(arg('upload-kbps') ?? 1_000_000) });
  process.on('SIGTERM', () => void h.close().then(() => process.exit(0)));
  await h.start();
  process.stdout.write(`hostile ${h.peerId} listening at ${h.url}\n`);
  const report = setInterval(() => {
    const bad = h.conns.reduce((n, c) => n + c.badAnswers + c.unrequestedBad, 0);
    const closed = h.conns.filter((c) => c.closedAtMs !== null).map((c) => `${c.remoteId}:${c.closeCode} ${c.closeReason}`);
    process.stdout.write(`${h.openConns.length} open, ${bad} bad pieces sent, closed: ${closed.join(', ')}\n`);
  }, 5000);
  process.on('SIGINT', () => {
    clearInterval(report);
    void h.close().then(() => process.exit(0));
  });
}
