import { randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type Server, createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { adminGate } from '../shared/admin-auth.ts';
import { AnnouncementSigner, DEFAULT_CHANNEL } from '../shared/announcement-signature.ts';
import { refuseUpgrade } from '../shared/refuse-upgrade.ts';
import { listen } from '../shared/listen.ts';
import { createWebServer, loadTls } from '../shared/tls.ts';
import { segmentFrame } from '../shared/tracker-protocol.ts';
import { type Clock, systemClock } from '../shared/clock.ts';
import { FETCH_TOKEN_HEADER } from '../shared/fetch-token.ts';
import { MAX_SEGMENT_BYTES } from '../shared/limits.ts';
import { renderLivePlaylist } from '../shared/playlist.ts';
import { type Rng, seededRng } from '../shared/rng.ts';
import { parseSegmentFileName } from '../shared/segment.ts';
import type { OriginConfig } from './config.ts';
import { ifRangeAllows, negativeCacheControl, playlistCacheControl, playlistEtag, segmentCacheControl, segmentEtag } from './cache-headers.ts';
import { httpErrorHandler } from './http-errors.ts';
import { parseRange } from './http-range.ts';
import { sendCounted } from './counted-send.ts';
import { IngestReceiver } from './ingest-receiver.ts';
import { IngestSupervisor } from './ingest-supervisor.ts';
import type { OriginEvents } from './events.ts';
import { LiveWindow } from './live-window.ts';
import { createOriginMetrics } from './metrics.ts';
import { createDashboard } from './dashboard.ts';
import { TrackerServer } from './tracker-server.ts';
import { Egress } from './egress.ts';
import { spareBudgetBytesPerSec } from './spare-budget.ts';
import { OriginSeeding } from './seeding.ts';
import { type OffloadTotals, offloadRatio } from './offload.ts';
import { type Probe, createReachabilityProbe } from './reachability-probe.ts';
import { createRedisLink } from './redis-link.ts';
import { RedisOrigin } from './redis-origin.ts';
import { type SigningKeySource, loadSigningKey } from './signing-key.ts';

export interface OriginDeps {
  log: Logger;
  clock?: Clock;
  rng?: Rng;
  /** How the tracker checks a joined peer's address (default: dial it over ws, reachability-probe.ts). */
  probe?: Probe;
  /** Signs the announcements (default: with the key of --signing-key, or a new one). */
  signer?: AnnouncementSigner;
}

export interface Origin {
  readonly url: string;
  readonly port: number;
  readonly streamKey: string;
  /** The public key peers verify announcements with, 32 bytes in base64 (what --origin-key takes). */
  readonly originKey: string;
  /** Where the signing key came from: --signing-key (read or created there), or made for this run. */
  readonly signingKeySource: SigningKeySource | 'given';
  readonly window: LiveWindow;
  readonly tracker: TrackerServer;
  readonly ingest: IngestSupervisor;
  readonly metrics: ReturnType<typeof createOriginMetrics>;
  /** Offload as the origin measures it (offload.ts): the origin_offload_ratio gauge. */
  offloadRatio(): number;
  /** `segmentPublished` for every segment, once it is in the window, announced and seeded. */
  readonly events: OriginEvents;
  start(): Promise<void>;
  close(): Promise<void>;
}

function keyMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function createOrigin(config: OriginConfig, deps: OriginDeps): Origin {
  const clock = deps.clock ?? systemClock;
  const rng = deps.rng ?? seededRng(Date.now());
  const log = deps.log;
  const tls = loadTls(config);
  const scheme = tls.server ? 'https' : 'http';
  const streamKey = config.streamKey ?? randomBytes(18).toString('base64url');
  const metrics = createOriginMetrics();
  // Numbering starts at the clock's seconds, so a restarted origin (at most one
  // segment a second) never reuses a number a peer still holds for other bytes.
  const loaded = deps.signer ? null : loadSigningKey(config.signingKey);
  const signer = deps.signer ?? new AnnouncementSigner((loaded as NonNullable<typeof loaded>).key, DEFAULT_CHANNEL);
  const window = new LiveWindow(config.windowSegments, config.pieceSize, signer, Math.floor(clock.nowMs() / 1000));
  const events: OriginEvents = new EventEmitter();
  let port = config.port;
  const ingestHost = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  let closed: Promise<void> | null = null;
  const measured: OffloadTotals = { egressBytes: 0, audienceBytes: 0 };
  function countEgress(bytes: number): void {
    measured.egressBytes += bytes;
    metrics.offloadRatio.set(offloadRatio(measured));
  }

  const tracker = new TrackerServer({
    config,
    clock,
    rng,
    log: log.child({ component: 'tracker' }),
    metrics,
    window: () => window.signedAnnouncements(),
    originKey: signer.publicKeyBase64,
    // wss:// peers are checked with the origin's --ca, as it trusts everything else it dials.
    probe: deps.probe ?? createReachabilityProbe({ clock, streamId: config.streamId, wsOptions: tls.client }),
    onPeerLeft: (peerId) => seeding.reseed(peerId),
  });

  // With --redis the swarm is the tracker replicas' (tracker-replica.ts): this origin publishes and seeds through Redis.
  const redisLink = config.redis ? createRedisLink(config.redis, log.child({ component: 'redis' })) : null;
  const redis = redisLink
    ? new RedisOrigin({
        link: redisLink,
        channel: DEFAULT_CHANNEL,
        config: { streamId: config.streamId, pieceSize: config.pieceSize, windowSegments: config.windowSegments, originKey: signer.publicKeyBase64 },
        clock,
        log: log.child({ component: 'redis' }),
        metrics,
        onPeerGone: (peerId) => seeding.reseed(peerId),
      })
    : null;
  const swarmSize = () => redis?.size ?? tracker.registry.size;

  const receiver = new IngestReceiver((s) => {
    const stored = window.publish(s.data, s.durationMs, s.discontinuity, clock.nowMs());
    const publishedMs = performance.now();
    metrics.segmentsPublished.inc();
    metrics.windowSegments.set(window.size);
    metrics.windowBytes.set(window.bytes);
    const audience = stored.info.size * swarmSize();
    measured.audienceBytes += audience;
    metrics.audienceBytes.inc(audience);
    metrics.offloadRatio.set(offloadRatio(measured));
    log.debug({ seq: stored.info.seq, bytes: stored.info.size, durationMs: stored.info.durationMs }, 'segment published');
    if (redis) redis.publishSegment(segmentFrame(stored.signed));
    else tracker.announce(stored.signed);
    const announcedMs = performance.now();
    seeding.seed(stored);
    events.emit('segmentPublished', {
      segment: stored,
      timing: { segmentPutEndMs: s.segmentPutEndMs, playlistPutMs: s.playlistPutMs, publishedMs, announcedMs },
    });
  });

  const egress = new Egress(config.egressKbps, clock, () => spareBudgetBytesPerSec(config.spareEgressPercent, window.announcements()));
  const dashboard = createDashboard({ config, clock, metrics, events, peers: () => tracker.registry.all(), offloadRatio: () => offloadRatio(measured) });

  const seeding = new OriginSeeding({ config, window, tracker: redis?.seedTarget ?? tracker, egress, clock, countEgress });

  const ingest = new IngestSupervisor({
    settings: config,
    ingestBase: (run) => (ingestServer ? `http://127.0.0.1:${ingestPort}` : `http://${ingestHost}:${port}`) + `/ingest/${streamKey}/${run}/`,
    clock,
    log: log.child({ component: 'ingest' }),
    maxBackoffMs: config.restartMaxBackoffMs,
    onRestart: () => metrics.ingestRestarts.inc(),
  });

  const ingestRoutes = express.Router();
  ingestRoutes.put(
    '/ingest/:key/:run/:file',
    (req: Request, res: Response, next) => {
      if (!keyMatches(String(req.params.key), streamKey)) {
        metrics.ingestRejected.inc({ reason: 'bad-key' });
        log.warn({ ip: req.socket.remoteAddress }, 'ingest refused: wrong stream key');
        res.status(403).send('wrong stream key\n');
        return;
      }
      next();
    },
    express.raw({ type: () => true, limit: MAX_SEGMENT_BYTES }),
    (req: Request, res: Response) => {
      const run = String(req.params.run);
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(run) || !Buffer.isBuffer(req.body)) {
        metrics.ingestRejected.inc({ reason: 'bad-request' });
        res.status(400).send('bad ingest request\n');
        return;
      }
      const result = receiver.put(run, String(req.params.file), req.body, performance.now());
      if (result.status === 'rejected') {
        metrics.ingestRejected.inc({ reason: 'bad-file' });
        res.status(400).send(`${result.reason}\n`);
        return;
      }
      res.status(201).end();
    },
  );

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  if (!tls.server) app.use(ingestRoutes);

  app.get('/live/index.m3u8', (req, res) => {
    const listed = window.latest(config.playlistSegments).map((s) => s.info);
    if (listed.length === 0) {
      res.status(503).set({ 'Retry-After': '1', 'Cache-Control': negativeCacheControl() }).send('stream not started yet\n');
      return;
    }
    const text = renderLivePlaylist(listed, window.discontinuities.sequenceFor(window.announcements(), listed));
    res.set({ 'Content-Type': 'application/vnd.apple.mpegurl', 'Cache-Control': playlistCacheControl(config), ETag: playlistEtag(text) });
    if (req.fresh) res.status(304).end();
    else res.send(text);
  });

  app.get('/live/:file', (req, res) => {
    const answered = (status: number) => metrics.httpSegmentRequests.inc({ status: String(status) });
    const seq = parseSegmentFileName(String(req.params.file));
    const found = seq === null ? ({ state: 'unknown' } as const) : window.lookup(seq);
    if (found.state !== 'live') {
      const status = found.state === 'unknown' ? 404 : 410;
      answered(status);
      res.status(status).set('Cache-Control', negativeCacheControl()).send(status === 404 ? 'no such segment\n' : 'segment left the live window\n');
      return;
    }
    const { data, info } = found.segment;
    const etag = segmentEtag(info);
    res.set({
      'Content-Type': 'video/mp2t',
      'Accept-Ranges': 'bytes',
      'Cache-Control': segmentCacheControl(config),
      ETag: etag,
      'Last-Modified': new Date(info.publishedAtMs).toUTCString(),
    });
    if (req.fresh) {
      answered(304);
      res.status(304).end();
      return;
    }
    const range = ifRangeAllows(req.get('if-range'), etag, info.publishedAtMs) ? parseRange(req.headers.range, data.byteLength) : ({ kind: 'full' } as const);
    if (range.kind === 'unsatisfiable') {
      answered(416);
      res.status(416).set('Content-Range', `bytes */${data.byteLength}`).end();
      return;
    }
    const status = range.kind === 'full' ? 200 : 206;
    const body = range.kind === 'full' ? data : data.subarray(range.start, range.end);
    if (range.kind === 'partial') res.status(206).set('Content-Range', `bytes ${range.start}-${range.end - 1}/${data.byteLength}`);
    // A HEAD answer has the GET's headers and no body: nothing leaves the uplink, nothing is counted.
    if (req.method === 'HEAD') {
      answered(status);
      res.send(body);
      return;
    }
    // Through a cache (deploy/nginx/) there is no token: one upstream fetch serves every peer that asked, so it is nobody's.
    const token = req.headers[FETCH_TOKEN_HEADER];
    const { cls } = (redis ?? tracker).fetchClass(typeof token === 'string' ? token : null);
    const refused = egress.send(
      cls,
      body.byteLength,
      () =>
        sendCounted(res, body, (bytes) => {
          metrics.httpSegmentBytes.inc({ class: cls }, bytes);
          countEgress(bytes);
        }),
      () => !res.destroyed && !req.socket.destroyed,
    );
    if (!refused) return answered(status);
    // A free-rider over the spare budget (spare-budget.ts): "not now", for this token only, so no cache may keep it.
    answered(429);
    for (const h of ['Content-Type', 'Accept-Ranges', 'ETag', 'Last-Modified', 'Content-Range']) res.removeHeader(h);
    res.status(429).set({ 'Retry-After': String(refused.retryAfterS), 'Cache-Control': 'no-store' }).send('over the origin\'s budget for peers that upload nothing: ask neighbours\n');
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', streamId: config.streamId, segments: window.size, peers: swarmSize(), ingest: ingest.state, originKey: signer.publicKeyBase64 });
  });

  // They list every viewer's address: operators only.
  app.use(['/metrics', '/dashboard', '/api/dashboard'], adminGate(config.adminToken, ['/dashboard', '/dashboard/']));

  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.use(dashboard.router);

  app.use((_req: Request, res: Response) => {
    res.status(404).send('not found\n');
  });
  app.use(httpErrorHandler(log));

  const server: Server = createWebServer(tls, app, log);
  // ffmpeg's own https uploads lose segments (ffmpeg 5.1 with GnuTLS cut 4 of 12 segment PUTs short at 32 KiB),
  // so when the public port speaks TLS, ffmpeg PUTs plain HTTP to a listener of its own on loopback.
  const ingestServer: Server | null = tls.server ? createServer(express().disable('x-powered-by').use(ingestRoutes).use(httpErrorHandler(log))) : null;
  let ingestPort = 0;
  ingestServer?.on('clientError', (_err, socket) => socket.destroy());
  server.on('clientError', (_err, socket) => socket.destroy());
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '').split('?')[0];
    if (path === '/tracker' && redis) refuseUpgrade(socket, 'TRACKER_ELSEWHERE: peers join the tracker replicas (npm run tracker)');
    else if (path === '/tracker') tracker.handleUpgrade(req, socket, head);
    else socket.destroy();
  });

  return {
    get url() {
      return `${scheme}://${ingestHost}:${port}`;
    },
    get port() {
      return port;
    },
    streamKey,
    originKey: signer.publicKeyBase64,
    signingKeySource: loaded?.source ?? 'given',
    window,
    tracker,
    ingest,
    metrics,
    offloadRatio: () => offloadRatio(measured),
    events,
    async start() {
      if (redisLink && redis) {
        await redisLink.connect();
        await redis.start();
      }
      port = await listen(server, config.port, config.host, log);
      if (ingestServer) ingestPort = await listen(ingestServer, 0, '127.0.0.1', log);
      tracker.start();
      dashboard.start();
      ingest.start();
    },
    close() {
      closed ??= (async () => {
        // Before ingest stops: a peer welcomed now would join a stream that is ending.
        tracker.stopAccepting();
        await ingest.close();
        dashboard.close();
        egress.close();
        await tracker.close();
        redis?.close();
        await redisLink?.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        if (ingestServer?.listening) {
          ingestServer.closeAllConnections();
          await new Promise<void>((resolve) => ingestServer.close(() => resolve()));
        }
      })();
      return closed;
    },
  };
}
