import { ADMIN_TOKEN_HELP, ADMIN_TOKEN_PATTERN } from '../shared/admin-auth.ts';
import { CHANNEL_NAME_HELP, CHANNEL_NAME_PATTERN, DEFAULT_CHANNEL, channelStreamId } from '../shared/channel.ts';
import { ConfigError, type ConfigOf, type FlagSpec, parseConfig } from '../shared/cli.ts';
import { MAX_ID_LENGTH } from '../shared/limits.ts';

/**
 * `<base>/live/seg-<n>.ts` is fetched, so the base is a scheme, a host (name,
 * IPv4 or [IPv6]), an optional port and an optional path prefix (a CDN may serve
 * the origin under one); no userinfo, whose password would show in logs, and no
 * query or fragment, which the segment path could not follow.
 */
export const EDGE_URL_PATTERN = /^https?:\/\/(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:\/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)*$/;

/** Every peer-node setting, its default and its bounds. */
export const peerFlags = {
  tracker: {
    kind: 'string',
    default: 'ws://127.0.0.1:8080/tracker',
    pattern: /^wss?:\/\/[^\s,]+\/tracker$/,
    patternHelp: 'ws:// or wss:// URLs ending in /tracker',
    list: true,
    help: "the origin's tracker, or tracker replicas sharing its swarm (comma-separated or repeated: on losing one the node joins another)",
    env: 'TRACKER_URL',
  },
  edge: {
    kind: 'optional-string',
    default: null,
    pattern: EDGE_URL_PATTERN,
    patternHelp: 'an http(s) URL of a host (and port, and path prefix) with no trailing slash, query or credentials',
    help: "HTTP base of fallback fetches: the origin, or a cache in front of it (nginx: deploy/nginx/, a CDN); the tracker stays --tracker (default: the first tracker's host; give it with tracker replicas)",
    env: 'EDGE_URL',
  },
  host: { kind: 'string', default: '127.0.0.1', help: 'address to listen on (player HTTP and peer WebSocket)', env: 'PEER_HOST' },
  port: { kind: 'int', default: 0, min: 0, max: 65535, help: 'port for the player and for other peers (0 = any free port)', env: 'PEER_PORT' },
  advertiseHost: { kind: 'optional-string', default: null, pattern: /^[A-Za-z0-9.:[\]-]{1,253}$/, patternHelp: 'a host name or address', help: 'host other peers use to reach this node (default: --host, or 127.0.0.1)' },
  open: { kind: 'bool', default: false, help: 'open the player page in the default browser once the node is up ($BROWSER when set)' },
  peerId: { kind: 'optional-string', default: null, pattern: /^[A-Za-z0-9_-]{1,64}$/, patternHelp: '1-64 of [A-Za-z0-9_-]', help: 'this node\'s id (random when not given)' },
  channel: {
    kind: 'string',
    default: DEFAULT_CHANNEL,
    pattern: CHANNEL_NAME_PATTERN,
    patternHelp: CHANNEL_NAME_HELP,
    help: "the origin's live channel to watch: its tracker is --tracker/<channel> and its segments /live/<channel>/ (the default channel's are --tracker and /live/)",
  },
  originKey: {
    kind: 'optional-string',
    default: null,
    help: "the origin's public key that signs segment announcements: 32 bytes in base64 (as the origin prints it) or a PEM public key file (default: the first tracker welcome's, pinned for the node's life)",
    env: 'ORIGIN_KEY',
  },
  streamId: { kind: 'string', default: 'live', pattern: /^[A-Za-z0-9_-]{1,64}$/, patternHelp: '1-64 of [A-Za-z0-9_-]', help: "the origin's --stream-id (a channel's stream id is made from it)" },
  uploadKbps: { kind: 'int', default: -1, min: -1, max: 10_000_000, help: 'emulated upload limit; -1 = unlimited, 0 = free-rider (never uploads)' },
  downloadKbps: { kind: 'int', default: 0, min: 0, max: 10_000_000, help: 'emulated download limit; 0 = unlimited' },
  latencyMs: { kind: 'int', default: 0, min: 0, max: 10_000, help: 'emulated one-way latency added to everything this node sends and to origin fetches' },
  storeSegments: { kind: 'int', default: 12, min: 4, max: 600, help: 'segments kept in memory, the local live window (for 1 s segments: shorter ones keep as many more as span the same time, up to 4 times as many)' },
  playlistSegments: { kind: 'int', default: 6, min: 3, max: 60, help: 'segments listed in the local playlist' },
  listDelayMs: { kind: 'int', default: 1000, min: 0, max: 60_000, help: 'a segment is listed for the player once whole here or known this long (for 1 s segments: shorter ones scale it down in proportion)' },
  neighbours: { kind: 'int', default: 12, min: 1, max: 100, help: 'neighbours to keep connected' },
  maxNeighbours: { kind: 'int', default: 24, min: 1, max: 200, help: 'most neighbours, incoming included' },
  maxNeighboursPerAddress: { kind: 'int', default: 4, min: 0, max: 200, help: 'most neighbours from one remote address, so one host cannot fill our slots with many ids (0 = no limit: a swarm on one machine)' },
  neighbourIdleMs: { kind: 'int', default: 30_000, min: 1000, max: 600_000, help: 'a neighbour that sends nothing, not even a keep-alive, for this long is dropped (we send keep-alives at a third of it)' },
  picker: { kind: 'choice', default: 'rarest-deadline', choices: ['rarest-deadline', 'sequential', 'random'], help: 'piece picker' },
  relay: { kind: 'choice', default: 'push', choices: ['push', 'pull'], help: 'how fresh pieces travel: pushed to unchoked neighbours that lack them while our upload is idle, or only pulled (have, request, piece per hop)' },
  choker: { kind: 'choice', default: 'tit-for-tat', choices: ['tit-for-tat', 'all-unchoked'], help: 'choking policy' },
  urgentWindowMs: { kind: 'int', default: 1200, min: 0, max: 60_000, help: 'a piece due within this is urgent (fetched from whoever delivers in time, the origin last; for 1 s segments: shorter ones scale it down in proportion)' },
  rescueWindowMs: { kind: 'int', default: 600, min: 0, max: 60_000, help: 'a piece no neighbour can send us is fetched from the origin only once due within this: until then it is likely still on its way through the swarm (for 1 s segments: shorter ones scale it down in proportion)' },
  holdBackSegments: { kind: 'int', default: 3, min: 1, max: 30, help: 'segments the player stays behind live until it reports its position' },
  maxInFlightPerPeer: { kind: 'int', default: 6, min: 1, max: 64, help: 'pipelined requests per neighbour' },
  maxInFlightTotal: { kind: 'int', default: 48, min: 1, max: 1024, help: 'pipelined requests over all neighbours' },
  maxOriginInFlight: { kind: 'int', default: 4, min: 0, max: 64, help: 'concurrent origin fallback fetches (0 = never use the origin)' },
  regularSlots: { kind: 'int', default: 4, min: 0, max: 100, help: 'tit-for-tat unchoke slots' },
  optimisticSlots: { kind: 'int', default: 1, min: 0, max: 10, help: 'optimistic unchoke slots' },
  rechokeIntervalMs: { kind: 'int', default: 10_000, min: 100, max: 600_000, help: 'how often to rechoke' },
  optimisticIntervalMs: { kind: 'int', default: 30_000, min: 100, max: 600_000, help: 'how often the optimistic unchoke rotates' },
  maxHashFailures: { kind: 'int', default: 3, min: 1, max: 1000, help: 'bad pieces before a neighbour is disconnected and banned' },
  seed: { kind: 'int', default: 0, min: 0, max: 2 ** 31, help: 'seed of the random generator (0 = from the clock)' },
  tlsCert: { kind: 'optional-string', default: null, help: 'PEM certificate (chain) to serve the player and the peer wire over https/wss (advertised as wss://); needs --tls-key' },
  tlsKey: { kind: 'optional-string', default: null, help: 'PEM private key of --tls-cert' },
  ca: { kind: 'optional-string', default: null, help: "PEM file of a private CA to trust, besides the system's, for the tracker, the origin and other peers" },
  adminToken: {
    kind: 'optional-string',
    default: null,
    pattern: ADMIN_TOKEN_PATTERN,
    patternHelp: ADMIN_TOKEN_HELP,
    help: 'bearer token for /metrics and /api/stats (without one they answer loopback clients only)',
    env: 'ADMIN_TOKEN',
    secret: true,
  },
  logLevel: { kind: 'choice', default: 'warn', choices: ['silent', 'error', 'warn', 'info', 'debug'], help: 'log verbosity', env: 'LOG_LEVEL' },
} as const satisfies Record<string, FlagSpec>;

export type PeerConfig = ConfigOf<typeof peerFlags>;

export function parsePeerConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): PeerConfig | null {
  const config = parseConfig(peerFlags, argv, env);
  if (config && channelStreamId(config.streamId, config.channel).length > MAX_ID_LENGTH) {
    throw new ConfigError(`--channel ${config.channel}: its stream id "${channelStreamId(config.streamId, config.channel)}" is over ${MAX_ID_LENGTH} characters: shorten --stream-id`);
  }
  return config;
}

/** The tracker URLs of --tracker, in the order given. */
export function trackerUrls(config: Pick<PeerConfig, 'tracker'>): string[] {
  return config.tracker.split(',');
}

export function peerConfig(overrides: Partial<PeerConfig> = {}): PeerConfig {
  const base = parsePeerConfig([]);
  if (!base) throw new Error('unreachable: no --help in empty argv');
  return Object.freeze({ ...base, ...overrides });
}
