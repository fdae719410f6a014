import type { Logger } from 'pino';
import { WebSocket } from 'ws';
import type { Clock, TimerHandle } from '../shared/clock.ts';
import { MAX_PIECE_SIZE, MAX_TRACKER_MESSAGE_BYTES } from '../shared/limits.ts';
import type { SegmentAnnouncement } from '../shared/segment.ts';
import {
  type PeerAddress,
  type PeerToTracker,
  type TrackerToPeer,
  decodeSeedPiece,
  decodeTrackerToPeer,
  encodeTrackerMessage,
} from '../shared/tracker-protocol.ts';
import { type TlsSetup, untrustedCertificate } from '../shared/tls.ts';
import { type SwarmCounters, frameOverheadBytes } from './swarm-counters.ts';

export interface TrackerClientDeps {
  url: string;
  /** Options for a wss:// tracker (a private CA to trust). */
  tlsClient: TlsSetup['client'];
  clock: Clock;
  log: Logger;
  counters: SwarmCounters;
  joinMessage(): PeerToTracker;
  onWelcome(w: Extract<TrackerToPeer, { type: 'welcome' }>): void;
  onSegment(s: SegmentAnnouncement): void;
  onPeers(peers: PeerAddress[]): void;
  onSeed(seq: number, piece: number, data: Uint8Array): void;
}

export function reconnectDelayMs(attempt: number): number {
  return Math.min(10_000, 500 * 2 ** Math.min(attempt, 5));
}

/**
 * The node's link to the origin's tracker. If the origin goes away the client
 * reconnects with backoff while the swarm keeps trading with the neighbours it
 * already has.
 */
export class TrackerClient {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: TimerHandle | null = null;
  private closed = false;
  joined = false;

  constructor(private readonly deps: TrackerClientDeps) {}

  start(): void {
    this.connect();
  }

  send(msg: PeerToTracker): void {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || (!this.joined && msg.type !== 'join')) return;
    const text = encodeTrackerMessage(msg);
    this.deps.counters.trackerBytesOut += text.length + frameOverheadBytes(text.length, true);
    this.ws.send(text);
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.send({ type: 'leave' });
      this.ws.close(1000, 'bye');
    } else {
      this.ws?.terminate();
    }
  }

  private connect(): void {
    if (this.closed) return;
    const ws = new WebSocket(this.deps.url, { maxPayload: MAX_TRACKER_MESSAGE_BYTES + MAX_PIECE_SIZE, ...this.deps.tlsClient });
    this.ws = ws;
    ws.on('error', (err) => {
      // An untrusted certificate does not heal by retrying: the operator must hear of it.
      const untrusted = untrustedCertificate(err);
      if (untrusted) this.deps.log.error({ url: this.deps.url, code: untrusted.code }, `tracker TLS certificate not trusted (${untrusted.code}): ${untrusted.hint}`);
      else this.deps.log.debug({ err: err.message }, 'tracker socket error');
    });
    ws.on('open', () => this.send(this.deps.joinMessage()));
    ws.on('message', (data, isBinary) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      this.onMessage(buf, isBinary);
    });
    ws.on('close', (code, reason) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.joined = false;
      if (this.closed) return;
      const delay = reconnectDelayMs(this.attempt++);
      this.deps.log.info({ code, reason: reason.toString(), retryInMs: delay }, 'tracker connection lost');
      this.timer = this.deps.clock.setTimeout(() => this.connect(), delay);
    });
  }

  private onMessage(buf: Buffer, isBinary: boolean): void {
    const counters = this.deps.counters;
    if (isBinary) {
      const seed = decodeSeedPiece(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
      if (!seed.ok) return this.drop(`bad seed frame: ${seed.error.message}`);
      counters.trackerBytesIn += buf.byteLength - seed.value.data.byteLength + frameOverheadBytes(buf.byteLength, false);
      this.deps.onSeed(seed.value.seq, seed.value.piece, seed.value.data);
      return;
    }
    counters.trackerBytesIn += buf.byteLength + frameOverheadBytes(buf.byteLength, false);
    const decoded = decodeTrackerToPeer(buf.toString('utf8'));
    if (!decoded.ok) return this.drop(`bad tracker message: ${decoded.error.message}`);
    const msg = decoded.value;
    switch (msg.type) {
      case 'welcome':
        this.joined = true;
        this.attempt = 0;
        this.deps.onWelcome(msg);
        return;
      case 'segment':
        this.deps.onSegment(msg.segment);
        return;
      case 'peers':
        this.deps.onPeers(msg.peers);
        return;
      case 'error':
        this.deps.log.warn({ code: msg.code, message: msg.message }, 'tracker refused us');
        return;
    }
  }

  private drop(reason: string): void {
    this.deps.log.warn({ reason }, 'closing tracker connection');
    this.ws?.close(1008, reason.slice(0, 120));
  }
}
