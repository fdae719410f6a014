import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../shared/clock.ts';
import { type ChannelKeys, decodeMemberEvent } from './redis-schema.ts';
import type { RedisLink } from './redis-link.ts';
import { type Member, SwarmMembers, decodeMember } from './swarm-members.ts';

/** How often a process reloads the whole membership: it catches what pub/sub missed (an outage) and expires dead replicas' peers. */
export const RESYNC_EVERY_MS = 5000;

/** Drops the members whose replica stopped refreshing them, atomically, and returns their ids. */
const EXPIRE_SCRIPT = `
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, id in ipairs(gone) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
return gone`;

export interface MembersSyncHooks {
  /** A member became listable (for a replica's short-listed joiners). */
  onListed?(m: Member): void;
  /** A member left, or rejoined on another replica: what was seeded to it lately may not have spread. */
  onGone?(peerId: string): void;
  /** A reload finished: a replica puts back those of its peers that Redis lost. */
  onReloaded?(): void;
}

/**
 * Keeps a SwarmMembers mirror of a channel's swarm up to date from Redis:
 * member events as they come, and a full reload every RESYNC_EVERY_MS and
 * after each Redis outage.
 */
export class MembersSync {
  readonly members = new SwarmMembers();
  private timer: TimerHandle | null = null;
  /** Peers an event named while a reload was under way: the reload's older snapshot does not remove them. */
  private touched: Set<string> | null = null;

  constructor(
    private readonly link: RedisLink,
    private readonly keys: ChannelKeys,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly hooks: MembersSyncHooks,
  ) {}

  async start(): Promise<void> {
    await this.link.subscribe(this.keys.memberEvents, (msg) => this.onEvent(msg.toString('utf8')));
    this.link.onReconnect(() => void this.resync());
    this.timer = this.clock.setInterval(() => void this.resync(), RESYNC_EVERY_MS);
    await this.resync();
  }

  close(): void {
    this.timer?.cancel();
  }

  /** Applies a member's new state here at once (a replica's own peers), as its event will elsewhere. */
  apply(m: Member): void {
    this.touched?.add(m.peerId);
    const { movedFrom, newlyListed } = this.members.upsert(m);
    if (movedFrom !== null) this.hooks.onGone?.(m.peerId);
    if (newlyListed) this.hooks.onListed?.(m);
  }

  remove(peerId: string, replica: string): void {
    this.touched?.add(peerId);
    if (this.members.remove(peerId, replica)) this.hooks.onGone?.(peerId);
  }

  private onEvent(text: string): void {
    let e;
    try {
      e = decodeMemberEvent(text);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'ignored a malformed member event from redis');
      return;
    }
    if (e.op === 'up') this.apply(e.member);
    else this.remove(e.peerId, e.replica);
  }

  /** Reloads the membership from Redis; while Redis is away the mirror stays as it was. */
  async resync(): Promise<void> {
    if (!this.link.ready) return;
    const touched = new Set<string>();
    this.touched = touched;
    try {
      const now = this.clock.nowMs();
      await this.link.cmd.eval(EXPIRE_SCRIPT, { keys: [this.keys.members, this.keys.memberInfo], arguments: [String(now)] });
      const [live, info] = await Promise.all([this.link.cmd.zRangeByScore(this.keys.members, now, '+inf'), this.link.cmd.hGetAll(this.keys.memberInfo)]);
      // Keyed by peer ids, which come from peers: a Map, so an id like `constructor` finds nothing of Object's.
      const infoById = new Map(Object.entries(info as Record<string, string>));
      const seen = new Set<string>();
      for (const peerId of live) {
        const text = infoById.get(peerId);
        if (text === undefined || touched.has(peerId)) continue;
        try {
          const m = decodeMember(text);
          seen.add(m.peerId);
          this.apply(m);
        } catch (err) {
          this.log.warn({ peerId, err: (err as Error).message }, 'ignored a malformed member in redis');
        }
      }
      for (const m of [...this.members.all()]) if (!seen.has(m.peerId) && !touched.has(m.peerId)) this.remove(m.peerId, m.replica);
      this.hooks.onReloaded?.();
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'membership reload failed');
    } finally {
      if (this.touched === touched) this.touched = null;
    }
  }
}
