import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import { channelLivePath, channelStreamId, channelTrackerPath } from '../shared/channel.ts';
import { listen } from '../shared/listen.ts';
import { refuseUpgrade } from '../shared/refuse-upgrade.ts';
import { createWebServer, loadTls } from '../shared/tls.ts';
import { type Clock, type TimerHandle, systemClock } from '../shared/clock.ts';
import { MAX_ID_LENGTH, MAX_WIRE_FRAME_BYTES } from '../shared/limits.ts';
import type { Variant } from '../shared/master-playlist.ts';
import type { NodeStats } from '../shared/player-api.ts';
import { PEER_PATH, masterPlaylistPath, renditionLivePath, renditionOfPeerPath, renditionSignedName, renditionStreamId, renditionTrackerPath } from '../shared/rendition.ts';
import { type Rng, seededRng } from '../shared/rng.ts';
import { normaliseAddress } from './address.ts';
import { type PeerConfig, trackerUrls } from './config.ts';
import { type HttpApiDeps, type Layout, type StreamView, createHttpApi } from './http-api.ts';
import { Ladder } from './ladder.ts';
import { probeLadder } from './ladder-probe.ts';
import { LinkShaper } from './link.ts';
import { renderLocalMaster } from './master-playlist.ts';
import { createPeerMetrics } from './metrics.ts';
import { loadOriginKey } from './origin-key.ts';
import { type DownloadSample, measuredBytesPerSec, paceBytesPerSec, recordSample, segmentSample } from './policy/pacing.ts';
import { DEFAULT_HEADLESS_AFTER_MS, DEFAULT_LINGER_MS, HEADLESS_MARGIN } from './policy/renditions.ts';
import type { SegmentStore } from './segment-store.ts';
import { type StreamPlace, type StreamSession, createStreamSession } from './stream-session.ts';
import type { SwarmCounters } from './swarm-counters.ts';
import type { Swarm } from './swarm.ts';
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
  /** The channel's, or (a ladder) the sum over its renditions'. */
  readonly counters: SwarmCounters;
  /** The channel's swarm and store, or (a ladder) those of the rendition the player asked for last. */
  readonly swarm: Swarm;
  readonly store: SegmentStore;
  /** The renditions the node is in, once it knows the channel is a ladder; else null. */
  readonly ladder: Ladder | null;
  stats(): NodeStats;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** How often the roles of a ladder's renditions are reapplied (policy/renditions.ts). */
const LADDER_MAINTAIN_MS = 1000;

export function createPeerNode(given: PeerConfig, deps: PeerNodeDeps): PeerNode {
  // The channel's stream id is what its tracker welcomes and its peers' handshakes name.
  const config: PeerConfig = { ...given, streamId: channelStreamId(given.streamId, given.channel) };
  const clock = deps.clock ?? systemClock;
  const tls = loadTls(config);
  const originKey = loadOriginKey(config.originKey);
  const peerId = config.peerId ?? randomBytes(9).toString('base64url');
  const log = deps.log.child({ peerId });
  const trackerBases = trackerUrls(config);
  const originBase = config.edge ?? (trackerBases[0] as string).replace(/^ws/, 'http').replace(/\/tracker$/, '');
  const rng = deps.rng ?? seededRng(config.seed || (Date.now() ^ process.pid));
  // One access link, whichever swarms the node is in.
  const shaper = new LinkShaper(config, clock);
  let port = config.port;
  let closed: Promise<void> | null = null;
  /** Sockets still connecting, so close() can end them. */
  const dialling = new Set<WebSocket>();
  let samples: DownloadSample[] = [];

  /**
   * A swarm of the node. Every swarm is dialled at the node's one port: the
   * tracker lists the node at `/peer` for the channel and `/peer/<r>` for
   * rendition r (shared/rendition.ts), and the upgrade's path tells the node
   * whose handshake to send as a connection opens, before the other side says
   * anything (the tracker's reachability probe says nothing at all).
   */
  function open(place: StreamPlace, rendition: boolean): StreamSession {
    const session = createStreamSession(config, place, {
      peerId,
      clock,
      rng,
      log: rendition ? log.child({ stream: place.streamId }) : log,
      tls,
      originKey,
      originBase,
      shaper,
      listsWholeSegments: rendition,
      // The tracker keeps only its scheme and port, and lists the node at the path of the swarm it serves.
      advertisedUrl: () => `${tls.server ? 'wss' : 'ws'}://${advertisedHost()}:${port}${PEER_PATH}`,
      dialling,
    });
    // Every segment downloaded, in any swarm, measures the one access link.
    session.core.store.onComplete((e) => {
      if (e.completedAtMs === null || e.firstPieceAtMs === null) return;
      const sample = segmentSample({ size: e.info.size, earlyBytes: e.earlyBytes, firstPieceAtMs: e.firstPieceAtMs, announcedAtMs: e.announcedAtMs, completedAtMs: e.completedAtMs });
      samples = recordSample(samples, sample);
    });
    return session;
  }

  // Each tracker (the origin's, or a replica) serves the channel at its own path.
  const single = open({
    streamId: config.streamId,
    trackers: trackerBases.map((url) => url.replace(/\/tracker$/, channelTrackerPath(config.channel))),
    livePath: channelLivePath(config.channel),
    signedName: config.channel,
  }, false);

  function renditionPlace(r: string): StreamPlace {
    return {
      streamId: renditionStreamId(config.streamId, r),
      trackers: trackerBases.map((url) => url.replace(/\/tracker$/, renditionTrackerPath(config.channel, r))),
      livePath: renditionLivePath(config.channel, r),
      signedName: renditionSignedName(config.channel, r),
    };
  }

  /** Null until the origin said whether the channel is a ladder. */
  let layout: { kind: 'single' } | { kind: 'ladder'; ladder: Ladder; master: string } | null = null;
  const layoutWaiters = new Set<() => void>();
  let probe: { cancel(): void } | null = null;
  let ladderTimer: TimerHandle | null = null;

  function decide(rungs: Variant[] | null): void {
    if (closed) return;
    const usable = (rungs ?? []).filter((r) => renditionPlace(r.name).streamId.length <= MAX_ID_LENGTH);
    if (rungs && usable.length < rungs.length) log.warn({ streamId: config.streamId }, 'renditions whose stream id would be too long are left out: shorten --stream-id');
    if (usable.length === 0) {
      layout = { kind: 'single' };
      single.start();
    } else {
      const downloadBitsPerSec = config.downloadKbps > 0 ? config.downloadKbps * 1000 : null;
      const ladder = new Ladder(usable, (r) => open(renditionPlace(r), true), clock, downloadBitsPerSec, DEFAULT_LINGER_MS, DEFAULT_HEADLESS_AFTER_MS, (r) => {
        if (r === null) log.info('the player is back: the node is in the rungs it asks for');
        else log.info({ rendition: r, downloadKbps: config.downloadKbps || null }, `no player for ${DEFAULT_HEADLESS_AFTER_MS / 1000} s: in ${r}, the highest rung the download carries ${HEADLESS_MARGIN} times over (else the lowest)`);
      });
      layout = { kind: 'ladder', ladder, master: renderLocalMaster(usable) };
      ladderTimer = clock.setInterval(() => ladder.maintain(), LADDER_MAINTAIN_MS);
      log.info({ renditions: usable.map((r) => r.name) }, 'the channel is a ladder: one swarm per rendition');
    }
    for (const w of [...layoutWaiters]) w();
  }

  function advertisedHost(): string {
    if (config.advertiseHost) return config.advertiseHost;
    return config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  }

  /** The sessions the node is in now. */
  function sessions(): StreamSession[] {
    return layout?.kind === 'ladder' ? layout.ladder.sessions() : [single];
  }

  /** The session whose swarm and store the node shows as its own. */
  function shown(): StreamSession {
    return (layout?.kind === 'ladder' ? layout.ladder.primary() : null) ?? single;
  }

  function counters(): SwarmCounters {
    return layout?.kind === 'ladder' ? layout.ladder.counters() : single.core.counters;
  }

  function view(s: StreamSession): StreamView {
    const { core } = s;
    return {
      store: core.store,
      onSegmentAsked: (seq) => core.segmentAsked(seq),
      onSegmentWanted: (seq) => core.swarm.playerRequested(seq),
      waitListed: core.waitListed,
      discontinuitySequence: (seq) => core.store.discontinuitiesBefore(seq),
      mediaSequence: (seq) => core.store.get(seq)?.localSeq ?? seq,
    };
  }

  function currentLayout(): Layout | null {
    if (!layout) return null;
    return layout.kind === 'ladder' ? { kind: 'ladder', master: layout.master } : { kind: 'single', stream: view(single) };
  }

  function stats(): NodeStats {
    const c = counters();
    const all = sessions();
    const ladder = layout?.kind === 'ladder' ? layout.ladder : null;
    return {
      peerId,
      p2pBytes: c.p2pBytes,
      originBytes: c.originBytes,
      uploadedBytes: c.uploadedBytes,
      stalls: c.stalls,
      stallMs: c.stallMs,
      neighbours: all.reduce((n, s) => n + s.core.swarm.handshaken().length, 0),
      hashFailures: c.hashFailures,
      seedBytes: c.seedBytes,
      duplicateBytes: c.duplicateBytes,
      segments: all.reduce((n, s) => n + s.core.store.size, 0),
      trackerConnected: all.length > 0 && all.every((s) => s.tracker.joined),
      rendition: ladder?.primaryRendition ?? null,
      renditions: ladder?.stats() ?? [],
      paceBytesPerSec: pace(),
    };
  }

  /** Segments reach a ladder's player at the rate the node's downloads do; one stream has no rung to choose, so is not paced. */
  function pace(): number | null {
    if (layout?.kind !== 'ladder') return null;
    const neighbours = sessions().flatMap((s) => s.core.swarm.handshaken().map((n) => ({ rateBytesPerSec: n.rateBytesPerSec(s.core.store.pieceSize), lastPieceAtMs: n.lastPieceAtMs })));
    return paceBytesPerSec(config.downloadKbps > 0 ? (config.downloadKbps * 1000) / 8 : null, measuredBytesPerSec(samples, neighbours, clock.nowMs()));
  }

  const registry = createPeerMetrics(counters, () => {
    const peers = sessions().flatMap((s) => s.core.swarm.handshaken());
    return {
      neighbours: peers.length,
      unchoked: peers.filter((n) => !n.amChoking).length,
      interested: peers.filter((n) => n.peerInterested).length,
      segments: sessions().reduce((n, s) => n + s.core.store.size, 0),
    };
  }, () => (layout?.kind === 'ladder' ? layout.ladder.stats() : []));

  const api: HttpApiDeps = {
    layout: currentLayout,
    waitLayout: (timeoutMs, gone) =>
      new Promise((resolve) => {
        if (layout || closed || timeoutMs <= 0) return resolve(currentLayout());
        const finish = () => {
          layoutWaiters.delete(finish);
          timer.cancel();
          resolve(gone() ? null : currentLayout());
        };
        const timer = clock.setTimeout(finish, timeoutMs);
        layoutWaiters.add(finish);
      }),
    rendition(name) {
      const session = layout?.kind === 'ladder' ? layout.ladder.want(name) : null;
      return session ? view(session) : null;
    },
    paceBytesPerSec: pace,
    clock,
    registry,
    onPlayerReport: (r) => (layout?.kind === 'ladder' ? layout.ladder.onPlayerReport(r) : single.core.onPlayerReport(r)),
    stats,
    adminToken: config.adminToken,
    staticDir: deps.staticDir ?? null,
  };
  const app = createHttpApi(api);

  const server: Server = createWebServer(tls, app, log);
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_WIRE_FRAME_BYTES, WebSocket: PeerWebSocket });
  wss.on('error', (err) => log.error({ err }, 'peer websocket server error'));
  server.on('clientError', (_err, socket) => socket.destroy());
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    if (!layout) {
      refuseUpgrade(socket, 'not in the swarm yet');
      return;
    }
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (layout.kind === 'single') {
      if (path === PEER_PATH) acceptPeer(single, req, socket, head);
      else socket.destroy();
      return;
    }
    const rendition = renditionOfPeerPath(path);
    const session = rendition === null ? null : layout.ladder.joinedSession(rendition);
    // A rung the node is not in (any more): its neighbours retry elsewhere, as with a full swarm.
    if (rendition !== null && !session) refuseUpgrade(socket, `not in rendition ${rendition}`);
    else if (session) acceptPeer(session, req, socket, head);
    else socket.destroy();
  });

  /** A neighbour's connection to the path of a swarm of the node, let in if the swarm has room. */
  function acceptPeer(session: StreamSession, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (closed) {
      socket.destroy();
      return;
    }
    const { core } = session;
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
  }

  return {
    peerId,
    get url() {
      return `${tls.server ? 'https' : 'http'}://${advertisedHost()}:${port}`;
    },
    get port() {
      return port;
    },
    get counters() {
      return counters();
    },
    get swarm() {
      return shown().core.swarm;
    },
    get store() {
      return shown().core.store;
    },
    get ladder() {
      return layout?.kind === 'ladder' ? layout.ladder : null;
    },
    stats,
    async start() {
      port = await listen(server, config.port, config.host, log);
      probe = probeLadder(`${originBase}${masterPlaylistPath(config.channel)}`, tls.client, clock, log, decide);
    },
    close() {
      closed ??= (async () => {
        probe?.cancel();
        ladderTimer?.cancel();
        single.close();
        if (layout?.kind === 'ladder') layout.ladder.close();
        for (const w of [...layoutWaiters]) w();
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
