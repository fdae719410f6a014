import { EventEmitter } from 'node:events';
import { type Server, createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { adminGate } from '../shared/admin-auth.ts';
import { DEFAULT_CHANNEL, channelOfTrackerPath } from '../shared/channel.ts';
import { listen } from '../shared/listen.ts';
import { refuseUpgrade } from '../shared/refuse-upgrade.ts';
import { createWebServer, loadTls } from '../shared/tls.ts';
import { type Clock, systemClock } from '../shared/clock.ts';
import { FETCH_TOKEN_HEADER } from '../shared/fetch-token.ts';
import { renderMasterPlaylist } from '../shared/master-playlist.ts';
import { renderLivePlaylist } from '../shared/playlist.ts';
import { masterPlaylistPath, renditionLivePath, renditionOfTrackerPath, renditionSignedName } from '../shared/rendition.ts';
import { type Rng, seededRng } from '../shared/rng.ts';
import { parseSegmentFileName } from '../shared/segment.ts';
import { ifRangeAllows, negativeCacheControl, playlistCacheControl, playlistEtag, segmentCacheControl, segmentEtag } from './cache-headers.ts';
import { Channel } from './channel.ts';
import { type OriginConfig, originChannels, originLadder, progressiveAnnouncement } from './config.ts';
import { httpErrorHandler } from './http-errors.ts';
import { parseRange } from './http-range.ts';
import { sendCounted } from './counted-send.ts';
import { ingestRoutes } from './ingest-routes.ts';
import type { IngestSupervisor } from './ingest-supervisor.ts';
import type { OriginEvents } from './events.ts';
import type { LiveWindow } from './live-window.ts';
import { type OriginMetrics, createOriginMetrics } from './metrics.ts';
import { createDashboard } from './dashboard.ts';
import type { StreamSwarm } from './stream-swarm.ts';
import type { TrackerServer } from './tracker-server.ts';
import { Egress } from './egress.ts';
import { spareBudgetBytesPerSec } from './spare-budget.ts';
import { type OffloadTotals, offloadRatio } from './offload.ts';
import { type Probe, createReachabilityProbe } from './reachability-probe.ts';
import { createRedisLink } from './redis-link.ts';
import { type SigningKeySource, loadSigningKey } from './signing-key.ts';

export interface OriginDeps {
  log: Logger;
  clock?: Clock;
  rng?: Rng;
  /** How the tracker checks a joined peer's address (default: dial it over ws, reachability-probe.ts). */
  probe?: Probe;
}

export interface Origin {
  readonly url: string;
  readonly port: number;
  /** Every channel, the default one (`main`) first. */
  readonly channels: ReadonlyMap<string, Channel>;
  /** The public key peers verify announcements with, 32 bytes in base64 (what --origin-key takes): one key signs every channel's. */
  readonly originKey: string;
  /** Where the signing key came from: --signing-key (read or created there), or made for this run. */
  readonly signingKeySource: SigningKeySource;
  /** The default channel's parts, as an origin of one stream had them (with --ladder, its top rendition's). */
  readonly streamKey: string;
  readonly window: LiveWindow;
  readonly tracker: TrackerServer;
  readonly ingest: IngestSupervisor;
  readonly metrics: OriginMetrics;
  /** Offload as the origin measures it (offload.ts), over all its channels; each channel's is its origin_offload_ratio gauge. */
  offloadRatio(): number;
  /** `segmentPublished` for every segment of the default channel, once it is in the window, announced and seeded. */
  readonly events: OriginEvents;
  start(): Promise<void>;
  close(): Promise<void>;
}

export function createOrigin(config: OriginConfig, deps: OriginDeps): Origin {
  const clock = deps.clock ?? systemClock;
  const rng = deps.rng ?? seededRng(Date.now());
  const log = deps.log;
  const tls = loadTls(config);
  const scheme = tls.server ? 'https' : 'http';
  const metrics = createOriginMetrics();
  let port = config.port;
  const ingestHost = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  let closed: Promise<void> | null = null;
  // One uplink: every channel's seeds go before every channel's fallbacks; the free-riders of every channel share
  // one budget, that share of every channel's stream (spare-budget.ts).
  const egress = new Egress(
    config.egressKbps,
    clock,
    () => swarms().reduce((n, s) => n + spareBudgetBytesPerSec(config.spareEgressPercent, s.window.announcements()), 0),
    config.fallbackWaitMs,
  );
  // One key: each channel's signatures name the channel (shared/announcement-signature.ts), so none replays into another.
  const signing = loadSigningKey(config.signingKey);
  // One connection for every channel's keys (redis-schema.ts names them by channel).
  const redisLink = config.redis ? createRedisLink(config.redis, log.child({ component: 'redis' })) : null;

  const ladder = originLadder(config);
  const channels = new Map<string, Channel>();
  /** Every swarm of every channel: a channel's one, or each rendition's. */
  const swarms = (): StreamSwarm[] => [...channels.values()].flatMap((c) => c.streams);
  for (const spec of originChannels(config)) {
    channels.set(
      spec.name,
      new Channel({
        spec,
        config,
        ladder,
        signingKey: signing.key,
        clock,
        rng,
        log: log.child({ channel: spec.name }),
        metrics,
        egress,
        redisLink,
        // wss:// peers are checked with the origin's --ca, as it trusts everything else it dials.
        probe: (streamId) => deps.probe ?? createReachabilityProbe({ clock, streamId, wsOptions: tls.client }),
        ingestBase: (channel, run) =>
          (ingestServer ? `http://127.0.0.1:${ingestPort}` : `http://${ingestHost}:${port}`) +
          (channel.name === DEFAULT_CHANNEL ? `/ingest/${channel.streamKey}/${run}/` : `/ingest/${channel.name}/${channel.streamKey}/${run}/`),
      }),
    );
  }
  const main = channels.get(DEFAULT_CHANNEL) as Channel;
  const totals = (): OffloadTotals =>
    [...channels.values()].reduce((t, c) => ({ egressBytes: t.egressBytes + c.measured.egressBytes, audienceBytes: t.audienceBytes + c.measured.audienceBytes }), {
      egressBytes: 0,
      audienceBytes: 0,
    });
  // The dashboard's figures are the whole origin's, with a line per channel and per rendition.
  const allEvents: OriginEvents = new EventEmitter();
  for (const s of swarms()) s.events.on('segmentPublished', (e) => allEvents.emit('segmentPublished', e));
  const dashboard = createDashboard({
    config,
    clock,
    metrics,
    events: allEvents,
    peers: function* () {
      for (const c of channels.values()) {
        if (c.plain) for (const record of c.plain.tracker.registry.all()) yield { channel: c.name, record };
        for (const [r, s] of c.renditions) for (const record of s.tracker.registry.all()) yield { channel: renditionSignedName(c.name, r), record };
      }
    },
    offloadRatio: () => offloadRatio(totals()),
    channels: () =>
      [...channels.values()].map((c) => ({
        name: c.name,
        streamId: c.streamId,
        playlistPath: `${c.livePath}/index.m3u8`,
        peers: c.swarmSize(),
        segments: c.window.published,
        egressBytes: c.measured.egressBytes,
        audienceBytes: c.measured.audienceBytes,
        offloadRatio: c.offloadRatio(),
        renditions: [...c.renditions].map(([r, s]) => ({
          name: r,
          streamId: s.streamId,
          playlistPath: `${renditionLivePath(c.name, r)}/index.m3u8`,
          peers: s.swarmSize(),
          segments: s.window.published,
          egressBytes: s.measured.egressBytes,
          audienceBytes: s.measured.audienceBytes,
          offloadRatio: s.offloadRatio(),
        })),
      })),
  });

  const ingest = ingestRoutes({
    channel: (name) => (name === null ? main : channels.get(name)),
    progressive: progressiveAnnouncement(config),
    log,
    now: () => performance.now(),
  });

  function playlist(swarm: StreamSwarm, req: Request, res: Response): void {
    const { window } = swarm;
    // A rendition's hole (a segment its sibling renditions have) would shift every later number a player counts from EXT-X-MEDIA-SEQUENCE.
    const listed = window.latestContiguous(config.playlistSegments).map((s) => s.info);
    if (listed.length === 0) {
      res.status(503).set({ 'Retry-After': '1', 'Cache-Control': negativeCacheControl() }).send('stream not started yet\n');
      return;
    }
    const text = renderLivePlaylist(listed, window.discontinuities.sequenceFor(window.announcements(), listed));
    res.set({ 'Content-Type': 'application/vnd.apple.mpegurl', 'Cache-Control': playlistCacheControl(config), ETag: playlistEtag(text) });
    if (req.fresh) res.status(304).end();
    else res.send(text);
  }

  function segment(swarm: StreamSwarm, req: Request, res: Response): void {
    const answered = (status: number) => swarm.metrics.httpSegmentRequests.inc({ status: String(status) });
    const seq = parseSegmentFileName(String(req.params.file));
    const found = seq === null ? ({ state: 'unknown' } as const) : swarm.window.lookup(seq);
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
    const { cls } = swarm.fetchClass(typeof token === 'string' ? token : null);
    const refused = egress.send(
      cls,
      body.byteLength,
      () =>
        sendCounted(res, body, (bytes) => {
          swarm.metrics.httpSegmentBytes.inc({ class: cls }, bytes);
          swarm.countEgress(bytes);
        }),
      () => !res.destroyed && !req.socket.destroyed,
    );
    if (!refused) return answered(status);
    // A free-rider over the spare budget (spare-budget.ts), or an uplink too full to send this in time (egress.ts):
    // "not now", for this request only, so no cache may keep it.
    const busy = cls !== 'spare';
    answered(busy ? 503 : 429);
    for (const h of ['Content-Type', 'Accept-Ranges', 'ETag', 'Last-Modified', 'Content-Range']) res.removeHeader(h);
    res
      .status(busy ? 503 : 429)
      .set({ 'Retry-After': String(refused.retryAfterS), 'Cache-Control': 'no-store' })
      .send(busy ? "the origin's uplink is full: ask neighbours\n" : "over the origin's budget for peers that upload nothing: ask neighbours\n");
  }

  /** The channel a `/live/<c>/…` path names, or a 404. */
  function named(req: Request, res: Response): Channel | null {
    const channel = channels.get(String(req.params.channel));
    if (!channel) res.status(404).send('no such channel\n');
    return channel ?? null;
  }

  /** A channel's one swarm, or a 404 when it publishes a ladder (its paths are its renditions'). */
  function plain(channel: Channel, res: Response): StreamSwarm | null {
    if (!channel.plain) res.status(404).set('Cache-Control', negativeCacheControl()).send(`this channel is a ladder: ${masterPlaylistPath(channel.name)}\n`);
    return channel.plain;
  }

  /** The rendition a `/live/<c>/<r>/…` path names, or a 404. */
  function rendition(req: Request, res: Response): StreamSwarm | null {
    const swarm = channels.get(String(req.params.channel))?.renditions.get(String(req.params.rendition));
    if (!swarm) res.status(404).set('Cache-Control', negativeCacheControl()).send('no such rendition\n');
    return swarm ?? null;
  }

  function master(channel: Channel, req: Request, res: Response): void {
    const variants = channel.variants();
    if (variants?.length === 0) {
      res.status(404).set('Cache-Control', negativeCacheControl()).send('no ladder: this origin runs without --ladder\n');
      return;
    }
    if (!variants) {
      res.status(503).set({ 'Retry-After': '1', 'Cache-Control': negativeCacheControl() }).send('stream not started yet: the copied source is read from its first segment\n');
      return;
    }
    const text = renderMasterPlaylist(variants);
    res.set({ 'Content-Type': 'application/vnd.apple.mpegurl', 'Cache-Control': playlistCacheControl(config), ETag: playlistEtag(text) });
    if (req.fresh) res.status(304).end();
    else res.send(text);
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  if (!tls.server) app.use(ingest);

  app.get('/live/master.m3u8', (req, res) => master(main, req, res));
  app.get('/live/index.m3u8', (req, res) => {
    const swarm = plain(main, res);
    if (swarm) playlist(swarm, req, res);
  });
  app.get('/live/:file', (req, res) => {
    const swarm = plain(main, res);
    if (swarm) segment(swarm, req, res);
  });
  // The default channel is also at /live/main/, so every channel can be reached the same way.
  app.get('/live/:channel/master.m3u8', (req, res) => {
    const channel = named(req, res);
    if (channel) master(channel, req, res);
  });
  app.get('/live/:channel/index.m3u8', (req, res) => {
    const channel = named(req, res);
    const swarm = channel && plain(channel, res);
    if (swarm) playlist(swarm, req, res);
  });
  app.get('/live/:channel/:file', (req, res) => {
    const channel = named(req, res);
    const swarm = channel && plain(channel, res);
    if (swarm) segment(swarm, req, res);
  });
  app.get('/live/:channel/:rendition/index.m3u8', (req, res) => {
    const swarm = rendition(req, res);
    if (swarm) playlist(swarm, req, res);
  });
  app.get('/live/:channel/:rendition/:file', (req, res) => {
    const swarm = rendition(req, res);
    if (swarm) segment(swarm, req, res);
  });

  app.get('/healthz', (_req, res) => {
    res.json({
      status: 'ok',
      streamId: config.streamId,
      segments: main.window.size,
      peers: main.swarmSize(),
      ingest: main.ingest.state,
      originKey: main.signer.publicKeyBase64,
      channels: [...channels.values()].map((c) => ({
        name: c.name,
        streamId: c.streamId,
        segments: c.window.size,
        peers: c.swarmSize(),
        ingest: c.ingest.state,
        ...(c.plain ? {} : { renditions: [...c.renditions].map(([r, s]) => ({ name: r, streamId: s.streamId, segments: s.window.size, peers: s.swarmSize() })) }),
      })),
    });
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
  const ingestServer: Server | null = tls.server ? createServer(express().disable('x-powered-by').use(ingest).use(httpErrorHandler(log))) : null;
  let ingestPort = 0;
  ingestServer?.on('clientError', (_err, socket) => socket.destroy());
  server.on('clientError', (_err, socket) => socket.destroy());
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '').split('?')[0] ?? '';
    const named = renditionOfTrackerPath(path);
    if (named) {
      const swarm = channels.get(named.channel)?.renditions.get(named.rendition);
      if (swarm) swarm.tracker.handleUpgrade(req, socket, head);
      else socket.destroy();
      return;
    }
    const name = channelOfTrackerPath(path);
    const channel = name === null ? undefined : channels.get(name);
    if (channel && redisLink) refuseUpgrade(socket, 'TRACKER_ELSEWHERE: peers join the tracker replicas (npm run tracker)');
    else if (channel?.plain) channel.plain.tracker.handleUpgrade(req, socket, head);
    else socket.destroy();
  });

  return {
    get url() {
      return `${scheme}://${ingestHost}:${port}`;
    },
    get port() {
      return port;
    },
    channels,
    originKey: main.signer.publicKeyBase64,
    signingKeySource: signing.source,
    streamKey: main.streamKey,
    window: main.window,
    tracker: main.tracker,
    ingest: main.ingest,
    metrics,
    offloadRatio: () => offloadRatio(totals()),
    events: main.events,
    async start() {
      if (redisLink) {
        await redisLink.connect();
        for (const c of channels.values()) await c.redis?.start();
      }
      port = await listen(server, config.port, config.host, log);
      if (ingestServer) ingestPort = await listen(ingestServer, 0, '127.0.0.1', log);
      for (const s of swarms()) s.tracker.start();
      dashboard.start();
      for (const c of channels.values()) c.ingest.start();
    },
    close() {
      closed ??= (async () => {
        // Before ingest stops: a peer welcomed now would join a stream that is ending.
        for (const s of swarms()) s.tracker.stopAccepting();
        await Promise.all([...channels.values()].map((c) => c.ingest.close()));
        dashboard.close();
        egress.close();
        await Promise.all(swarms().map((s) => s.tracker.close()));
        for (const c of channels.values()) c.redis?.close();
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
