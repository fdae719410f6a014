import { type ConfigOf, type FlagSpec, parseConfig } from '../shared/cli.ts';
import { originFlags } from './config.ts';
import { REPLICA_ID } from './swarm-members.ts';

/**
 * Every setting of a tracker replica (npm run tracker): the tracker's own
 * settings are the origin's (same names, defaults and bounds); stream id and
 * piece size come from the origin through Redis.
 */
export const trackerFlags = {
  redis: { ...originFlags.redis, kind: 'string', default: 'redis://127.0.0.1:6379', help: 'the Redis the replicas and the origin share' },
  host: originFlags.host,
  port: { ...originFlags.port, default: 8090, help: 'port peers join at: ws://host:port/tracker (0 = any free port)', env: 'TRACKER_PORT' },
  replicaId: { kind: 'optional-string', default: null, pattern: REPLICA_ID, patternHelp: '1-64 of [A-Za-z0-9_-]', help: "this replica's name among the others (random when not given)" },
  peersPerList: originFlags.peersPerList,
  announceIntervalMs: originFlags.announceIntervalMs,
  peerTimeoutMs: originFlags.peerTimeoutMs,
  trustProxyHeader: originFlags.trustProxyHeader,
  maxPeers: originFlags.maxPeers,
  tlsCert: originFlags.tlsCert,
  tlsKey: originFlags.tlsKey,
  ca: originFlags.ca,
  logLevel: originFlags.logLevel,
} as const satisfies Record<string, FlagSpec>;

export type TrackerReplicaConfig = ConfigOf<typeof trackerFlags>;

export function parseTrackerConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): TrackerReplicaConfig | null {
  return parseConfig(trackerFlags, argv, env);
}
