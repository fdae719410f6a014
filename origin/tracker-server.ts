import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import type { Clock, TimerHandle } from '../shared/clock.ts';
import {
  MAX_TRACKER_INBOUND_BYTES,
  TRACKER_JOIN_TIMEOUT_MS,
  TRACKER_MESSAGE_BURST,
  TRACKER_MESSAGES_PER_SEC,
} from '../shared/limits.ts';
import type { Rng } from '../shared/rng.ts';
import type { SegmentAnnouncement } from '../shared/segment.ts';
import { TokenBucket } from '../shared/token-bucket.ts';
import { type TrackerToPeer, decodePeerToTracker, encodeSeedPiece, encodeTrackerMessage } from '../shared/tracker-protocol.ts';
import type { OriginConfig } from './config.ts';
import type { OriginMetrics } from './metrics.ts';
import { PeerRegistry, type PeerRecord, statsDelta } from './peer-registry.ts';

/** A peer this far behind on its socket is too slow to keep; dropping it bounds our memory. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** A peer whose tracker socket holds more than this unsent is skipped for seeding: the piece would arrive late. */
const SEED_BACKLOG_BYTES = 256 * 1024;

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

interface Conn {
  ws: WebSocket;
  peer: PeerRecord | null;
  limiter: TokenBucket;
  joinTimer: TimerHandle | null;
}

export type TrackerConfig = Pick<
  OriginConfig,
  'streamId' | 'pieceSize' | 'peersPerList' | 'announceIntervalMs' | 'peerTimeoutMs' | 'maxPeers'
>;

export interface TrackerDeps {
  config: TrackerConfig;
  clock: Clock;
  rng: Rng;
  log: Logger;
  metrics: OriginMetrics;
  window: () => SegmentAnnouncement[];
  /** A joined peer left the swarm (closed, timed out or was dropped). */
  onPeerLeft(peerId: string): void;
}

/** The tracker: peers join over WebSocket, learn the window and each other, and report their stats. */
export class TrackerServer {
  readonly registry = new PeerRegistry();
  private readonly wss: WebSocketServer;
  private readonly conns = new Map<string, Conn>();
  private readonly all = new Set<Conn>();
  private sweepTimer: TimerHandle | null = null;
  private totals = { p2p: 0, origin: 0 };
  private accepting = true;

  constructor(private readonly deps: TrackerDeps) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_TRACKER_INBOUND_BYTES, WebSocket: TrackerWebSocket });
    this.wss.on('error', (err) => deps.log.error({ err }, 'tracker server error'));
    this.wss.on('connection', (ws) => this.onConnection(ws));
  }

  start(): void {
    const every = Math.max(250, Math.floor(this.deps.config.peerTimeoutMs / 4));
    this.sweepTimer = this.deps.clock.setInterval(() => this.sweep(), every);
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  /** Pushes a new segment's announcement to every joined peer. */
  announce(segment: SegmentAnnouncement): void {
    const msg: TrackerToPeer = { type: 'segment', segment };
    const text = encodeTrackerMessage(msg);
    for (const c of this.conns.values()) this.sendText(c, 'segment', text);
  }

  /** Sends one piece of a segment to one peer (the origin seeding the swarm). Returns false if it could not. */
  seed(peerId: string, seq: number, piece: number, data: Uint8Array): boolean {
    const c = this.conns.get(peerId);
    if (!c || c.ws.readyState !== WebSocket.OPEN || c.ws.bufferedAmount > MAX_BUFFERED_BYTES) return false;
    c.ws.send(encodeSeedPiece({ seq, piece, data }), { binary: true });
    this.deps.metrics.seedBytes.inc(data.byteLength);
    return true;
  }

  /** Joined peers and their declared upload capacity, for the seeder. */
  seedCandidates(): { peerId: string; uploadKbps: number }[] {
    return [...this.registry.all()].map((p) => ({ peerId: p.peerId, uploadKbps: p.uploadKbps }));
  }

  /** True if a piece pushed to this peer now would leave without queueing behind a backlog. */
  canSeed(peerId: string): boolean {
    const c = this.conns.get(peerId);
    return c !== undefined && c.ws.readyState === WebSocket.OPEN && c.ws.bufferedAmount <= SEED_BACKLOG_BYTES;
  }

  offloadRatio(): number {
    const all = this.totals.p2p + this.totals.origin;
    return all === 0 ? 0 : this.totals.p2p / all;
  }

  /**
   * From now on every join is refused (close 1001, `SHUTTING_DOWN`): the
   * origin calls this before it stops ingest, so nobody is welcomed into a
   * stream that is about to end. Joined peers keep their connection until close().
   */
  stopAccepting(): void {
    this.accepting = false;
  }

  async close(): Promise<void> {
    this.sweepTimer?.cancel();
    for (const c of this.all) {
      c.joinTimer?.cancel();
      c.ws.close(1001, 'origin shutting down');
    }
    const deadline = setTimeout(() => {
      for (const c of this.all) c.ws.terminate();
    }, 1000);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    clearTimeout(deadline);
  }

  private onConnection(ws: WebSocket): void {
    const now = this.deps.clock.nowMs();
    const conn: Conn = { ws, peer: null, limiter: new TokenBucket(TRACKER_MESSAGES_PER_SEC, TRACKER_MESSAGE_BURST, now), joinTimer: null };
    this.all.add(conn);
    conn.joinTimer = this.deps.clock.setTimeout(
      () => this.reject(conn, 'JOIN_TIMEOUT', `no join within ${TRACKER_JOIN_TIMEOUT_MS / 1000} s`),
      TRACKER_JOIN_TIMEOUT_MS,
    );
    ws.on('error', (err) => this.deps.log.debug({ err: err.message }, 'tracker socket error'));
    ws.on('pong', () => {
      if (conn.peer) conn.peer.lastSeenMs = this.deps.clock.nowMs();
    });
    ws.on('message', (data, isBinary) => this.onMessage(conn, data as Buffer, isBinary));
    ws.on('close', () => {
      conn.joinTimer?.cancel();
      this.all.delete(conn);
      if (conn.peer && this.conns.get(conn.peer.peerId) === conn) {
        this.conns.delete(conn.peer.peerId);
        this.registry.remove(conn.peer.peerId);
        this.deps.metrics.peers.set(this.registry.size);
        this.deps.onPeerLeft(conn.peer.peerId);
      }
    });
  }

  private onMessage(conn: Conn, data: Buffer, isBinary: boolean): void {
    // Refused or leaving: ws still delivers what the peer sent meanwhile, and none of it is read.
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    const now = this.deps.clock.nowMs();
    if (!conn.limiter.tryTake(1, now)) return this.reject(conn, 'RATE_LIMITED', `more than ${TRACKER_MESSAGES_PER_SEC} messages/s`);
    if (isBinary) return this.reject(conn, 'ERR_MALFORMED', 'peers send text frames to the tracker');
    const decoded = decodePeerToTracker(data.toString('utf8'));
    if (!decoded.ok) return this.reject(conn, decoded.error.code, decoded.error.message);
    const msg = decoded.value;
    this.deps.metrics.trackerMessages.inc({ type: msg.type, direction: 'in' });
    if (conn.peer) conn.peer.lastSeenMs = now;
    switch (msg.type) {
      case 'join': {
        if (conn.peer) return this.reject(conn, 'ALREADY_JOINED', 'join sent twice');
        if (!this.accepting) return this.reject(conn, 'SHUTTING_DOWN', 'origin shutting down', 1001);
        if (msg.streamId !== this.deps.config.streamId) return this.reject(conn, 'UNKNOWN_STREAM', `no stream ${msg.streamId}`);
        // A live peer keeps its id: a second join with it is refused, so nobody can evict another peer by claiming its id.
        if (this.registry.has(msg.peerId)) return this.reject(conn, 'PEER_ID_TAKEN', 'peer id in use');
        if (this.registry.size >= this.deps.config.maxPeers) return this.reject(conn, 'SWARM_FULL', 'tracker is full');
        conn.joinTimer?.cancel();
        conn.joinTimer = null;
        conn.peer = this.registry.add(msg.peerId, msg.url, msg.uploadKbps, now);
        this.conns.set(msg.peerId, conn);
        this.deps.metrics.peers.set(this.registry.size);
        this.send(conn, {
          type: 'welcome',
          version: msg.version,
          streamId: this.deps.config.streamId,
          peerId: msg.peerId,
          pieceSize: this.deps.config.pieceSize,
          announceIntervalMs: this.deps.config.announceIntervalMs,
          originTimeMs: now,
          segments: this.deps.window(),
          peers: this.registry.sample(msg.peerId, this.deps.config.peersPerList, this.deps.rng),
        });
        return;
      }
      case 'announce': {
        if (!conn.peer) return this.reject(conn, 'NOT_JOINED', 'announce before join');
        const d = statsDelta(conn.peer.stats, msg.stats);
        conn.peer.stats = msg.stats;
        const m = this.deps.metrics;
        m.peerP2pBytes.inc(d.p2pBytes);
        m.peerOriginBytes.inc(d.originBytes);
        m.peerUploadedBytes.inc(d.uploadedBytes);
        m.peerStalls.inc(d.stalls);
        m.peerHashFailures.inc(d.hashFailures);
        this.totals.p2p += d.p2pBytes;
        this.totals.origin += d.originBytes;
        m.offloadRatio.set(this.offloadRatio());
        return;
      }
      case 'get-peers':
        if (!conn.peer) return this.reject(conn, 'NOT_JOINED', 'get-peers before join');
        this.send(conn, { type: 'peers', peers: this.registry.sample(conn.peer.peerId, msg.max, this.deps.rng) });
        return;
      case 'leave':
        conn.ws.close(1000, 'bye');
        return;
    }
  }

  private send(conn: Conn, msg: TrackerToPeer): void {
    this.sendText(conn, msg.type, encodeTrackerMessage(msg));
  }

  private sendText(conn: Conn, type: string, text: string): void {
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    if (conn.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      conn.ws.terminate();
      return;
    }
    conn.ws.send(text);
    this.deps.metrics.trackerMessages.inc({ type, direction: 'out' });
  }

  private reject(conn: Conn, code: string, message: string, closeCode = 1008): void {
    this.deps.metrics.trackerRejected.inc({ code });
    this.deps.log.info({ code, message, peerId: conn.peer?.peerId }, 'tracker connection rejected');
    this.send(conn, { type: 'error', code: code.replace(/^ERR_/, ''), message });
    // Close reasons are limited to 123 bytes by the WebSocket spec.
    conn.ws.close(closeCode, `${code}: ${message}`.slice(0, 120));
    conn.joinTimer?.cancel();
    const ws = conn.ws;
    this.deps.clock.setTimeout(() => ws.terminate(), 1000);
  }

  private sweep(): void {
    const now = this.deps.clock.nowMs();
    for (const id of this.registry.stale(now - this.deps.config.peerTimeoutMs)) {
      const c = this.conns.get(id);
      this.deps.log.info({ peerId: id }, 'peer timed out');
      this.registry.remove(id);
      this.conns.delete(id);
      c?.ws.terminate();
      this.deps.onPeerLeft(id);
    }
    this.deps.metrics.peers.set(this.registry.size);
    for (const c of this.conns.values()) if (c.ws.readyState === WebSocket.OPEN) c.ws.ping();
  }
}
