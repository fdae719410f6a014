/**
 * One channel's tracker in a replica process: a TrackerServer whose swarm is
 * shared with the other replicas through Redis (redis-schema.ts). Its own
 * joiners it welcomes, probes and times out as a lone tracker would; what it
 * learns of them goes to Redis, and what the others learn comes back into its
 * SwarmMembers mirror, from which it hands out peer lists. Segment frames and
 * seeds the origin published it relays to its peers byte for byte.
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../shared/clock.ts';
import type { Rng } from '../shared/rng.ts';
import { type PeerAddress, decodeTrackerToPeer } from '../shared/tracker-protocol.ts';
import { MembersSync } from './members-sync.ts';
import type { OriginMetrics } from './metrics.ts';
import type { PeerRecord } from './peer-registry.ts';
import type { Probe } from './reachability-probe.ts';
import { type ChannelConfig, type ChannelKeys, channelKeys, decodeSeedMessage, encodeMemberEvent } from './redis-schema.ts';
import type { RedisLink } from './redis-link.ts';
import { RESP_TYPES } from '@redis/client';
import { memberOf } from './swarm-members.ts';
import { type SwarmShare, type TrackerConfig, TrackerServer } from './tracker-server.ts';

/** Removes a member and tells the others, only if `replica` still holds it: a peer that rejoined elsewhere stays. */
const LEFT_SCRIPT = `
local text = redis.call('HGET', KEYS[2], ARGV[1])
if not text or cjson.decode(text).replica ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('PUBLISH', KEYS[3], ARGV[3])
return 1`;

export interface ChannelReplicaDeps {
  channel: string;
  replicaId: string;
  link: RedisLink;
  clock: Clock;
  rng: Rng;
  log: Logger;
  metrics: OriginMetrics;
  config: Omit<TrackerConfig, 'streamId' | 'pieceSize'>;
  probe: Probe;
}

export class ChannelReplica implements SwarmShare {
  readonly tracker: TrackerServer;
  readonly sync: MembersSync;
  private readonly keys: ChannelKeys;
  /** The window's segment frames, oldest first, with their sequence numbers. */
  private frames: { seq: number; frame: Uint8Array }[] = [];
  private refreshTimer: TimerHandle | null = null;

  constructor(
    private readonly deps: ChannelReplicaDeps,
    private readonly channelConfig: ChannelConfig,
  ) {
    this.keys = channelKeys(deps.channel);
    const log = deps.log.child({ channel: deps.channel });
    this.sync = new MembersSync(deps.link, this.keys, deps.clock, log, {
      onListed: (m) => {
        if (m.replica !== deps.replicaId) this.tracker.listedElsewhere({ peerId: m.peerId, url: m.url as string });
      },
      onReloaded: () => this.restoreOwn(),
    });
    this.tracker = new TrackerServer({
      config: { ...deps.config, streamId: channelConfig.streamId, pieceSize: channelConfig.pieceSize },
      originKey: channelConfig.originKey,
      clock: deps.clock,
      rng: deps.rng,
      log,
      metrics: deps.metrics,
      probe: deps.probe,
      share: this,
      // The origin reseeds on its own, from the member events.
      onPeerLeft: () => {},
    });
  }

  async start(): Promise<void> {
    const { link } = this.deps;
    await link.subscribe(this.keys.segments, (msg) => this.addFrame(msg, true));
    await link.subscribe(this.keys.seeds(this.deps.replicaId), (msg) => this.onSeed(msg));
    await this.loadWindow();
    link.onReconnect(() => void this.loadWindow());
    await this.sync.start();
    const everyMs = Math.max(250, Math.floor(this.deps.config.peerTimeoutMs / 4));
    this.refreshTimer = this.deps.clock.setInterval(() => this.refresh(), everyMs);
    this.tracker.start();
  }

  async close(): Promise<void> {
    this.refreshTimer?.cancel();
    this.sync.close();
    await this.tracker.close();
  }

  windowFrames(): readonly Uint8Array[] {
    return this.frames.map((f) => f.frame);
  }

  sample(exclude: string, max: number, rng: Rng): PeerAddress[] {
    return this.sync.members.sample(exclude, max, rng);
  }

  takenElsewhere(peerId: string, resume: string | null): boolean {
    return this.sync.members.takenElsewhere(peerId, resume, this.deps.replicaId);
  }

  publish(peer: PeerRecord): void {
    const m = memberOf(peer, this.deps.replicaId);
    const before = this.sync.members.get(peer.peerId);
    // Taken over from a replica that died (it proved its id), at the address it was listed at: listed on while probed again.
    if (peer.reachability === 'probing' && before?.listed && before.url === m.url) m.listed = true;
    this.sync.apply(m);
    const { cmd } = this.deps.link;
    if (!this.deps.link.ready) return;
    Promise.all([
      cmd.hSet(this.keys.memberInfo, m.peerId, JSON.stringify(m)),
      cmd.zAdd(this.keys.members, { score: this.expiresAtMs(), value: m.peerId }),
      cmd.publish(this.keys.memberEvents, encodeMemberEvent({ op: 'up', member: m })),
    ]).catch((err: Error) => this.deps.log.debug({ err: err.message }, 'member not published'));
  }

  left(peer: PeerRecord): void {
    const { replicaId, link } = this.deps;
    this.sync.remove(peer.peerId, replicaId);
    if (!link.ready) return;
    link.cmd
      .eval(LEFT_SCRIPT, {
        keys: [this.keys.members, this.keys.memberInfo, this.keys.memberEvents],
        arguments: [peer.peerId, replicaId, encodeMemberEvent({ op: 'left', peerId: peer.peerId, replica: replicaId })],
      })
      .catch((err: Error) => this.deps.log.debug({ err: err.message }, 'leave not published'));
  }

  private expiresAtMs(): number {
    return this.deps.clock.nowMs() + this.deps.config.peerTimeoutMs;
  }

  /** Keeps this replica's peers from expiring in Redis: while it runs they are alive, and it drops those that are not. */
  private refresh(): void {
    const peers = [...this.tracker.registry.all()];
    if (peers.length === 0 || !this.deps.link.ready) return;
    const score = this.expiresAtMs();
    this.deps.link.cmd
      .zAdd(this.keys.members, peers.map((p) => ({ score, value: p.peerId })))
      .catch((err: Error) => this.deps.log.debug({ err: err.message }, 'members not refreshed'));
  }

  /** After a reload: those of its peers that Redis does not list (it lost them in an outage or restart) are published again. */
  private restoreOwn(): void {
    for (const p of this.tracker.registry.all()) if (this.sync.members.get(p.peerId) === undefined) this.publish(p);
  }

  private async loadWindow(): Promise<void> {
    try {
      const frames = await this.deps.link.cmd.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).lRange(this.keys.window, 0, -1);
      for (const f of frames as unknown as Buffer[]) this.addFrame(f, false);
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message }, 'segment window not loaded from redis');
    }
  }

  /** Takes a segment frame into the window; announces it to the peers if it is new and `announce`. */
  private addFrame(msg: Buffer, announce: boolean): void {
    const frame = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
    const decoded = decodeTrackerToPeer(frame);
    if (!decoded.ok || decoded.value.type !== 'segment') {
      this.deps.log.error({ error: decoded.ok ? decoded.value.type : decoded.error.message }, 'not a segment frame on the segments channel: dropped');
      return;
    }
    const seq = decoded.value.announcement.segment.seq;
    if (this.frames.some((f) => f.seq === seq)) return;
    const newest = this.frames.at(-1)?.seq ?? -1;
    this.frames.push({ seq, frame });
    if (seq < newest) this.frames.sort((a, b) => a.seq - b.seq);
    if (this.frames.length > this.channelConfig.windowSegments) this.frames.splice(0, this.frames.length - this.channelConfig.windowSegments);
    if (announce && seq > newest) this.tracker.announceFrame(frame);
  }

  private onSeed(msg: Buffer): void {
    let seed;
    try {
      seed = decodeSeedMessage(msg);
    } catch (err) {
      this.deps.log.error({ err: (err as Error).message }, 'malformed seed message: dropped');
      return;
    }
    const decoded = decodeTrackerToPeer(seed.frame);
    if (!decoded.ok || decoded.value.type !== 'seed') {
      this.deps.log.error('not a seed frame in a seed message: dropped');
      return;
    }
    // A peer that left or is backed up misses it; it fetches the piece from its neighbours or the origin.
    this.tracker.seedFrame(seed.peerId, seed.frame, decoded.value.data.byteLength);
  }
}
