import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import { channelLivePath, channelStreamId, channelTrackerPath } from '../shared/channel.ts';
import { listen } from '../shared/listen.ts';
import { refuseUpgrade } from '../shared/refuse-upgrade.ts';
import { createWebServer, loadTls } from '../shared/tls.ts';
import { type Clock, systemClock } from '../shared/clock.ts';
import { MAX_WIRE_FRAME_BYTES } from '../shared/limits.ts';
import { type Rng, seededRng } from '../shared/rng.ts';
import { normaliseAddress } from './address.ts';
import { type PeerConfig, trackerUrls } from './config.ts';
import { createHttpApi } from './http-api.ts';
import { createPeerMetrics } from './metrics.ts';
import { OriginFetcher, httpOriginRange } from './origin-fetch.ts';
import { loadOriginKey } from './origin-key.ts';
import { createPeerCore } from './peer-core.ts';
import type { SegmentStore } from './segment-store.ts';
import type { SwarmCounters } from './swarm-counters.ts';
import type { Swarm } from './swarm.ts';
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

const DIAL_TIMEOUT_MS = 3000;

export function createPeerNode(given: PeerConfig, deps: PeerNodeDeps): PeerNode {
  // The channel's stream id is what its tracker welcomes and its peers' handshakes name.
  const config: PeerConfig = { ...given, streamId: channelStreamId(given.streamId, given.channel) };
  const clock = deps.clock ?? systemClock;
  const tls = loadTls(config);
  const originKey = loadOriginKey(config.originKey);
  const peerId = config.peerId ?? randomBytes(9).toString('base64url');
  const log = deps.log.child({ peerId });
  // Each tracker (the origin's, or a replica) serves the channel at its own path.
  const trackers = trackerUrls(config).map((url) => url.replace(/\/tracker$/, channelTrackerPath(config.channel)));
  const originBase = config.edge ?? (trackerUrls(config)[0] as string).replace(/^ws/, 'http').replace(/\/tracker$/, '');
  const rng = deps.rng ?? seededRng(config.seed || (Date.now() ^ process.pid));
  let port = config.port;
  let closed: Promise<void> | null = null;
  /** Sockets still connecting, so close() can end them. */
  const dialling = new Set<WebSocket>();

  const core = createPeerCore(config, {
    peerId,
    clock,
    rng,
    log,
    channel: config.channel,
    originKey,
    advertisedUrl: () => `${tls.server ? 'wss' : 'ws'}://${advertisedHost()}:${port}/peer`,
    dial,
    trackerSend: (msg) => tracker.send(msg),
    trackerJoined: () => tracker.joined,
    fetchOrigin: (seq, piece, segmentSize, pieceSize, fetchToken, done) => originFetcher.piece(seq, piece, segmentSize, pieceSize, fetchToken, done),
  });
  const { swarm, store, counters } = core;
  const originHttp = httpOriginRange(originBase, tls.client, channelLivePath(config.channel));
  const originFetcher = new OriginFetcher(originHttp.range, core.shaper, clock);

  const tracker = new TrackerClient({
    url: trackers,
    rng,
    tlsClient: tls.client,
    clock,
    log,
    counters,
    joinMessage: core.joinMessage,
    onWelcome: core.onWelcome,
    onSegment: core.onSegment,
    onPeers: core.onPeers,
    onSeed: core.onSeed,
  });

  function advertisedHost(): string {
    if (config.advertiseHost) return config.advertiseHost;
    return config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  }

  function dial(remoteId: string, url: string): void {
    const ws = new PeerWebSocket(url, { maxPayload: MAX_WIRE_FRAME_BYTES, handshakeTimeout: DIAL_TIMEOUT_MS, ...tls.client });
    dialling.add(ws);
    ws.on('error', (err) => {
      log.debug({ remoteId, err: err.message }, 'dial failed');
      core.dialFailed(remoteId);
    });
    ws.on('close', () => dialling.delete(ws));
    ws.once('open', () => {
      dialling.delete(ws);
      core.addOutbound(wsLink(ws, clock), remoteId, url);
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
    onPlayerReport: core.onPlayerReport,
    waitListed: core.waitListed,
    discontinuitySequence: (seq) => store.discontinuitiesBefore(seq),
    mediaSequence: (seq) => store.get(seq)?.localSeq ?? seq,
    stats: () => ({
      peerId,
      ...core.stats(),
      seedBytes: counters.seedBytes,
      duplicateBytes: counters.duplicateBytes,
      segments: store.size,
      trackerConnected: tracker.joined,
    }),
    adminToken: config.adminToken,
    staticDir: deps.staticDir ?? null,
  });

  const server: Server = createWebServer(tls, app, log);
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
    const refused = core.refusal(address);
    if (refused) {
      log.debug({ address, reason: refused }, 'peer connection refused');
      refuseUpgrade(socket, refused);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', (err) => log.debug({ err: err.message }, 'neighbour socket error'));
      const late = core.refusal(address);
      if (late) {
        ws.close(1013, late);
        return;
      }
      core.acceptInbound(wsLink(ws, clock), address);
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
      core.start();
      tracker.start();
    },
    close() {
      closed ??= (async () => {
        core.close();
        tracker.close();
        originHttp.close();
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
