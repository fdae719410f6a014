import { type ConfigOf, type FlagSpec, parseConfig } from '../shared/cli.ts';
import { ADMIN_TOKEN_HELP, ADMIN_TOKEN_PATTERN } from '../shared/admin-auth.ts';
import { DEFAULT_PIECE_SIZE, MAX_PIECE_SIZE, MAX_WINDOW_SEGMENTS, MIN_PIECE_SIZE } from '../shared/limits.ts';

/** Every origin setting, its default and its bounds: the single source of truth for the origin's config. */
export const originFlags = {
  host: { kind: 'string', default: '127.0.0.1', help: 'address to listen on (0.0.0.0 to serve other machines)', env: 'ORIGIN_HOST' },
  port: { kind: 'int', default: 8080, min: 0, max: 65535, help: 'HTTP port for HLS, tracker, metrics (0 = any free port)', env: 'ORIGIN_PORT' },
  source: {
    kind: 'string',
    default: 'testsrc',
    help: 'testsrc, a media file (looped as a live stream), or an ffmpeg input URL such as rtmp://0.0.0.0:1935/live/<stream-key>',
  },
  copy: { kind: 'bool', default: false, help: 'pass H.264/AAC input through without re-encoding (-c copy)' },
  segmentSeconds: { kind: 'int', default: 1, min: 1, max: 10, help: 'segment duration in seconds (a keyframe starts each segment)' },
  windowSegments: { kind: 'int', default: 30, min: 3, max: MAX_WINDOW_SEGMENTS, help: 'segments kept in the live window' },
  playlistSegments: { kind: 'int', default: 6, min: 3, max: MAX_WINDOW_SEGMENTS, help: 'segments listed in the live playlist' },
  pieceSize: { kind: 'int', default: DEFAULT_PIECE_SIZE, min: MIN_PIECE_SIZE, max: MAX_PIECE_SIZE, help: 'bytes per piece, the unit peers trade and verify' },
  width: { kind: 'int', default: 640, min: 64, max: 3840, help: 'encoded video width' },
  height: { kind: 'int', default: 360, min: 64, max: 2160, help: 'encoded video height' },
  fps: { kind: 'int', default: 25, min: 1, max: 60, help: 'frames per second of the test source and encode' },
  videoKbps: { kind: 'int', default: 900, min: 50, max: 50_000, help: 'video bitrate' },
  audioKbps: { kind: 'int', default: 96, min: 16, max: 512, help: 'audio bitrate' },
  streamId: { kind: 'string', default: 'live', pattern: /^[A-Za-z0-9_-]{1,64}$/, patternHelp: '1-64 of [A-Za-z0-9_-]', help: 'stream name peers must join with' },
  streamKey: {
    kind: 'optional-string',
    default: null,
    pattern: /^[A-Za-z0-9_-]{8,128}$/,
    patternHelp: '8-128 of [A-Za-z0-9_-]',
    help: 'secret that authorises publishing (generated and printed when not given)',
    env: 'STREAM_KEY',
    secret: true,
  },
  ffmpegPath: { kind: 'string', default: 'ffmpeg', help: 'ffmpeg binary', env: 'FFMPEG_PATH' },
  peersPerList: { kind: 'int', default: 16, min: 1, max: 100, help: 'peers handed to a joining peer' },
  announceIntervalMs: { kind: 'int', default: 2000, min: 100, max: 600_000, help: 'how often peers report their stats' },
  peerTimeoutMs: { kind: 'int', default: 10_000, min: 500, max: 3_600_000, help: 'a peer silent this long is dropped' },
  trustProxyHeader: {
    kind: 'optional-string',
    default: null,
    pattern: /^[A-Za-z0-9-]{1,64}$/,
    patternHelp: 'an HTTP header name, e.g. x-forwarded-for',
    help: 'behind a reverse proxy: the header whose last address is the client (off: the socket address); the tracker lists peers and caps connections by it',
  },
  maxPeers: { kind: 'int', default: 2000, min: 1, max: 100_000, help: 'most peers the tracker accepts' },
  seedCopies: { kind: 'int', default: 1, min: 0, max: 8, help: 'peers the origin pushes each new piece to (0 = no seeding: peers fetch everything over HTTP)' },
  egressKbps: { kind: 'int', default: 0, min: 0, max: 100_000_000, help: 'emulated origin egress limit for segment bytes, HTTP and seeding (0 = unlimited)' },
  spareEgressPercent: {
    kind: 'int',
    default: 10,
    min: 0,
    max: 100_000,
    help: "origin egress for free-riders' HTTP fallbacks, all of them together, in percent of one stream copy (beyond it they are refused with 429; 0 = never served)",
  },
  restartMaxBackoffMs: { kind: 'int', default: 8000, min: 100, max: 600_000, help: 'longest wait before restarting a failed ingest' },
  signingKey: {
    kind: 'optional-string',
    default: null,
    help: 'PEM PKCS#8 Ed25519 private key the origin signs segment announcements with; created there if the file does not exist (without the flag: a new key each start)',
    env: 'SIGNING_KEY',
  },
  tlsCert: { kind: 'optional-string', default: null, help: 'PEM certificate (chain) to serve https and wss with; needs --tls-key' },
  tlsKey: { kind: 'optional-string', default: null, help: 'PEM private key of --tls-cert' },
  ca: { kind: 'optional-string', default: null, help: "PEM file of a private CA to trust, besides the system's, when dialling peers" },
  adminToken: {
    kind: 'optional-string',
    default: null,
    pattern: ADMIN_TOKEN_PATTERN,
    patternHelp: ADMIN_TOKEN_HELP,
    help: 'bearer token for /dashboard, /api/dashboard and /metrics (without one they answer loopback clients only)',
    env: 'ADMIN_TOKEN',
    secret: true,
  },
  redis: {
    kind: 'optional-string',
    default: null,
    pattern: /^rediss?:\/\/\S+$/,
    patternHelp: 'a redis:// or rediss:// URL',
    help: 'share the swarm with tracker replicas (npm run tracker) through this Redis: segments and seeds go there, peers join the replicas',
    env: 'REDIS_URL',
    secret: true,
  },
  logLevel: { kind: 'choice', default: 'warn', choices: ['silent', 'error', 'warn', 'info', 'debug'], help: 'log verbosity', env: 'LOG_LEVEL' },
} as const satisfies Record<string, FlagSpec>;

export type OriginConfig = ConfigOf<typeof originFlags>;

export function parseOriginConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): OriginConfig | null {
  return parseConfig(originFlags, argv, env);
}

/** A config with defaults and overrides, for tests and the demo launcher. */
export function originConfig(overrides: Partial<OriginConfig> = {}): OriginConfig {
  const base = parseOriginConfig([]);
  if (!base) throw new Error('unreachable: no --help in empty argv');
  return Object.freeze({ ...base, ...overrides });
}
