/**
 * A tracker replica process (npm run tracker): an HTTP server whose WebSocket
 * upgrades at /tracker (channel `main`) and /tracker/<channel> go to that
 * channel's ChannelReplica. It serves every channel an origin has registered
 * in Redis, found by looking every few seconds.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { type Clock, type TimerHandle, systemClock } from '../shared/clock.ts';
import { listen } from '../shared/listen.ts';
import { refuseUpgrade } from '../shared/refuse-upgrade.ts';
import { seededRng } from '../shared/rng.ts';
import { createWebServer, loadTls } from '../shared/tls.ts';
import { createOriginMetrics } from './metrics.ts';
import { createReachabilityProbe } from './reachability-probe.ts';
import { createRedisLink } from './redis-link.ts';
import { CHANNEL_NAME_PATTERN, channelOfTrackerPath } from '../shared/channel.ts';
import { CHANNELS_KEY, channelKeys, decodeChannelConfig } from './redis-schema.ts';
import type { TrackerReplicaConfig } from './tracker-config.ts';
import { ChannelReplica } from './tracker-replica.ts';

/** How often a replica looks for channels an origin registered since. */
export const CHANNEL_LOOKUP_MS = 2000;

export interface ReplicaServer {
  readonly replicaId: string;
  readonly url: string;
  readonly port: number;
  /** The channels served, by name. */
  readonly channels: ReadonlyMap<string, ChannelReplica>;
  start(): Promise<void>;
  close(): Promise<void>;
}


export function createReplicaServer(config: TrackerReplicaConfig, deps: { log: Logger; clock?: Clock }): ReplicaServer {
  const clock = deps.clock ?? systemClock;
  const log = deps.log;
  const replicaId = config.replicaId ?? randomBytes(6).toString('base64url');
  const tls = loadTls(config);
  const link = createRedisLink(config.redis, log.child({ component: 'redis' }));
  const channels = new Map<string, ChannelReplica>();
  const opening = new Set<string>();
  let lookup: TimerHandle | null = null;
  let port = config.port;
  let closed: Promise<void> | null = null;
  const rng = seededRng(Date.now() ^ process.pid);

  async function openChannel(name: string): Promise<void> {
    if (channels.has(name) || opening.has(name) || closed) return;
    opening.add(name);
    try {
      const text = await link.cmd.get(channelKeys(name).config);
      if (text === null || closed) return;
      const cc = decodeChannelConfig(String(text));
      const replica = new ChannelReplica(
        {
          channel: name,
          replicaId,
          link,
          clock,
          rng,
          log: log.child({ component: 'tracker' }),
          metrics: createOriginMetrics(),
          config,
          probe: createReachabilityProbe({ clock, streamId: cc.streamId, wsOptions: tls.client }),
        },
        cc,
      );
      await replica.start();
      channels.set(name, replica);
      log.info({ channel: name, streamId: cc.streamId }, 'serving channel');
    } catch (err) {
      log.warn({ channel: name, err: (err as Error).message }, 'channel not opened; trying again later');
    } finally {
      opening.delete(name);
    }
  }

  async function lookForChannels(): Promise<void> {
    if (!link.ready) return;
    try {
      const names = await link.cmd.sMembers(CHANNELS_KEY);
      for (const n of names) if (CHANNEL_NAME_PATTERN.test(String(n))) await openChannel(String(n));
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'channel lookup failed');
    }
  }

  const server: Server = createWebServer(
    tls,
    (req, res) => {
      if ((req.url ?? '').split('?')[0] === '/healthz') {
        const peers = Object.fromEntries([...channels].map(([n, c]) => [n, c.tracker.registry.size]));
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ status: 'ok', replica: replicaId, redis: link.ready, peers }));
        return;
      }
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    },
    log,
  );
  server.on('clientError', (_err, socket) => socket.destroy());
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const name = channelOfTrackerPath((req.url ?? '').split('?')[0] ?? '');
    const replica = name === null ? undefined : channels.get(name);
    if (replica) replica.tracker.handleUpgrade(req, socket, head);
    else if (name !== null) refuseUpgrade(socket, `UNKNOWN_CHANNEL: no origin has registered channel ${name} in redis yet`);
    else socket.destroy();
  });

  return {
    replicaId,
    get url() {
      return `${tls.server ? 'wss' : 'ws'}://${config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host}:${port}`;
    },
    get port() {
      return port;
    },
    channels,
    async start() {
      await link.connect();
      await lookForChannels();
      lookup = clock.setInterval(() => void lookForChannels(), CHANNEL_LOOKUP_MS);
      port = await listen(server, config.port, config.host, log);
    },
    close() {
      closed ??= (async () => {
        lookup?.cancel();
        await Promise.all([...channels.values()].map((c) => c.close()));
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await link.close();
      })();
      return closed;
    },
  };
}
