import { type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { DEFAULT_CHANNEL, channelLivePath, channelStreamId, channelTrackerPath } from '../shared/channel.ts';
import type { Clock } from '../shared/clock.ts';
import { type Variant, rungVariant } from '../shared/master-playlist.ts';
import { PEER_PATH, type Rung, renditionPeerPath, renditionSignedName, renditionStreamId } from '../shared/rendition.ts';
import type { Rng } from '../shared/rng.ts';
import { type ChannelSpec, type OriginConfig, progressiveAnnouncement } from './config.ts';
import type { Egress } from './egress.ts';
import type { OriginEvents } from './events.ts';
import type { PutResult } from './ingest-receiver.ts';
import { IngestSupervisor } from './ingest-supervisor.ts';
import type { LiveWindow } from './live-window.ts';
import { type ChannelMetrics, type OriginMetrics, channelMetrics, ingestMetrics } from './metrics.ts';
import { type OffloadTotals, offloadRatio } from './offload.ts';
import type { Probe } from './reachability-probe.ts';
import type { RedisLink } from './redis-link.ts';
import type { RedisOrigin } from './redis-origin.ts';
import { AlignedNumbering, renditionOfIngestFile, rungPieceSizes } from './rendition.ts';
import { StreamSwarm } from './stream-swarm.ts';
import { readTsCodecs } from './ts-probe.ts';
import type { TrackerServer } from './tracker-server.ts';

export interface ChannelDeps {
  spec: ChannelSpec;
  config: OriginConfig;
  /** --ladder's rungs, highest first, or null: the channel is one stream. */
  ladder: readonly Rung[] | null;
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
 * One live channel: its source and stream key, its one ffmpeg, and its
 * swarm (stream-swarm.ts), or with --ladder one swarm per rendition, all fed
 * by that ffmpeg. The origin's HTTP server routes to it by path
 * (shared/channel.ts, shared/rendition.ts).
 */
export class Channel {
  readonly name: string;
  readonly streamId: string;
  readonly streamKey: string;
  /** Where its pictures come from: as --source takes (origin/config.ts). */
  readonly source: string;
  readonly livePath: string;
  readonly trackerPath: string;
  /** Its ingest's series; its swarms' are theirs (a rendition's labelled with its name too). */
  readonly metrics: Pick<ChannelMetrics, 'ingestRestarts' | 'ingestRejected'>;
  /** Its one swarm without --ladder, else null. */
  readonly plain: StreamSwarm | null;
  /** With --ladder: each rendition's swarm, highest first; else empty. */
  readonly renditions: ReadonlyMap<string, StreamSwarm>;
  /** With --ladder: the master playlist's entries, highest first; with --copy the top one once read from the source. */
  private readonly ladderVariants: Variant[];
  private copiedSource: Variant | null = null;
  readonly ingest: IngestSupervisor;
  /** The plain swarm, or the top rendition's: what an origin of one stream had. */
  readonly window: LiveWindow;
  readonly tracker: TrackerServer;
  readonly signer: StreamSwarm['signer'];
  readonly redis: RedisOrigin | null;
  readonly events: OriginEvents;

  constructor(private readonly deps: ChannelDeps) {
    const { spec, config, clock, log } = deps;
    this.name = spec.name;
    this.streamId = channelStreamId(config.streamId, spec.name);
    this.streamKey = spec.streamKey ?? randomBytes(18).toString('base64url');
    this.source = spec.source;
    this.livePath = channelLivePath(spec.name);
    this.trackerPath = channelTrackerPath(spec.name);
    // Numbering starts at the clock's seconds (half-seconds with --low-latency), so a restarted origin
    // (at most one segment per such unit) never reuses a number a peer still holds for other bytes.
    const firstSeq = Math.floor(clock.nowMs() / Math.min(1000, 1000 * config.segmentSeconds));
    const common = { config, signingKey: deps.signingKey, clock, rng: deps.rng, egress: deps.egress, firstSeq };
    const ladder = deps.ladder;
    if (!ladder) {
      const metrics = channelMetrics(deps.metrics, spec.name);
      this.metrics = metrics;
      this.plain = new StreamSwarm({
        ...common,
        signedName: spec.name,
        streamId: this.streamId,
        peerPath: PEER_PATH,
        redis: deps.redisLink ? { link: deps.redisLink, channel: spec.name } : null,
        filePrefix: '',
        progressive: progressiveAnnouncement(config),
        metrics,
        log,
        probe: deps.probe(this.streamId),
      });
      this.renditions = new Map();
      this.ladderVariants = [];
    } else {
      this.metrics = ingestMetrics(deps.metrics, spec.name);
      this.plain = null;
      const renditions = new Map<string, StreamSwarm>();
      const numbering = new AlignedNumbering(() => [...renditions.values()].map((r) => r.window));
      const pieceSizes = rungPieceSizes(ladder, config.pieceSize, config.audioKbps);
      for (const rung of ladder) {
        const streamId = renditionStreamId(this.streamId, rung.name);
        renditions.set(
          rung.name,
          new StreamSwarm({
            ...common,
            config: { ...config, pieceSize: pieceSizes.get(rung.name) ?? config.pieceSize },
            signedName: renditionSignedName(spec.name, rung.name),
            streamId,
            peerPath: renditionPeerPath(rung.name),
            redis: null,
            filePrefix: `${rung.name}-`,
            progressive: false,
            seqFor: (run, index) => numbering.seqFor(run, index),
            stampFor: (seq, nowMs) => numbering.stampFor(seq, nowMs),
            metrics: channelMetrics(deps.metrics, spec.name, rung.name),
            log: log.child({ rendition: rung.name }),
            probe: deps.probe(streamId),
          }),
        );
      }
      this.renditions = renditions;
      this.ladderVariants = ladder.map((rung) => rungVariant(rung, config.fps, config.audioKbps));
      const top = [...renditions.values()][0];
      if (config.copy && top) this.readCopiedSource(top, this.ladderVariants[0] as Variant, log);
    }
    const primary = this.streams[0] as StreamSwarm;
    this.window = primary.window;
    this.tracker = primary.tracker;
    this.signer = primary.signer;
    this.redis = primary.redis;
    this.events = primary.events;
    this.ingest = new IngestSupervisor({
      settings: { ...config, ladder, source: spec.source, label: spec.name === DEFAULT_CHANNEL ? undefined : spec.name },
      ingestBase: (run) => deps.ingestBase(this, run),
      clock,
      log: log.child({ component: 'ingest' }),
      maxBackoffMs: config.restartMaxBackoffMs,
      onRestart: () => this.metrics.ingestRestarts.inc(),
    });
  }

  /**
   * The master playlist's entries, highest first: [] without a ladder; null
   * while the top rung is the copied source (--copy) and none of its segments
   * has been read yet.
   */
  variants(): readonly Variant[] | null {
    if (this.ladderVariants.length === 0 || !this.deps.config.copy) return this.ladderVariants;
    return this.copiedSource && [this.copiedSource, ...this.ladderVariants.slice(1)];
  }

  /**
   * With --copy the top rung is the source as it comes: its size and codecs
   * are read from its first segment, and again from the first of each ingest
   * run (a broadcaster may come back with other settings). Its bandwidths are
   * the --ladder spec's for it: what the source is meant to send.
   */
  private readCopiedSource(top: StreamSwarm, declared: Variant, log: Logger): void {
    top.events.on('segmentPublished', ({ segment }) => {
      if (this.copiedSource && !segment.info.discontinuity) return;
      const read = readTsCodecs(segment.data);
      if (!read) {
        log.warn({ rendition: declared.name, seq: segment.info.seq }, 'copied source: no H.264 SPS readable in its segment; the master playlist waits');
        return;
      }
      this.copiedSource = { ...declared, width: read.width, height: read.height, codecs: read.audio ? `${read.video},${read.audio}` : read.video };
    });
  }

  /** Every swarm of the channel: its one, or its renditions', highest first. */
  get streams(): StreamSwarm[] {
    return this.plain ? [this.plain] : [...this.renditions.values()];
  }

  /** Peers joined to the channel's swarms: at this origin's tracker, or at the replicas. */
  swarmSize(): number {
    return this.streams.reduce((n, s) => n + s.swarmSize(), 0);
  }

  /** What the channel's audience needed and what the origin sent it, over its swarms. */
  get measured(): OffloadTotals {
    return this.streams.reduce((t, s) => ({ egressBytes: t.egressBytes + s.measured.egressBytes, audienceBytes: t.audienceBytes + s.measured.audienceBytes }), {
      egressBytes: 0,
      audienceBytes: 0,
    });
  }

  offloadRatio(): number {
    return offloadRatio(this.measured);
  }

  keyMatches(given: string): boolean {
    const a = Buffer.from(given);
    const b = Buffer.from(this.streamKey);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** A file ffmpeg PUT for this channel, its stream key already checked: to its swarm, or its rendition's. */
  put(run: string, file: string, body: Buffer, atMs: number): PutResult {
    if (this.plain) return this.plain.put(run, file, body, atMs);
    const rendition = renditionOfIngestFile(file);
    const swarm = rendition === null ? undefined : this.renditions.get(rendition);
    return swarm ? swarm.put(run, file, body, atMs) : { status: 'rejected', reason: 'unexpected file name' };
  }
}
