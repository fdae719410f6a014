import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../shared/clock.ts';
import {
  type PeerAddress,
  type PeerToTracker,
  type SignedAnnouncement,
  type SignedPartial,
  type TrackerToPeer,
  decodeTrackerToPeer,
  encodePeerToTracker,
} from '../shared/tracker-protocol.ts';
import { type TlsSetup, untrustedCertificate } from '../shared/tls.ts';
import type { Rng } from '../shared/rng.ts';
import { nextTracker } from './policy/tracker-failover.ts';
import { type SwarmCounters, frameOverheadBytes } from './swarm-counters.ts';
import type { TrackerConnect, TrackerSocket } from './tracker-socket.ts';
import { wsTrackerConnect } from './ws-tracker-socket.ts';

export interface TrackerClientDeps {
  /** The tracker, or several replicas of it: the first is dialled first (tracker-failover.ts). */
  url: string | readonly string[];
  /** Jitter for reconnection waits and the choice of the next tracker; none if absent (the simulator). */
  rng?: Rng;
  /** Options for a wss:// tracker (a private CA to trust), when `connect` is the default. */
  tlsClient?: TlsSetup['client'];
  /** How to reach the tracker; over ws unless given (the simulator connects in memory). */
  connect?: TrackerConnect;
  clock: Clock;
  log: Logger;
  counters: SwarmCounters;
  joinMessage(): PeerToTracker;
  onWelcome(w: Extract<TrackerToPeer, { type: 'welcome' }>): void;
  onSegment(a: SignedAnnouncement): void;
  /** The next piece hashes of a segment the origin is still receiving (progressive announcement in low-latency mode). */
  onPartial(a: SignedPartial): void;
  onPeers(peers: PeerAddress[]): void;
  onSeed(seq: number, piece: number, data: Uint8Array): void;
}

/**
 * The node's link to the origin's tracker. If the origin goes away the client
 * reconnects with backoff while the swarm keeps trading with the neighbours it
 * already has; given several tracker replicas, it reconnects to another one.
 */
export class TrackerClient {
  private readonly dial: TrackerConnect;
  private readonly urls: readonly string[];
  /** Index in `urls` of the tracker dialled last. */
  private current = 0;
  private socket: TrackerSocket | null = null;
  private attempt = 0;
  private timer: TimerHandle | null = null;
  private closed = false;
  joined = false;

  constructor(private readonly deps: TrackerClientDeps) {
    this.dial = deps.connect ?? wsTrackerConnect(deps.tlsClient);
    this.urls = typeof deps.url === 'string' ? [deps.url] : deps.url;
    if (this.urls.length === 0) throw new Error('no tracker URL');
  }

  start(): void {
    this.connect();
  }

  send(msg: PeerToTracker): void {
    if (!this.socket?.open || (!this.joined && msg.type !== 'join')) return;
    const text = encodePeerToTracker(msg);
    this.deps.counters.trackerBytesOut += text.length + frameOverheadBytes(text.length, true);
    this.socket.send(text);
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    if (this.socket?.open) {
      this.send({ type: 'leave' });
      this.socket.close(1000, 'bye');
    } else {
      this.socket?.terminate();
    }
  }

  private connect(): void {
    if (this.closed) return;
    const url = this.urls[this.current] as string;
    const socket: TrackerSocket = this.dial(url, {
      onError: (err) => {
        // An untrusted certificate does not heal by retrying: the operator must hear of it.
        const untrusted = untrustedCertificate(err);
        if (untrusted) this.deps.log.error({ url, code: untrusted.code }, `tracker TLS certificate not trusted (${untrusted.code}): ${untrusted.hint}`);
        else this.deps.log.debug({ err: err.message }, 'tracker socket error');
      },
      onOpen: () => this.send(this.deps.joinMessage()),
      onMessage: (frame) => this.onMessage(frame),
      onClose: (code, reason) => {
        if (this.socket !== socket) return;
        this.socket = null;
        this.joined = false;
        if (this.closed) return;
        const next = nextTracker(this.urls.length, this.current, this.attempt++, this.deps.rng ?? null);
        this.current = next.index;
        this.deps.log.info({ url, code, reason, retryInMs: next.delayMs, next: this.urls[next.index] }, 'tracker connection lost');
        this.timer = this.deps.clock.setTimeout(() => this.connect(), next.delayMs);
      },
    });
    this.socket = socket;
  }

  private onMessage(frame: string | Uint8Array): void {
    const bytes = typeof frame === 'string' ? Buffer.byteLength(frame, 'utf8') : frame.byteLength;
    const decoded = decodeTrackerToPeer(frame);
    if (!decoded.ok) return this.drop(`bad tracker ${typeof frame === 'string' ? 'message' : 'frame'}: ${decoded.error.message}`);
    const msg = decoded.value;
    // A seeded piece's bytes are segment payload, not control.
    const payload = msg.type === 'seed' ? msg.data.byteLength : 0;
    this.deps.counters.trackerBytesIn += bytes - payload + frameOverheadBytes(bytes, false);
    switch (msg.type) {
      case 'welcome':
        this.joined = true;
        this.attempt = 0;
        this.deps.onWelcome(msg);
        return;
      case 'segment':
        this.deps.onSegment(msg.announcement);
        return;
      case 'segment-part':
        this.deps.onPartial(msg.announcement);
        return;
      case 'seed':
        this.deps.onSeed(msg.seq, msg.piece, msg.data);
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
    this.socket?.close(1008, reason.slice(0, 120));
  }
}
