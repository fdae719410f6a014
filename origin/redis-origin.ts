/**
 * The origin's side of tracker replicas (--redis): it registers its channel,
 * publishes each segment frame once (pub/sub for the replicas' peers, a list
 * for the window a replica welcomes joiners with), and seeds each piece once
 * across the whole swarm: the seeder chooses among every replica's members,
 * and the piece goes, as the seed frame the peer will get, to the one replica
 * that holds that peer. A fetch token is judged against the whole swarm too.
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../shared/clock.ts';
import { encodeTrackerToPeer } from '../shared/tracker-protocol.ts';
import { type FetchClass, fetchClass } from './egress-class.ts';
import { MembersSync } from './members-sync.ts';
import type { TrackerMetrics } from './metrics.ts';
import { CHANNELS_KEY, type ChannelConfig, type ChannelKeys, channelKeys, encodeSeedMessage } from './redis-schema.ts';
import type { RedisLink } from './redis-link.ts';
import type { SeedCandidate } from './seeder.ts';

/** The channel's config and window outlive a dead origin this long, then go, so replicas stop welcoming into it. */
export const ORIGIN_KEYS_TTL_MS = 30_000;

export interface RedisOriginDeps {
  link: RedisLink;
  channel: string;
  config: ChannelConfig;
  clock: Clock;
  log: Logger;
  metrics: Pick<TrackerMetrics, 'seedBytes'>;
  /** A member left or moved to another replica: what it was seeded lately goes to others (seeding.ts). */
  onPeerGone(peerId: string): void;
}

export class RedisOrigin {
  readonly sync: MembersSync;
  private readonly keys: ChannelKeys;
  private timer: TimerHandle | null = null;

  constructor(private readonly deps: RedisOriginDeps) {
    this.keys = channelKeys(deps.channel);
    this.sync = new MembersSync(deps.link, this.keys, deps.clock, deps.log, { onGone: (peerId) => deps.onPeerGone(peerId) });
  }

  async start(): Promise<void> {
    await this.register();
    this.timer = this.deps.clock.setInterval(() => void this.register(), ORIGIN_KEYS_TTL_MS / 3);
    this.deps.link.onReconnect(() => void this.register());
    await this.sync.start();
  }

  close(): void {
    this.timer?.cancel();
    this.sync.close();
  }

  /** Peers in the whole swarm. */
  get size(): number {
    return this.sync.members.size;
  }

  /** Publishes a segment frame (segmentFrame) once: to every replica, and into the window replicas welcome with. */
  publishSegment(frame: Uint8Array): void {
    const { link, config } = this.deps;
    // The link has told the operator of the outage once; its replicas' peers learn of segments again when it is back.
    if (!link.ready) return;
    const bytes = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    link.cmd
      .multi()
      .rPush(this.keys.window, bytes)
      .lTrim(this.keys.window, -config.windowSegments, -1)
      .pExpire(this.keys.window, ORIGIN_KEYS_TTL_MS)
      .publish(this.keys.segments, bytes)
      .exec()
      .catch((err: Error) => this.deps.log.warn({ err: err.message }, 'segment not published to the tracker replicas'));
  }

  /** What OriginSeeding needs of a tracker, over the whole swarm. */
  readonly seedTarget = {
    seedCandidates: (): SeedCandidate[] => this.sync.members.seedCandidates(),
    canSeed: (peerId: string): boolean => this.deps.link.ready && this.sync.members.get(peerId) !== undefined,
    seed: (peerId: string, seq: number, piece: number, data: Uint8Array): boolean => {
      const m = this.sync.members.get(peerId);
      if (!m || !this.deps.link.ready) return false;
      const frame = encodeTrackerToPeer({ type: 'seed', seq, piece, data }) as Uint8Array;
      this.deps.link.cmd
        .publish(this.keys.seeds(m.replica), encodeSeedMessage(peerId, frame))
        .catch((err: Error) => this.deps.log.debug({ err: err.message }, 'seed not published'));
      this.deps.metrics.seedBytes.inc(data.byteLength);
      return true;
    },
  };

  fetchClass(token: string | null): FetchClass {
    return fetchClass(token === null ? null : this.sync.members.fetchingPeer(token), this.deps.clock.nowMs());
  }

  private async register(): Promise<void> {
    const { link, channel, config } = this.deps;
    if (!link.ready) return;
    try {
      await link.cmd.multi().sAdd(CHANNELS_KEY, channel).set(this.keys.config, JSON.stringify(config), { PX: ORIGIN_KEYS_TTL_MS }).exec();
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message }, 'channel not registered in redis');
    }
  }
}
