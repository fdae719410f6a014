import type { KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { AnnouncementSigner } from '../shared/announcement-signature.ts';
import type { Clock } from '../shared/clock.ts';
import type { Rng } from '../shared/rng.ts';
import { segmentFrame } from '../shared/tracker-protocol.ts';
import type { OriginConfig } from './config.ts';
import type { FetchClass } from './egress-class.ts';
import type { Egress } from './egress.ts';
import type { OriginEvents } from './events.ts';
import { type IngestGrowth, type IngestedSegment, IngestReceiver, type PutResult } from './ingest-receiver.ts';
import { LiveWindow } from './live-window.ts';
import type { ChannelMetrics } from './metrics.ts';
import { type OffloadTotals, offloadRatio } from './offload.ts';
import { OpenSegments } from './open-segments.ts';
import type { Probe } from './reachability-probe.ts';
import type { RedisLink } from './redis-link.ts';
import { RedisOrigin } from './redis-origin.ts';
import { OriginSeeding } from './seeding.ts';
import { TrackerServer } from './tracker-server.ts';

export interface StreamSwarmDeps {
  /** What its announcements are signed under: the channel's name, or `<c>/<r>` for a rendition (shared/rendition.ts). */
  signedName: string;
  streamId: string;
  /** Where its tracker lists its peers: PEER_PATH, or `/peer/<r>` for a rendition (shared/rendition.ts). */
  peerPath: string;
  /** Its redis keys' channel name; null without --redis. */
  redis: { link: RedisLink; channel: string } | null;
  /** The number its window starts at. */
  firstSeq: number;
  /** The prefix of its ingest files' names (`720p-` for a rendition, '' for a channel of one stream). */
  filePrefix: string;
  /** A rendition's number for segment `index` of ffmpeg run `run`, shared with its sibling renditions; absent: the window's next. */
  seqFor?: (run: string, index: number) => number;
  /** A rendition's publish time for number `seq` published now, shared with its sibling renditions; absent: now. */
  stampFor?: (seq: number, nowMs: number) => number;
  /** Announce and seed each segment's whole pieces as its bytes arrive (progressiveAnnouncement(config); never a rendition's or with Redis). */
  progressive: boolean;
  config: OriginConfig;
  signingKey: KeyObject;
  metrics: ChannelMetrics;
  clock: Clock;
  rng: Rng;
  log: Logger;
  egress: Egress;
  probe: Probe;
}

/**
 * One swarm of the origin: a channel of one stream, or one rendition of a
 * channel's ladder. Its live window, signer, tracker (or its Redis side),
 * seeding and egress and audience accounting (offload.ts); the ingest files
 * of its stream come to put().
 */
export class StreamSwarm {
  readonly streamId: string;
  readonly metrics: ChannelMetrics;
  readonly signer: AnnouncementSigner;
  readonly window: LiveWindow;
  readonly tracker: TrackerServer;
  /** Null unless --redis. */
  readonly redis: RedisOrigin | null;
  /** `segmentPublished` for every segment of this swarm, once it is in the window, announced and seeded. */
  readonly events: OriginEvents = new EventEmitter();
  /** What this swarm's audience needed and what the origin sent it: its share of the uplink. */
  readonly measured: OffloadTotals = { egressBytes: 0, audienceBytes: 0 };
  private readonly receiver: IngestReceiver;
  private readonly seeding: OriginSeeding;
  /** Null unless progressive. */
  private readonly openSegments: OpenSegments | null;

  constructor(deps: StreamSwarmDeps) {
    const { config, clock, log } = deps;
    this.streamId = deps.streamId;
    const metrics = (this.metrics = deps.metrics);
    const signer = (this.signer = new AnnouncementSigner(deps.signingKey, deps.signedName));
    const window = (this.window = new LiveWindow(config.windowSegments, config.pieceSize, signer, deps.firstSeq));
    const tracker = (this.tracker = new TrackerServer({
      config: { ...config, streamId: this.streamId, peerPath: deps.peerPath },
      clock,
      rng: deps.rng,
      log: log.child({ component: 'tracker' }),
      metrics,
      window: () => window.signedAnnouncements(),
      originKey: signer.publicKeyBase64,
      probe: deps.probe,
      onPeerLeft: (peerId) => this.seeding.reseed(peerId),
      openPartials: () => this.openSegments?.signedPartials() ?? [],
    }));
    const redis = (this.redis = deps.redis
      ? new RedisOrigin({
          link: deps.redis.link,
          channel: deps.redis.channel,
          config: { streamId: this.streamId, pieceSize: config.pieceSize, windowSegments: config.windowSegments, originKey: signer.publicKeyBase64 },
          clock,
          log: log.child({ component: 'redis' }),
          metrics,
          onPeerGone: (peerId) => this.seeding.reseed(peerId),
        })
      : null);
    if (deps.progressive && (redis || deps.seqFor)) throw new Error('progressive announcement is for a swarm of its own tracker, not a rendition nor with Redis');
    const seeding = (this.seeding = new OriginSeeding({
      config,
      window,
      tracker: redis?.seedTarget ?? tracker,
      egress: deps.egress,
      clock,
      countEgress: (bytes) => this.countEgress(bytes),
      openBytes: (seq) => this.openSegments?.bytes(seq) ?? null,
    }));
    const open = (this.openSegments = deps.progressive
      ? new OpenSegments({ pieceSize: config.pieceSize, window, signer, announce: (p) => tracker.announcePart(p), seeding, clock })
      : null);
    const { seqFor, stampFor } = deps;
    this.receiver = new IngestReceiver((s: IngestedSegment) => {
      const opened = open?.close(s.run, s.index) ?? null;
      const seq = opened ? opened.seq : seqFor ? seqFor(s.run, s.index) : window.next;
      const now = clock.nowMs();
      const stored = window.publishAt(seq, s.data, s.durationMs, s.discontinuity, stampFor ? stampFor(seq, now) : now);
      if (!stored) {
        // A late file of an ended run, behind what a sibling rendition's newer run has numbered.
        log.warn({ seq, next: window.next, run: s.run, index: s.index }, 'segment behind the window: dropped');
        return;
      }
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
      this.seeding.seed(stored, opened?.seeded ?? 0);
      this.events.emit('segmentPublished', {
        segment: stored,
        timing: { segmentPutEndMs: s.segmentPutEndMs, playlistPutMs: s.playlistPutMs, publishedMs, announcedMs },
      });
    }, deps.filePrefix, open ? (g) => this.grow(g) : undefined);
  }

  /** More bytes of a segment ffmpeg is PUTting (IngestReceiver's `grow`): with progressive announcement, its new whole pieces go out now. */
  grow(g: IngestGrowth): void {
    this.openSegments?.grow(g);
  }

  /** Peers joined to the swarm: at this origin's tracker, or at the replicas. */
  swarmSize(): number {
    return this.redis?.size ?? this.tracker.registry.size;
  }

  /** The egress class of an HTTP segment fetch that carried `token` (or none), judged against the whole swarm. */
  fetchClass(token: string | null): FetchClass {
    return (this.redis ?? this.tracker).fetchClass(token);
  }

  /** Bytes of this swarm's segments that left the origin's uplink. */
  countEgress(bytes: number): void {
    this.measured.egressBytes += bytes;
    this.metrics.offloadRatio.set(offloadRatio(this.measured));
  }

  offloadRatio(): number {
    return offloadRatio(this.measured);
  }

  /** A file ffmpeg PUT for this swarm, its stream key already checked. */
  put(run: string, file: string, body: Buffer, atMs: number): PutResult {
    return this.receiver.put(run, file, body, atMs);
  }

  /** A segment body ffmpeg streams for this swarm, its stream key already checked: fed to it as it arrives. */
  open(run: string, file: string): ReturnType<IngestReceiver['open']> {
    return this.receiver.open(run, file);
  }
}
