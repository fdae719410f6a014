/**
 * The one place the tracker replicas and the origin meet the Redis client:
 * two connections (commands, and pub/sub, which Redis keeps apart), each
 * reconnecting with backoff and jitter for as long as the program runs.
 * Commands fail at once while Redis is away, rather than queue without bound;
 * callers keep serving from memory and resynchronise once told it is back.
 */
import { type RedisClientType, createClient } from '@redis/client';
import type { Logger } from 'pino';

export type RedisCommands = RedisClientType<{}, {}, {}, 3, {}>;

export interface RedisLink {
  /** Resolves once Redis answers on both connections, retrying until it does. */
  connect(): Promise<void>;
  readonly cmd: RedisCommands;
  /** Both connections are up. */
  readonly ready: boolean;
  /** Binary-safe: messages arrive as Buffers. Resubscribed after each reconnection. */
  subscribe(channel: string, onMessage: (message: Buffer) => void): Promise<void>;
  /** Runs `f` each time Redis is back after an outage. */
  onReconnect(f: () => void): void;
  close(): Promise<void>;
}

export function redisReconnectDelayMs(retries: number, random: number): number {
  return Math.round(Math.min(5000, 100 * 2 ** Math.min(retries, 6)) * (0.75 + 0.5 * random));
}

/** Where a Redis URL points, without any password it carries, for logs. */
export function redisWhere(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '6379'}`;
  } catch {
    return 'an unparsable URL';
  }
}

export function createRedisLink(url: string, log: Logger): RedisLink {
  const where = redisWhere(url);
  const options = { url, disableOfflineQueue: true, socket: { connectTimeout: 3000, reconnectStrategy: (n: number) => redisReconnectDelayMs(n, Math.random()) } };
  const cmd: RedisCommands = createClient(options);
  const sub: RedisCommands = createClient(options);
  const reconnected: (() => void)[] = [];
  let downSinceMs: number | null = null;
  let started = false;
  for (const [name, client] of [['commands', cmd], ['pub/sub', sub]] as const) {
    client.on('error', (err: Error) => {
      // Each reconnection attempt errors again: the operator hears once per outage, not once per attempt.
      if (downSinceMs === null && started) {
        downSinceMs = Date.now();
        log.error({ redis: where, connection: name, err: err.message }, 'redis connection lost: serving from memory, reconnecting with backoff');
      } else {
        log.debug({ redis: where, connection: name, err: err.message }, 'redis connection error');
      }
    });
    client.on('ready', () => {
      if (downSinceMs === null || !cmd.isReady || !sub.isReady) return;
      log.warn({ redis: where, downMs: Date.now() - downSinceMs }, 'redis reconnected: resynchronising');
      downSinceMs = null;
      for (const f of reconnected) f();
    });
  }
  return {
    async connect() {
      log.info({ redis: where }, 'connecting to redis');
      await Promise.all([cmd.connect(), sub.connect()]);
      started = true;
    },
    cmd,
    get ready() {
      return cmd.isReady && sub.isReady;
    },
    subscribe: (channel, onMessage) => sub.subscribe(channel, (message: Buffer) => onMessage(message), true),
    onReconnect: (f) => reconnected.push(f),
    async close() {
      await Promise.allSettled([cmd.isOpen ? cmd.close() : null, sub.isOpen ? sub.close() : null]);
    },
  };
}
