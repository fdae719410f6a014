import { type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { AnnouncementSigner } from '../shared/announcement-signature.ts';
import { DEFAULT_CHANNEL, channelLivePath, channelStreamId, channelTrackerPath } from '../shared/channel.ts';
import type { Clock } from '../shared/clock.ts';
import type { Rng } from '../shared/rng.ts';
import { segmentFrame } from '../shared/tracker-protocol.ts';
import type { ChannelSpec, OriginConfig } from './config.ts';
import type { FetchClass } from './egress-class.ts';
import type { Egress } from './egress.ts';
import type { OriginEvents } from './events.ts';
import { IngestReceiver, type PutResult } from './ingest-receiver.ts';
import { IngestSupervisor } from './ingest-supervisor.ts';
import { LiveWindow } from './live-window.ts';
import { type ChannelMetrics, type OriginMetrics, channelMetrics } from './metrics.ts';
import { type OffloadTotals, offloadRatio } from './offload.ts';
import type { Probe } from './reachability-probe.ts';
import type { RedisLink } from './redis-link.ts';
import { RedisOrigin } from './redis-origin.ts';
import { OriginSeeding } from './seeding.ts';
import { TrackerServer } from './tracker-server.ts';

export interface ChannelDeps {
  spec: ChannelSpec;
  config: OriginConfig;
  /** The origin's Ed25519 key (origin/signing-key.ts): it signs every channel's announcements, each under its channel's name. */
  signingKey: KeyObject;
  clock: Clock;
  rng: Rng;
  log: Logger;
  metrics: OriginMetrics;
  /** The origin's one uplink, which every channel's seeds and fallbacks share. */
  egress: Egress;
  /** How the channel's tracker checks a joined peer's address, given the stream id its peers answer with. */
  probe: (streamId: string) => Probe;
  /** With --redis: the swarm is the tracker replicas' (tracker-replica.ts), and the channel publishes and seeds through Redis. */
  redisLink: RedisLink | null;
  /** Base URL ffmpeg PUTs a run's files to. */
  ingestBase(channel: Channel, runId: string): string;
}

/**
 * One live channel: its source and stream key, live window, tracker and
 * swarm, seeding, and its own egress and audience accounting (offload.ts).
 * The origin's HTTP server routes to it by path (shared/channel.ts).
 */
export class Channel {
  readonly name: string;
  readonly streamId: string;
  readonly streamKey: string;
  /** Where its pictures come from: as --source takes (origin/config.ts). */
  readonly source: string;
  readonly livePath: string;
  readonly trackerPath: string;
  readonly metrics: ChannelMetrics;
  readonly signer: AnnouncementSigner;
  readonly window: LiveWindow;
  readonly tracker: TrackerServer;
  /** Null unless --redis. */
  readonly redis: RedisOrigin | null;
  readonly ingest: IngestSupervisor;
  /** `segmentPublished` for every segment of this channel, once it is in the window, announced and seeded. */
  readonly events: OriginEvents = new EventEmitter();
  /** What this channel's audience needed and what the origin sent it: its share of the uplink. */
  readonly measured: OffloadTotals = { egressBytes: 0, audienceBytes: 0 };
  private readonly receiver: IngestReceiver;
  private readonly seeding: OriginSeeding;

  constructor(deps: ChannelDeps) {
    const { spec, config, clock, log } = deps;
    this.name = spec.name;
    this.streamId = channelStreamId(config.streamId, spec.name);
    this.streamKey = spec.streamKey ?? randomBytes(18).toString('base64url');
    this.source = spec.source;
    this.livePath = channelLivePath(spec.name);
    this.trackerPath = channelTrackerPath(spec.name);
    const metrics = (this.metrics = channelMetrics(deps.metrics, spec.name));
    // Numbering starts at the clock's seconds (half-seconds with --low-latency), so a restarted origin
    // (at most one segment per such unit) never reuses a number a peer still holds for other bytes.
    const signer = (this.signer = new AnnouncementSigner(deps.signingKey, spec.name));
    const numberUnitMs = Math.min(1000, 1000 * config.segmentSeconds);
    const window = (this.window = new LiveWindow(config.windowSegments, config.pieceSize, signer, Math.floor(clock.nowMs() / numberUnitMs)));
    const tracker = (this.tracker = new TrackerServer({
      config: { ...config, streamId: this.streamId },
      clock,
      rng: deps.rng,
      log: log.child({ component: 'tracker' }),
      metrics,
      window: () => window.signedAnnouncements(),
      originKey: signer.publicKeyBase64,
      probe: deps.probe(this.streamId),
      onPeerLeft: (peerId) => this.seeding.reseed(peerId),
    }));
    const redis = (this.redis = deps.redisLink
      ? new RedisOrigin({
          link: deps.redisLink,
          channel: spec.name,
          config: { streamId: this.streamId, pieceSize: config.pieceSize, windowSegments: config.windowSegments, originKey: signer.publicKeyBase64 },
          clock,
          log: log.child({ component: 'redis' }),
          metrics,
          onPeerGone: (peerId) => this.seeding.reseed(peerId),
        })
      : null);
    this.seeding = new OriginSeeding({ config, window, tracker: redis?.seedTarget ?? tracker, egress: deps.egress, clock, countEgress: (bytes) => this.countEgress(bytes) });
    this.receiver = new IngestReceiver((s) => {
      const stored = window.publish(s.data, s.durationMs, s.discontinuity, clock.nowMs());
      const publishedMs = performance.now();
      metrics.segmentsPublished.inc();
      metrics.windowSegments.set(window.size);
      metrics.windowBytes.set(window.bytes);
      const audience = stored.info.size * this.swarmSize();
      this.measured.audienceBytes += audience;
      metrics.audienceBytes.inc(audience);
      metrics.offloadRatio.set(offloadRatio(this.measured));
      log.debug({ seq: stored.info.seq, bytes: stored.info.size, durationMs: stored.info.durationMs }, 'segment published');
      if (redis) redis.publishSegment(segmentFrame(stored.signed));
      else tracker.announce(stored.signed);
      const announcedMs = performance.now();
      this.seeding.seed(stored);
      this.events.emit('segmentPublished', {
        segment: stored,
        timing: { segmentPutEndMs: s.segmentPutEndMs, playlistPutMs: s.playlistPutMs, publishedMs, announcedMs },
      });
    });
    this.ingest = new IngestSupervisor({
      settings: { ...config, source: spec.source, label: spec.name === DEFAULT_CHANNEL ? undefined : spec.name },
      ingestBase: (run) => deps.ingestBase(this, run),
      clock,
      log: log.child({ component: 'ingest' }),
      maxBackoffMs: config.restartMaxBackoffMs,
      onRestart: () => metrics.ingestRestarts.inc(),
    });
  }

  /** Peers joined to the channel's swarm: at this origin's tracker, or at the replicas. */
  swarmSize(): number {
    return this.redis?.size ?? this.tracker.registry.size;
  }

  /** The egress class of an HTTP segment fetch that carried `token` (or none), judged against the whole swarm. */
  fetchClass(token: string | null): FetchClass {
    return (this.redis ?? this.tracker).fetchClass(token);
  }

  /** Bytes of this channel's segments that left the origin's uplink. */
  countEgress(bytes: number): void {
    this.measured.egressBytes += bytes;
    this.metrics.offloadRatio.set(offloadRatio(this.measured));
  }

  offloadRatio(): number {
    return offloadRatio(this.measured);
  }

  keyMatches(given: string): boolean {
    const a = Buffer.from(given);
    const b = Buffer.from(this.streamKey);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** A file ffmpeg PUT for this channel, its stream key already checked. */
  put(run: string, file: string, body: Buffer, atMs: number): PutResult {
    return this.receiver.put(run, file, body, atMs);
  }
}
