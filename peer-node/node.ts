import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import { listen } from '../shared/listen.ts';
import { refuseUpgrade } from '../shared/refuse-upgrade.ts';
import { createWebServer, loadTls } from '../shared/tls.ts';
import { type Clock, type TimerHandle, systemClock } from '../shared/clock.ts';
import {
  MAX_PENDING_PEER_CONNECTIONS,
  MAX_PENDING_PEER_CONNECTIONS_PER_ADDRESS,
  DEFAULT_PIECE_SIZE,
  MAX_WIRE_FRAME_BYTES,
  PROTOCOL_VERSION,
} from '../shared/limits.ts';
import { type Rng, seededRng } from '../shared/rng.ts';
import type { SegmentAnnouncement } from '../shared/segment.ts';
import type { PlayerReport } from '../shared/player-api.ts';
import type { PeerStats } from '../shared/tracker-protocol.ts';
import type { PeerConfig } from './config.ts';
import { createHttpApi } from './http-api.ts';
import { type Link, LinkShaper } from './link.ts';
import { createPeerMetrics } from './metrics.ts';
import { segmentsToList } from './listing.ts';
import { Neighbourhood } from './neighbourhood.ts';
import { OriginFetcher } from './origin-fetch.ts';
import { SegmentStore } from './segment-store.ts';
import { type SwarmCounters, newCounters } from './swarm-counters.ts';
import { Swarm } from './swarm.ts';
import { TrackerClient } from './tracker-client.ts';
import { PeerWebSocket, wsLink } from './ws-link.ts';

export interface PeerNodeDeps {
  log: Logger;
  clock?: Clock;
  rng?: Rng;
  /** Folder of the player page served at `/`, or null for none. */
  staticDir?: string | null;
}

export interface PeerNode {
  readonly peerId: string;
  /** Base URL of the local HTTP server (player, playlist, metrics). */
  readonly url: string;
  readonly port: number;
  readonly counters: SwarmCounters;
  readonly swarm: Swarm;
  readonly store: SegmentStore;
  start(): Promise<void>;
  close(): Promise<void>;
}

const MAINTAIN_MS = 1000;
const GET_PEERS_EVERY_MS = 10_000;
const DIAL_TIMEOUT_MS = 3000;
/** A declared capacity of "unlimited", as the tracker's seeder should weigh it. */
const UNLIMITED_KBPS = 1_000_000;
const READY_WAIT_MS = 1000;

export function createPeerNode(config: PeerConfig, deps: PeerNodeDeps): PeerNode {
  const clock = deps.clock ?? systemClock;
  const rng = deps.rng ?? seededRng(config.seed || (Date.now() ^ process.pid));
  const tls = loadTls(config);
  const peerId = config.peerId ?? randomBytes(9).toString('base64url');
  const log = deps.log.child({ peerId });
  const counters = newCounters();
  const store = new SegmentStore(config.storeSegments, DEFAULT_PIECE_SIZE, clock);
  const shaper = new LinkShaper(config, clock);
  const neighbourhood = new Neighbourhood(peerId);
  const originBase = config.origin ?? config.tracker.replace(/^ws/, 'http').replace(/\/tracker$/, '');
  const originFetcher = new OriginFetcher(originBase, tls.client, shaper, clock);
  const timers: TimerHandle[] = [];
  let port = config.port;
  let lastGetPeersMs = -Infinity;
  let announceTimer: TimerHandle | null = null;
  let welcomedAtMs: number | null = null;
  let started = false;
  let playlistStarted = false;
  let playerStalls = { stalls: 0, stallMs: 0 };
  let closed: Promise<void> | null = null;
  const dialling = new Set<WebSocket>();
  /** Playlist requests waiting for something to list: a new neighbour may be what they wait for. */
  const listingWaiters = new Set<() => void>();
  /** Inbound links not handshaken yet, and the address each came from. */
  const pendingInbound = new Map<Link, string>();
  /**
   * Slots kept for neighbours we dial ourselves. Inbound connections cannot
   * take them, so however many connections others open to us (sybils, a
   * crowd), the node still reaches peers of its own choosing.
   */
  const reservedOutbound = Math.min(Math.ceil(config.neighbours / 2), Math.floor(config.maxNeighbours / 2));
  const perAddressFull = (address: string) => config.maxNeighboursPerAddress > 0 && swarm.countFrom(address) >= config.maxNeighboursPerAddress;

  const swarm = new Swarm({
    config,
    peerId,
    streamId: config.streamId,
    clock,
    rng,
    log,
    store,
    shaper,
    counters,
    fetchFromOrigin: (seq, piece, done) => {
      const e = store.get(seq);
      if (e) void originFetcher.piece(seq, piece, e.info.size, store.pieceSize).then(done);
      else done(null);
    },
    onBan: (id) => neighbourhood.ban(id),
    isBanned: (id) => neighbourhood.isBanned(id),
    onNeighboursChanged: () => {
      for (const n of swarm.handshaken()) pendingInbound.delete(n.link);
      for (const w of [...listingWaiters]) w();
    },
  });

  /** `ageMs` tells how long ago each segment was published, so old ones are not mistaken for new. */
  function announce(segments: readonly SegmentAnnouncement[], ageMs: (s: SegmentAnnouncement) => number = () => 0): void {
    const now = clock.nowMs();
    let last: number | null = null;
    for (const s of segments) if (store.announce(s, now, ageMs(s))) last = s.seq;
    if (last !== null) swarm.onAnnounced(last);
  }

  /**
   * The player gets a playlist once the node can feed it from the swarm: it
   * has a neighbour, or knows of none, or has waited long enough. Before
   * that, its first segments would all come from the origin.
   */
  function ready(): boolean {
    if (started) return true;
    if (welcomedAtMs === null) return false;
    const lonely = neighbourhood.size === 0;
    if (swarm.handshaken().length === 0 && !lonely && clock.nowMs() - welcomedAtMs < READY_WAIT_MS) return false;
    started = true;
    swarm.chooseStart(lonely);
    return true;
  }

  /**
   * The playlist stays empty until it can list the hold-back, so a player
   * starts as far behind live as it expects rather than at the very edge.
   */
  function listed(): SegmentAnnouncement[] {
    if (!ready()) return [];
    const list = segmentsToList(
      store.all().map((e) => ({
        seq: e.info.seq,
        complete: e.complete !== null,
        publishedLocalMs: e.publishedLocalMs,
        info: { ...e.info, discontinuity: e.localDiscontinuity },
      })),
      swarm.firstWanted,
      clock.nowMs(),
      config.listDelayMs,
      config.playlistSegments,
    ).map((e) => e.info);
    if (!playlistStarted && list.length < config.holdBackSegments) return [];
    playlistStarted = true;
    return list;
  }

  /**
   * When time alone, with no new piece or neighbour, may change what is
   * listed: the end of the wait for a first neighbour, or a segment's list delay.
   */
  function nextListingChangeMs(): number | null {
    const now = clock.nowMs();
    let next = welcomedAtMs !== null && !started ? welcomedAtMs + READY_WAIT_MS : Number.POSITIVE_INFINITY;
    for (const e of store.all()) {
      const at = e.publishedLocalMs + config.listDelayMs;
      if (e.complete === null && at > now) next = Math.min(next, at);
    }
    return Number.isFinite(next) ? next - now : null;
  }

  /** Resolves with the listing once it is not empty: rechecked when pieces, announcements or neighbours change, and when time alone would change it. */
  function waitListed(timeoutMs: number, gone: () => boolean): Promise<SegmentAnnouncement[]> {
    const now = listed();
    if (now.length > 0) return Promise.resolve(now);
    return new Promise((resolve) => {
      let timeChange: TimerHandle | null = null;
      const check = () => {
        const list = listed();
        if (list.length > 0 || gone()) return finish(list);
        timeChange?.cancel();
        const wait = nextListingChangeMs();
        timeChange = wait === null ? null : clock.setTimeout(check, wait);
      };
      const finish = (list: SegmentAnnouncement[]) => {
        stopStore();
        listingWaiters.delete(check);
        timeChange?.cancel();
        deadline.cancel();
        resolve(list);
      };
      const stopStore = store.onChange(check);
      listingWaiters.add(check);
      const deadline = clock.setTimeout(() => finish(listed()), timeoutMs);
      check();
    });
  }

  function stats(): PeerStats {
    return {
      p2pBytes: counters.p2pBytes,
      originBytes: counters.originBytes,
      uploadedBytes: counters.uploadedBytes,
      stalls: counters.stalls,
      stallMs: counters.stallMs,
      neighbours: swarm.handshaken().length,
      hashFailures: counters.hashFailures,
    };
  }

  const tracker = new TrackerClient({
    url: config.tracker,
    tlsClient: tls.client,
    clock,
    log,
    counters,
    joinMessage: () => ({
      type: 'join',
      version: PROTOCOL_VERSION,
      streamId: config.streamId,
      peerId,
      url: `${tls.server ? 'wss' : 'ws'}://${advertisedHost()}:${port}/peer`,
      uploadKbps: config.uploadKbps < 0 ? UNLIMITED_KBPS : config.uploadKbps,
    }),
    onWelcome: (w) => {
      store.setPieceSize(w.pieceSize);
      neighbourhood.learn(w.peers);
      welcomedAtMs ??= clock.nowMs();
      announce(w.segments, (s) => w.originTimeMs - s.publishedAtMs);
      announceTimer?.cancel();
      announceTimer = clock.setInterval(() => tracker.send({ type: 'announce', stats: stats() }), w.announceIntervalMs);
      maintain();
    },
    onSegment: (s) => announce([s]),
    onPeers: (peers) => {
      neighbourhood.learn(peers);
      maintain();
    },
    onSeed: (seq, piece, data) => {
      shaper.download(data.byteLength, () => {
        if (store.putPiece(seq, piece, data, clock.nowMs()) !== 'stored') return;
        counters.originBytes += data.byteLength;
        counters.seedBytes += data.byteLength;
        swarm.onPieceStored(seq, piece);
      });
    },
  });

  function advertisedHost(): string {
    if (config.advertiseHost) return config.advertiseHost;
    return config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  }

  /**
   * Keeps the neighbour count near its target, and at least the reserved
   * share of it dialled by us: dial known peers, ask the tracker for more when
   * we run out.
   */
  function maintain(): void {
    ready();
    const now = clock.nowMs();
    const skip = (id: string, url: string) => swarm.connectedTo(id) || perAddressFull(hostOf(url));
    const outbound = swarm.size - swarm.inbound;
    const wanted = Math.min(
      Math.max(config.neighbours - swarm.size, reservedOutbound - outbound) - dialling.size,
      config.maxNeighbours - swarm.size - dialling.size,
    );
    const targets = neighbourhood.toDial(wanted, skip, now, rng);
    for (const t of targets) dial(t.peerId, t.url);
    if (targets.length < wanted && now - lastGetPeersMs >= GET_PEERS_EVERY_MS && tracker.joined) {
      lastGetPeersMs = now;
      tracker.send({ type: 'get-peers', max: Math.min(50, config.neighbours * 2) });
    }
  }

  function dial(remoteId: string, url: string): void {
    const ws = new PeerWebSocket(url, { maxPayload: MAX_WIRE_FRAME_BYTES, handshakeTimeout: DIAL_TIMEOUT_MS, ...tls.client });
    dialling.add(ws);
    ws.on('error', (err) => {
      log.debug({ remoteId, err: err.message }, 'dial failed');
      neighbourhood.dialFailed(remoteId, clock.nowMs());
    });
    ws.on('close', () => dialling.delete(ws));
    ws.once('open', () => {
      dialling.delete(ws);
      if (closed || swarm.size >= config.maxNeighbours || swarm.connectedTo(remoteId) || perAddressFull(hostOf(url))) {
        ws.close(1000, 'not needed');
        return;
      }
      swarm.addLink(wsLink(ws, clock), true, remoteId, hostOf(url));
    });
  }

  const registry = createPeerMetrics(counters, () => {
    const peers = swarm.handshaken();
    return {
      neighbours: peers.length,
      unchoked: peers.filter((n) => !n.amChoking).length,
      interested: peers.filter((n) => n.peerInterested).length,
      segments: store.size,
    };
  });

  const app = createHttpApi({
    store,
    registry,
    onSegmentWanted: (seq) => swarm.playerRequested(seq),
    onPlayerReport: (r: PlayerReport) => {
      // Players speak in media sequence numbers, this node's own; deadlines are kept by the origin's.
      const seq = store.seqOfLocal(r.seq);
      if (seq !== null) swarm.setPlayerPosition({ seq, offsetMs: r.offsetMs, atMs: clock.nowMs() });
      // The page reports totals since it loaded; a reload starts it over, so growth is what counts.
      counters.stalls += Math.max(0, r.stalls - playerStalls.stalls);
      counters.stallMs += Math.max(0, r.stallMs - playerStalls.stallMs);
      playerStalls = { stalls: r.stalls, stallMs: r.stallMs };
    },
    waitListed,
    discontinuitySequence: (seq) => store.discontinuitiesBefore(seq),
    mediaSequence: (seq) => store.get(seq)?.localSeq ?? seq,
    stats: () => ({
      peerId,
      ...stats(),
      seedBytes: counters.seedBytes,
      duplicateBytes: counters.duplicateBytes,
      segments: store.size,
      trackerConnected: tracker.joined,
    }),
    adminToken: config.adminToken,
    staticDir: deps.staticDir ?? null,
  });

  const server: Server = createWebServer(tls, app, log);
  /**
   * Why an inbound connection from `address` is refused now, or null. Every
   * connection counts against maxNeighbours; those not handshaken yet also
   * against a smaller bound, in all and per address, so a flood of idle
   * sockets cannot hold the slots neighbours need.
   */
  function refusal(address: string): string | null {
    if (swarm.size >= config.maxNeighbours) return 'too many neighbours';
    if (swarm.inbound >= config.maxNeighbours - reservedOutbound) return 'too many incoming neighbours';
    if (perAddressFull(address)) return 'too many neighbours from this address';
    if (pendingInbound.size >= MAX_PENDING_PEER_CONNECTIONS) return 'too many connections awaiting a handshake';
    let fromAddress = 0;
    for (const a of pendingInbound.values()) if (a === address) fromAddress++;
    if (fromAddress >= MAX_PENDING_PEER_CONNECTIONS_PER_ADDRESS) return 'too many connections awaiting a handshake from this address';
    return null;
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_WIRE_FRAME_BYTES, WebSocket: PeerWebSocket });
  wss.on('error', (err) => log.error({ err }, 'peer websocket server error'));
  server.on('clientError', (_err, socket) => socket.destroy());
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    if ((req.url ?? '').split('?')[0] !== '/peer' || closed) {
      socket.destroy();
      return;
    }
    const address = normaliseAddress(req.socket.remoteAddress ?? '');
    const refused = refusal(address);
    if (refused) {
      log.debug({ address, reason: refused }, 'peer connection refused');
      refuseUpgrade(socket, refused);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', (err) => log.debug({ err: err.message }, 'neighbour socket error'));
      const late = refusal(address);
      if (late) {
        ws.close(1013, late);
        return;
      }
      const link = wsLink(ws, clock);
      pendingInbound.set(link, address);
      ws.on('close', () => pendingInbound.delete(link));
      swarm.addLink(link, false, null, address);
    });
  });

  return {
    peerId,
    get url() {
      return `${tls.server ? 'https' : 'http'}://${advertisedHost()}:${port}`;
    },
    get port() {
      return port;
    },
    counters,
    swarm,
    store,
    async start() {
      port = await listen(server, config.port, config.host, log);
      swarm.start();
      tracker.start();
      timers.push(clock.setInterval(maintain, MAINTAIN_MS));
    },
    close() {
      closed ??= (async () => {
        for (const t of timers) t.cancel();
        announceTimer?.cancel();
        tracker.close();
        swarm.close();
        originFetcher.close();
        for (const ws of dialling) ws.terminate();
        wss.close();
        // Neighbours were sent a goodbye; give it a moment to leave before the sockets go.
        if (wss.clients.size > 0) await new Promise<void>((resolve) => clock.setTimeout(resolve, 200));
        for (const ws of wss.clients) ws.terminate();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return closed;
    },
  };
}

/** An IPv4 peer reached over a dual-stack socket shows as ::ffff:a.b.c.d; one host, one address. */
export function normaliseAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** The host of a peer's URL, as the per-address cap counts it. */
function hostOf(url: string): string {
  try {
    return normaliseAddress(new URL(url).hostname.replace(/^\[|\]$/g, ''));
  } catch {
    return url;
  }
}
