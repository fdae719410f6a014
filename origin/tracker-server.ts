import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../shared/clock.ts';
import { FETCH_TOKEN_BYTES } from '../shared/fetch-token.ts';
import {
  MAX_CONCURRENT_PROBES,
  MAX_UNJOINED_TRACKER_CONNECTIONS,
  MAX_UNJOINED_TRACKER_CONNECTIONS_PER_ADDRESS,
  TRACKER_JOIN_TIMEOUT_MS,
  TRACKER_MESSAGE_BURST,
  TRACKER_MESSAGES_PER_SEC,
} from '../shared/limits.ts';
import { refuseUpgrade } from '../shared/refuse-upgrade.ts';
import type { Rng } from '../shared/rng.ts';
import { TokenBucket } from '../shared/token-bucket.ts';
import {
  type PeerAddress,
  type SignedAnnouncement,
  type SignedPartial,
  type TrackerToPeer,
  decodePeerToTracker,
  encodeTrackerToPeer,
  encodeWelcome,
  partialFrame,
  segmentFrame,
} from '../shared/tracker-protocol.ts';
import type { OriginConfig } from './config.ts';
import { type FetchClass, fetchClass } from './egress-class.ts';
import type { TrackerMetrics } from './metrics.ts';
import { clientAddress, peerWireUrl } from './peer-address.ts';
import { PeerRegistry, type PeerRecord } from './peer-registry.ts';
import { creditReport } from './peer-stats.ts';
import { type Probe, ProbeQueue, type ProbeResult } from './reachability-probe.ts';
import type { TrackerConn, TrackerConnEvents } from './tracker-conn.ts';
import { WsTrackerEdge } from './ws-tracker-edge.ts';

/** A peer this far behind on its socket is too slow to keep; dropping it bounds our memory. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** A peer whose tracker socket holds more than this unsent is skipped for seeding: the piece would arrive late. */
const SEED_BACKLOG_BYTES = 256 * 1024;
/**
 * How long a peer whose welcome listed fewer than peersPerList is told of
 * each peer whose probe passes: peers joining together would otherwise list
 * nobody (all still probing) until they ask again, 10 s later.
 */
const LATE_LISTING_MS = 10_000;

interface Conn {
  transport: TrackerConn;
  /** Where it comes from (see clientAddress); null behind a trusted proxy that did not say. */
  address: string | null;
  peer: PeerRecord | null;
  limiter: TokenBucket;
  joinTimer: TimerHandle | null;
  /** Terminates a refused connection whose peer does not answer the close. */
  reapTimer: TimerHandle | null;
  /** Gives back its place among the unjoined connections; idempotent. */
  releaseUnjoined: () => void;
}

export type TrackerConfig = Pick<
  OriginConfig,
  'streamId' | 'pieceSize' | 'peersPerList' | 'announceIntervalMs' | 'peerTimeoutMs' | 'maxPeers' | 'trustProxyHeader'
> & {
  /** The path its peers are listed and probed at (peer-address.ts): PEER_PATH unless given, renditionPeerPath for a rendition. */
  peerPath?: string;
};

/**
 * What tracker replicas of one swarm share (tracker-replica.ts, over Redis).
 * Without one, this tracker's own peers are the whole swarm.
 */
export interface SwarmShare {
  /** The window as the origin's segment frames, oldest first, relayed untouched. */
  windowFrames(): readonly Uint8Array[];
  /** Up to `max` listed peers of the whole swarm, whichever replica they joined, other than `exclude`. */
  sample(exclude: string, max: number, rng: Rng): PeerAddress[];
  /** True if another replica holds a peer with this id that `resume` (its last fetch token) does not prove to be. */
  takenElsewhere(peerId: string, resume: string | null): boolean;
  /** One of this tracker's peers joined, was probed, or was first credited with uploading. */
  publish(peer: PeerRecord): void;
  /** One of this tracker's peers left. */
  left(peer: PeerRecord): void;
}

interface TrackerBaseDeps {
  config: TrackerConfig;
  clock: Clock;
  rng: Rng;
  log: Logger;
  metrics: TrackerMetrics;
  /** The origin's public key, told to every peer in its welcome (shared/announcement-signature.ts). */
  originKey: string;
  /** Dials a joined peer's address to check it answers as that peer (reachability-probe.ts). */
  probe: Probe;
  /** A joined peer left the swarm (closed, timed out or was dropped). */
  onPeerLeft(peerId: string): void;
  /** With progressive announcement, the partials of the segments still arriving (open-segments.ts), told to each peer after its welcome. */
  openPartials?: () => readonly SignedPartial[];
}

/** A tracker on its own is given the origin's window; a replica gets window and swarm from its share. */
export type TrackerDeps = TrackerBaseDeps & (
  | {
      /** The live window's announcements, as the origin signed them. */
      window: () => SignedAnnouncement[];
      share?: undefined;
    }
  | { share: SwarmShare; window?: undefined }
);

/**
 * The tracker: peers join, learn the window and each other, and report their
 * stats. Its logic works on `TrackerConn`s: WebSocket upgrades come in through
 * `handleUpgrade`, in-memory connections (the simulator) through `attach`.
 */
export class TrackerServer {
  readonly registry = new PeerRegistry();
  /** Made at the first upgrade: a tracker that only ever takes in-memory connections never touches ws. */
  private ws: WsTrackerEdge | null = null;
  private readonly conns = new Map<string, Conn>();
  private readonly all = new Set<Conn>();
  /** Resolves close() once the last connection is gone. */
  private allGone: (() => void) | null = null;
  private sweepTimer: TimerHandle | null = null;
  private accepting = true;
  private closed: Promise<void> | null = null;
  /** Connections not joined yet, by address (null: a trusted proxy that gave none). */
  private readonly unjoined = new Map<string | null, number>();
  private unjoinedTotal = 0;
  private readonly probes: ProbeQueue<PeerRecord>;
  /** Connections welcomed with a short list: how many more peers to tell them of, and until when. */
  private readonly shortListed = new Map<Conn, { missing: number; untilMs: number }>();

  constructor(private readonly deps: TrackerDeps) {
    this.probes = new ProbeQueue(deps.probe, MAX_CONCURRENT_PROBES, (rec, result) => this.onProbed(rec, result));
  }

  start(): void {
    this.sweepTimer = this.deps.clock.setInterval(() => this.sweep(), this.sweepEveryMs());
  }

  /**
   * Upgrades a request to /tracker, unless too many connections that have
   * not joined are held already, in all or from its address: those get a
   * plain 503 before any WebSocket state exists.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const address = clientAddress(req.socket.remoteAddress, req.headers, this.deps.config.trustProxyHeader);
    const admitted = this.admit(address);
    if (!admitted.ok) {
      refuseUpgrade(socket, admitted.reason);
      return;
    }
    // Also covers an upgrade that fails before a connection exists.
    socket.once('close', admitted.release);
    this.ws ??= new WsTrackerEdge(this.deps.clock, this.sweepEveryMs(), this.deps.log);
    this.ws.handleUpgrade(req, socket, head, (transport) => this.accept(transport, address, admitted.release));
  }

  /**
   * Takes a connection that is already open, from `address` (the peer's host
   * as the tracker would see it). The caller delivers the connection's events
   * to what this returns; null means it was refused as an upgrade would be
   * (too many unjoined connections, or the tracker closed), and `transport`
   * has been closed with the reason.
   */
  attach(transport: TrackerConn, address: string | null): TrackerConnEvents | null {
    const admitted = this.admit(address);
    if (!admitted.ok) {
      transport.close(1013, admitted.reason);
      return null;
    }
    return this.accept(transport, address, admitted.release);
  }

  /** Pushes a new segment's signed announcement to every joined peer: the origin's bytes, framed once, the same frame for all. */
  announce(announcement: SignedAnnouncement): void {
    this.announceFrame(segmentFrame(announcement));
  }

  /** Pushes a segment frame (segmentFrame) to every joined peer as it is: a replica relaying the origin's bytes. */
  announceFrame(frame: Uint8Array): void {
    this.broadcast(frame, 'segment');
  }

  /** Pushes the next whole pieces' hashes of a segment still arriving (progressive low-latency) to every joined peer, framed once. */
  announcePart(partial: SignedPartial): void {
    this.broadcast(partialFrame(partial), 'segment-part');
  }

  private broadcast(frame: Uint8Array, type: TrackerToPeer['type']): void {
    let sent = 0;
    for (const c of this.conns.values()) if (this.write(c, frame)) sent++;
    // Counted once for all: a labelled counter's inc per peer is a measurable share of the broadcast (npm run bench:tracker).
    this.deps.metrics.trackerMessages.inc({ type, direction: 'out' }, sent);
  }

  /** Sends one piece of a segment to one peer (the origin seeding the swarm). Returns false if it could not. */
  seed(peerId: string, seq: number, piece: number, data: Uint8Array): boolean {
    const c = this.conns.get(peerId);
    if (!c || !c.transport.open || c.transport.bufferedAmount > MAX_BUFFERED_BYTES) return false;
    c.transport.send(encodeTrackerToPeer({ type: 'seed', seq, piece, data }));
    this.deps.metrics.seedBytes.inc(data.byteLength);
    return true;
  }

  /**
   * Sends a seed frame the origin made (its piece is `pieceBytes` long) to one
   * peer as it is, if that peer can take it now without queueing: a replica
   * delivering the origin's seeding. Returns false if it could not.
   */
  seedFrame(peerId: string, frame: Uint8Array, pieceBytes: number): boolean {
    if (!this.canSeed(peerId)) return false;
    (this.conns.get(peerId) as Conn).transport.send(frame);
    this.deps.metrics.seedBytes.inc(pieceBytes);
    return true;
  }

  /** A peer of another replica became listable: those welcomed with a short list lately hear of it. */
  listedElsewhere(peer: PeerAddress): void {
    this.tellShortListed(peer);
  }

  /** Joined peers that fetch the stream (not relay-only), and their declared upload capacity, for the seeder. */
  seedCandidates(): { peerId: string; uploadKbps: number }[] {
    const out: { peerId: string; uploadKbps: number }[] = [];
    for (const p of this.registry.all()) if (!p.relayOnly) out.push({ peerId: p.peerId, uploadKbps: p.uploadKbps });
    return out;
  }

  /** The egress class of an HTTP segment fetch that carried `token` (or none). */
  fetchClass(token: string | null): FetchClass {
    const peer = token === null ? null : (this.registry.byFetchToken(token) ?? null);
    return fetchClass(peer, this.deps.clock.nowMs());
  }

  /** True if a piece pushed to this peer now would leave without queueing behind a backlog. */
  canSeed(peerId: string): boolean {
    const c = this.conns.get(peerId);
    return c !== undefined && c.transport.open && c.transport.bufferedAmount <= SEED_BACKLOG_BYTES;
  }

  /**
   * From now on every join is refused (close 1001, `SHUTTING_DOWN`): the
   * origin calls this before it stops ingest, so nobody is welcomed into a
   * stream that is about to end. Joined peers keep their connection until close().
   */
  stopAccepting(): void {
    this.accepting = false;
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      this.sweepTimer?.cancel();
      this.probes.close();
      for (const c of this.all) {
        c.joinTimer?.cancel();
        c.transport.close(1001, 'origin shutting down');
      }
      // Peers that do not answer the close handshake are not waited for.
      const deadline = this.deps.clock.setTimeout(() => {
        for (const c of this.all) c.transport.terminate();
      }, 1000);
      const gone = this.all.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.allGone = resolve));
      await Promise.all([gone, this.ws?.close()]);
      deadline.cancel();
    })();
    return this.closed;
  }

  private sweepEveryMs(): number {
    return Math.max(250, Math.floor(this.deps.config.peerTimeoutMs / 4));
  }

  /** Takes a place among the unjoined connections, or says why there is none. */
  private admit(address: string | null): { ok: true; release: () => void } | { ok: false; reason: string } {
    if (this.closed) return { ok: false, reason: 'SHUTTING_DOWN: origin shutting down' };
    const fromAddress = this.unjoined.get(address) ?? 0;
    const refused =
      this.unjoinedTotal >= MAX_UNJOINED_TRACKER_CONNECTIONS
        ? 'UNJOINED_LIMIT'
        : fromAddress >= MAX_UNJOINED_TRACKER_CONNECTIONS_PER_ADDRESS
          ? 'UNJOINED_LIMIT_PER_ADDRESS'
          : null;
    if (refused) {
      this.deps.metrics.trackerRejected.inc({ code: refused });
      this.deps.log.debug({ address, code: refused }, 'tracker upgrade refused');
      return { ok: false, reason: `${refused}: too many tracker connections waiting to join` };
    }
    this.unjoined.set(address, fromAddress + 1);
    this.unjoinedTotal++;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.unjoinedTotal--;
      const n = (this.unjoined.get(address) ?? 1) - 1;
      if (n === 0) this.unjoined.delete(address);
      else this.unjoined.set(address, n);
    };
    return { ok: true, release };
  }

  private accept(transport: TrackerConn, address: string | null, releaseUnjoined: () => void): TrackerConnEvents {
    const now = this.deps.clock.nowMs();
    const conn: Conn = {
      transport,
      address,
      peer: null,
      limiter: new TokenBucket(TRACKER_MESSAGES_PER_SEC, TRACKER_MESSAGE_BURST, now),
      joinTimer: null,
      reapTimer: null,
      releaseUnjoined,
    };
    this.all.add(conn);
    conn.joinTimer = this.deps.clock.setTimeout(
      () => this.reject(conn, 'JOIN_TIMEOUT', `no join within ${TRACKER_JOIN_TIMEOUT_MS / 1000} s`),
      TRACKER_JOIN_TIMEOUT_MS,
    );
    let gone = false;
    return {
      onMessage: (frame) => this.onMessage(conn, frame),
      onAlive: () => {
        if (conn.peer) conn.peer.lastSeenMs = this.deps.clock.nowMs();
      },
      onClose: () => {
        if (gone) return;
        gone = true;
        conn.joinTimer?.cancel();
        conn.reapTimer?.cancel();
        this.all.delete(conn);
        conn.releaseUnjoined();
        this.shortListed.delete(conn);
        if (conn.peer && this.conns.get(conn.peer.peerId) === conn) this.dropPeer(conn.peer);
        if (this.all.size === 0) this.allGone?.();
      },
    };
  }

  private onMessage(conn: Conn, frame: string | Uint8Array): void {
    // Refused or leaving: the transport still delivers what the peer sent meanwhile, and none of it is read.
    if (!conn.transport.open) return;
    const now = this.deps.clock.nowMs();
    if (!conn.limiter.tryTake(1, now)) return this.reject(conn, 'RATE_LIMITED', `more than ${TRACKER_MESSAGES_PER_SEC} messages/s`);
    if (typeof frame !== 'string') return this.reject(conn, 'ERR_MALFORMED', 'peers send text frames to the tracker');
    const decoded = decodePeerToTracker(frame);
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
        if (this.registry.has(msg.peerId) || this.deps.share?.takenElsewhere(msg.peerId, msg.resume ?? null)) {
          return this.reject(conn, 'PEER_ID_TAKEN', 'peer id in use');
        }
        if (this.registry.size >= this.deps.config.maxPeers) return this.reject(conn, 'SWARM_FULL', 'tracker is full');
        conn.joinTimer?.cancel();
        conn.joinTimer = null;
        conn.releaseUnjoined();
        // Its own address with the port it gave and this tracker's path, and listed only once the probe hears it answer there.
        // The token is a secret, not chance: from the system's generator, never the seeded rng.
        const fetchToken = randomBytes(FETCH_TOKEN_BYTES).toString('base64url');
        const peer = this.registry.add(msg.peerId, peerWireUrl(msg.url, conn.address, this.deps.config.peerPath), msg.uploadKbps, fetchToken, now);
        conn.peer = peer;
        this.conns.set(msg.peerId, conn);
        this.deps.metrics.peers.set(this.registry.size);
        // Welcomed at once: the probe decides only whether others are told of it, not whether it may watch.
        const listed = this.sample(msg.peerId, this.deps.config.peersPerList);
        const welcome = {
          type: 'welcome',
          version: msg.version,
          streamId: this.deps.config.streamId,
          peerId: msg.peerId,
          pieceSize: this.deps.config.pieceSize,
          announceIntervalMs: this.deps.config.announceIntervalMs,
          originTimeMs: now,
          peers: listed,
          fetchToken,
          originKey: this.deps.originKey,
        } as const;
        const share = this.deps.share;
        if (share) this.sendFrame(conn, 'welcome', encodeWelcome(welcome, share.windowFrames()));
        else this.send(conn, { ...welcome, segments: this.deps.window() });
        const partials = this.deps.openPartials?.() ?? [];
        for (const p of partials) this.write(conn, partialFrame(p));
        if (partials.length > 0) this.deps.metrics.trackerMessages.inc({ type: 'segment-part', direction: 'out' }, partials.length);
        share?.publish(peer);
        const missing = this.deps.config.peersPerList - listed.length;
        if (missing > 0) this.shortListed.set(conn, { missing, untilMs: now + LATE_LISTING_MS });
        if (peer.reachability === 'probing') this.probes.add(peer);
        return;
      }
      case 'announce': {
        if (!conn.peer) return this.reject(conn, 'NOT_JOINED', 'announce before join');
        const p = conn.peer;
        const { growth, credited } = creditReport(p.stats, p.reported, msg.stats, now - p.reportedAtMs);
        const firstUpload = p.stats.uploadedBytes === 0 && credited.uploadedBytes > 0;
        p.stats = credited;
        // The origin judges its fetches by whether it uploads (egress-class.ts): other processes hear of it once.
        if (firstUpload) this.deps.share?.publish(p);
        p.reported = msg.stats;
        p.reportedAtMs = now;
        const m = this.deps.metrics;
        m.peerP2pBytes.inc(growth.p2pBytes);
        m.peerOriginBytes.inc(growth.originBytes);
        m.peerUploadedBytes.inc(growth.uploadedBytes);
        m.peerStalls.inc(growth.stalls);
        m.peerHashFailures.inc(growth.hashFailures);
        return;
      }
      case 'relay-only':
        if (!conn.peer) return this.reject(conn, 'NOT_JOINED', 'relay-only before join');
        if (conn.peer.relayOnly === msg.on) return;
        conn.peer.relayOnly = msg.on;
        // The origin's seeder may be in another process (replicas): it hears of it as of any change of a member.
        this.deps.share?.publish(conn.peer);
        return;
      case 'get-peers':
        if (!conn.peer) return this.reject(conn, 'NOT_JOINED', 'get-peers before join');
        this.send(conn, { type: 'peers', peers: this.sample(conn.peer.peerId, msg.max) });
        return;
      case 'leave':
        conn.transport.close(1000, 'bye');
        return;
    }
  }

  private sample(exclude: string, max: number): PeerAddress[] {
    return this.deps.share ? this.deps.share.sample(exclude, max, this.deps.rng) : this.registry.sample(exclude, max, this.deps.rng);
  }

  private send(conn: Conn, msg: TrackerToPeer): void {
    this.sendFrame(conn, msg.type, encodeTrackerToPeer(msg));
  }

  private sendFrame(conn: Conn, type: string, frame: string | Uint8Array): void {
    if (this.write(conn, frame)) this.deps.metrics.trackerMessages.inc({ type, direction: 'out' });
  }

  /** Sends unless the connection is closing or too far behind (then dropped); says whether it sent. */
  private write(conn: Conn, frame: string | Uint8Array): boolean {
    if (!conn.transport.open) return false;
    if (conn.transport.bufferedAmount > MAX_BUFFERED_BYTES) {
      conn.transport.terminate();
      return false;
    }
    conn.transport.send(frame);
    return true;
  }

  private reject(conn: Conn, code: string, message: string, closeCode = 1008): void {
    this.deps.metrics.trackerRejected.inc({ code });
    this.deps.log.info({ code, message, peerId: conn.peer?.peerId }, 'tracker connection rejected');
    this.send(conn, { type: 'error', code: code.replace(/^ERR_/, ''), message });
    conn.joinTimer?.cancel();
    // Set before the close, so a transport that ends at once still has it cancelled.
    conn.reapTimer = this.deps.clock.setTimeout(() => conn.transport.terminate(), 1000);
    // Close reasons are limited to 123 bytes by the WebSocket spec.
    conn.transport.close(closeCode, `${code}: ${message}`.slice(0, 120));
  }

  private onProbed(peer: PeerRecord, result: ProbeResult): void {
    this.deps.metrics.trackerProbes.inc({ result: result.ok ? 'reachable' : result.code });
    if (!result.ok) this.deps.log.debug({ peerId: peer.peerId, url: peer.url, code: result.code, message: result.message }, 'peer not reachable');
    // A peer that left, even if one with its id joined since, is not settled by this probe.
    if (this.registry.get(peer.peerId) !== peer) return;
    this.registry.settle(peer.peerId, result.ok);
    this.deps.metrics.reachablePeers.set(this.registry.reachableCount);
    this.deps.share?.publish(peer);
    if (result.ok) this.tellShortListed({ peerId: peer.peerId, url: peer.url as string });
  }

  /** Unasked `peers` with the newly listed peer, to those welcomed with a short list lately (but itself). */
  private tellShortListed(listed: PeerAddress): void {
    const now = this.deps.clock.nowMs();
    const frame = encodeTrackerToPeer({ type: 'peers', peers: [listed] });
    for (const [c, wanted] of this.shortListed) {
      if (now > wanted.untilMs) {
        this.shortListed.delete(c);
        continue;
      }
      if (c.peer?.peerId === listed.peerId) continue;
      this.sendFrame(c, 'peers', frame);
      if (--wanted.missing === 0) this.shortListed.delete(c);
    }
  }

  private dropPeer(peer: PeerRecord): void {
    this.probes.forget(peer);
    this.conns.delete(peer.peerId);
    this.registry.remove(peer.peerId);
    this.deps.metrics.peers.set(this.registry.size);
    this.deps.metrics.reachablePeers.set(this.registry.reachableCount);
    this.deps.share?.left(peer);
    this.deps.onPeerLeft(peer.peerId);
  }

  private sweep(): void {
    const now = this.deps.clock.nowMs();
    for (const id of this.registry.stale(now - this.deps.config.peerTimeoutMs)) {
      const c = this.conns.get(id);
      const peer = this.registry.get(id);
      this.deps.log.info({ peerId: id }, 'peer timed out');
      if (peer) this.dropPeer(peer);
      c?.transport.terminate();
    }
  }
}
