import { existsSync } from 'node:fs';
import { ConfigError, type ConfigOf, type FlagSpec, parseConfig } from '../shared/cli.ts';
import { CHANNEL_NAME_HELP, DEFAULT_CHANNEL, channelNameError, channelStreamId } from '../shared/channel.ts';
import { MAX_ID_LENGTH } from '../shared/limits.ts';
import { DEFAULT_LADDER, LadderError, RENDITION_NAME_PATTERN, type Rung, parseLadder, renditionStreamId } from '../shared/rendition.ts';
import { ADMIN_TOKEN_HELP, ADMIN_TOKEN_PATTERN } from '../shared/admin-auth.ts';
import { DEFAULT_PIECE_SIZE, MAX_PIECE_SIZE, MAX_WINDOW_SEGMENTS, MIN_PIECE_SIZE } from '../shared/limits.ts';

/** The segment duration of --low-latency. */
export const LOW_LATENCY_SEGMENT_MS = 500;

const STREAM_KEY_PATTERN = /^[A-Za-z0-9_-]{8,128}$/;
const STREAM_KEY_HELP = '8-128 of [A-Za-z0-9_-]';

/** Every origin setting, its default and its bounds: the single source of truth for the origin's config. */
export const originFlags = {
  host: { kind: 'string', default: '127.0.0.1', help: 'address to listen on (0.0.0.0 to serve other machines)', env: 'ORIGIN_HOST' },
  port: { kind: 'int', default: 8080, min: 0, max: 65535, help: 'HTTP port for HLS, tracker, metrics (0 = any free port)', env: 'ORIGIN_PORT' },
  source: {
    kind: 'string',
    default: 'testsrc',
    help: 'testsrc, a media file (looped as a live stream), or an ffmpeg input URL such as rtmp://0.0.0.0:1935/live/<stream-key>',
  },
  channel: {
    kind: 'list',
    default: [],
    help: `another live channel, name=source (name: ${CHANNEL_NAME_HELP}; source as for --source), served at /live/<name>/ with its tracker at /tracker/<name>; --source is the default channel "${DEFAULT_CHANNEL}"`,
  },
  channelKey: {
    kind: 'list',
    default: [],
    help: 'name=key: the stream key of a --channel (as --stream-key is the default channel\'s; generated and printed when not given)',
    secret: true,
  },
  copy: { kind: 'bool', default: false, help: 'pass H.264/AAC input through without re-encoding (-c copy)' },
  ladder: {
    kind: 'optional-string',
    default: null,
    bare: DEFAULT_LADDER,
    help: `publish every channel as a bitrate ladder, name=WIDTHxHEIGHT@VIDEO_KBPS,… (alone: ${DEFAULT_LADDER}); master playlist /live/<c>/master.m3u8, renditions /live/<c>/<r>/, trackers /tracker/<c>/<r>; with --copy the top rung is the source as it comes (give its expected size and bitrate) and the others are encoded`,
  },
  segmentSeconds: { kind: 'int', default: 1, min: 1, max: 10, help: 'segment duration in seconds (a keyframe starts each segment)' },
  lowLatency: {
    kind: 'bool',
    default: false,
    help: `low-latency mode: ${LOW_LATENCY_SEGMENT_MS / 1000} s segments instead of --segment-seconds, and twice the --window-segments and --playlist-segments so they span as long; when encoding, --fps must be even (a keyframe every ${LOW_LATENCY_SEGMENT_MS / 1000} s)`,
  },
  wholeSegments: {
    kind: 'bool',
    default: false,
    help: 'with --low-latency, announce and seed only whole segments; by default a low-latency origin (one rendition, no --redis) announces and seeds each piece as soon as ffmpeg has written its bytes, so peers relay it before its segment is complete',
  },
  windowSegments: { kind: 'int', default: 30, min: 3, max: MAX_WINDOW_SEGMENTS, help: 'segments kept in the live window' },
  playlistSegments: { kind: 'int', default: 6, min: 3, max: MAX_WINDOW_SEGMENTS, help: 'segments listed in the live playlist' },
  pieceSize: { kind: 'int', default: DEFAULT_PIECE_SIZE, min: MIN_PIECE_SIZE, max: MAX_PIECE_SIZE, help: 'bytes per piece, the unit peers trade and verify' },
  width: { kind: 'int', default: 640, min: 64, max: 3840, help: 'encoded video width' },
  height: { kind: 'int', default: 360, min: 64, max: 2160, help: 'encoded video height' },
  // 24, not 25: a whole number of frames in a segment of 1 s and of 0.5 s (--low-latency).
  fps: { kind: 'int', default: 24, min: 1, max: 60, help: 'frames per second of the test source and encode' },
  videoKbps: { kind: 'int', default: 900, min: 50, max: 50_000, help: 'video bitrate' },
  audioKbps: { kind: 'int', default: 96, min: 16, max: 512, help: 'audio bitrate' },
  streamId: { kind: 'string', default: 'live', pattern: /^[A-Za-z0-9_-]{1,64}$/, patternHelp: '1-64 of [A-Za-z0-9_-]', help: 'stream name peers must join with' },
  streamKey: {
    kind: 'optional-string',
    default: null,
    pattern: STREAM_KEY_PATTERN,
    patternHelp: STREAM_KEY_HELP,
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
  fallbackWaitMs: {
    kind: 'int',
    default: 500,
    min: 0,
    max: 60_000,
    help: "with --egress-kbps: an HTTP fallback that would wait longer than this behind what the uplink has queued is refused at once (503, Retry-After: 1), so the peer turns to its neighbours (0 = queue every one)",
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
  const config = parseConfig(originFlags, argv, env);
  if (!config) return null;
  originChannels(config);
  originLadder(config);
  return withLowLatency(config);
}

/**
 * The config as the origin runs it: with --low-latency, segments of
 * LOW_LATENCY_SEGMENT_MS (`segmentSeconds` is then a fraction) and a live
 * window and playlist of as many seconds as the flags give at 1 s segments, so
 * a joining peer and a plain HLS player see as much of the stream. Applied once,
 * where a config is made (parseOriginConfig, originConfig).
 */
function withLowLatency(config: OriginConfig): OriginConfig {
  if (!config.lowLatency) return config;
  const segmentSeconds = LOW_LATENCY_SEGMENT_MS / 1000;
  if (!config.copy && !Number.isInteger(config.fps * segmentSeconds)) {
    throw new ConfigError(`--low-latency needs an even --fps, so that each ${segmentSeconds} s segment is whole frames starting on a keyframe (got --fps ${config.fps})`);
  }
  const scale = Math.round(1 / segmentSeconds);
  return Object.freeze({
    ...config,
    segmentSeconds,
    windowSegments: Math.min(MAX_WINDOW_SEGMENTS, config.windowSegments * scale),
    playlistSegments: Math.min(MAX_WINDOW_SEGMENTS, config.playlistSegments * scale),
  });
}

/**
 * Whether the origin announces and seeds each piece as ffmpeg writes it
 * (--low-latency without --whole-segments), rather than whole segments only.
 * Not with a ladder (its renditions come from one hls output, which PUTs a
 * segment only once it is whole) nor with Redis (replicas relay whole
 * announcements only).
 */
export function progressiveAnnouncement(config: Pick<OriginConfig, 'lowLatency' | 'wholeSegments' | 'ladder' | 'redis'>): boolean {
  return config.lowLatency && !config.wholeSegments && config.ladder === null && config.redis === null;
}

/** One live channel of an origin: the default one from --source and --stream-key, the others from --channel and --channel-key. */
export interface ChannelSpec {
  name: string;
  source: string;
  /** Null: generated when the origin starts. */
  streamKey: string | null;
}

/** `name=value` split at the first `=`. */
function pair(flag: string, item: string, what: string): [string, string] {
  const at = item.indexOf('=');
  if (at < 0) throw new ConfigError(`${flag} must be name=${what}, got ${flag === '--channel-key' ? `${item.length} characters without "="` : JSON.stringify(item)}`);
  const name = item.slice(0, at);
  const nameError = channelNameError(name);
  if (nameError) throw new ConfigError(`${flag}: ${nameError}`);
  if (name === DEFAULT_CHANNEL) {
    throw new ConfigError(`${flag}: "${DEFAULT_CHANNEL}" is the default channel: set its ${flag === '--channel' ? 'source with --source' : 'key with --stream-key'}`);
  }
  return [name, item.slice(at + 1)];
}

/** The port an rtmp://<this machine> source has ffmpeg listen on; null for any other source. */
function rtmpListenPort(source: string): number | null {
  const m = /^rtmp(s?):\/\/(?:0\.0\.0\.0|127\.0\.0\.1|localhost|\[::\])(?::(\d+))?[/]/i.exec(source);
  if (!m) return null;
  return m[2] !== undefined ? Number(m[2]) : m[1] ? 443 : 1935;
}

function sourceError(source: string): string | null {
  if (source === '') return 'an empty source';
  if (source === 'testsrc' || /^[a-z][a-z0-9+.-]*:\/\//i.test(source)) return null;
  return existsSync(source) ? null : `no such file ${JSON.stringify(source)} (a source is testsrc, a media file or an ffmpeg input URL)`;
}

/**
 * The origin's channels, the default one first, from a parsed config; throws
 * ConfigError on a bad or repeated name, a bad source, a key for no channel,
 * or two channels whose RTMP listeners would take the same port.
 */
export function originChannels(config: Pick<OriginConfig, 'source' | 'streamKey' | 'channel' | 'channelKey' | 'streamId'>): ChannelSpec[] {
  const channels: ChannelSpec[] = [{ name: DEFAULT_CHANNEL, source: config.source, streamKey: config.streamKey }];
  for (const item of config.channel) {
    const [name, source] = pair('--channel', item, 'source');
    if (channels.some((c) => c.name === name)) throw new ConfigError(`--channel: channel "${name}" given twice`);
    const bad = sourceError(source);
    if (bad) throw new ConfigError(`--channel ${name}: ${bad}`);
    if (channelStreamId(config.streamId, name).length > MAX_ID_LENGTH) {
      throw new ConfigError(`--channel ${name}: its stream id "${channelStreamId(config.streamId, name)}" is over ${MAX_ID_LENGTH} characters: shorten --stream-id or the name`);
    }
    channels.push({ name, source, streamKey: null });
  }
  const keyed = new Set<string>();
  for (const item of config.channelKey) {
    const [name, key] = pair('--channel-key', item, 'key');
    const channel = channels.find((c) => c.name === name);
    if (!channel) throw new ConfigError(`--channel-key: no --channel "${name}"`);
    if (keyed.has(name)) throw new ConfigError(`--channel-key: channel "${name}" given twice`);
    if (!STREAM_KEY_PATTERN.test(key)) throw new ConfigError(`--channel-key ${name}: the key must be ${STREAM_KEY_HELP}, got ${key.length} characters`);
    keyed.add(name);
    channel.streamKey = key;
  }
  const keys = channels.map((c) => c.streamKey).filter((k) => k !== null);
  if (new Set(keys).size !== keys.length) throw new ConfigError('--channel-key: two channels have the same stream key: each channel needs its own');
  const ports = new Map<number, string>();
  for (const c of channels) {
    const port = rtmpListenPort(c.source);
    if (port === null) continue;
    const other = ports.get(port);
    if (other) throw new ConfigError(`--channel ${c.name}: its RTMP listener would take port ${port}, as channel "${other}"'s does: give each RTMP channel its own port`);
    ports.set(port, c.name);
  }
  return channels;
}

/**
 * The rungs of --ladder, highest first, or null without it; throws
 * ConfigError on a bad ladder or one this origin cannot publish with its other
 * flags.
 */
export function originLadder(config: Pick<OriginConfig, 'ladder' | 'copy' | 'redis' | 'channel' | 'streamId'>): Rung[] | null {
  if (config.ladder === null) return null;
  let rungs: Rung[];
  try {
    rungs = parseLadder(config.ladder);
  } catch (e) {
    if (e instanceof LadderError) throw new ConfigError(`--ladder: ${e.message}`);
    throw e;
  }
  // With --copy the top rung is the source itself, and the others are cut at its keyframes.
  if (config.copy && rungs.length < 2) throw new ConfigError('--ladder with --copy needs two rungs at least: the top one is the source, the others are encoded');
  // The tracker replicas know channels, not renditions.
  if (config.redis !== null) throw new ConfigError('--ladder with --redis is not supported yet');
  for (const item of config.channel) {
    const name = item.slice(0, item.indexOf('='));
    // Channel "720p"'s stream id would be the default channel's 720p rendition's, live_720p.
    if (RENDITION_NAME_PATTERN.test(name)) throw new ConfigError(`--channel ${name}: with --ladder a channel may not be named like a rendition`);
    for (const r of rungs) {
      const id = renditionStreamId(channelStreamId(config.streamId, name), r.name);
      if (id.length > MAX_ID_LENGTH) throw new ConfigError(`--channel ${name}: its rendition stream id "${id}" is over ${MAX_ID_LENGTH} characters: shorten --stream-id or the name`);
    }
  }
  return rungs;
}

/** A config with defaults and overrides, for tests and the demo launcher. */
export function originConfig(overrides: Partial<OriginConfig> = {}): OriginConfig {
  const base = parseConfig(originFlags, [], {});
  if (!base) throw new Error('unreachable: no --help in empty argv');
  return withLowLatency(Object.freeze({ ...base, ...overrides }));
}
