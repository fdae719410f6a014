import type { Clock } from '../shared/clock.ts';
import type { PlayerReport, RenditionStats } from '../shared/player-api.ts';
import type { Variant } from '../shared/master-playlist.ts';
import { DEFAULT_HEADLESS_AFTER_MS, DEFAULT_LINGER_MS, type RenditionRole, headlessRendition, isHeadless, renditionRole, renditionToPrepare } from './policy/renditions.ts';
import type { StreamSession } from './stream-session.ts';
import { type SwarmCounters, newCounters } from './swarm-counters.ts';

interface Joined {
  session: StreamSession;
  lastWantedAtMs: number;
  /** Stall totals handed to this rendition's core, which counts their growth. */
  stalls: number;
  stallMs: number;
}

/**
 * The renditions of a ladder the node is in, one swarm each. A rendition is
 * joined when the player first asks for it (its playlist, a segment, a
 * report), not before: a node's link carries what its player watches. The
 * one the player is on fetches with deadlines; one it left fetches nothing
 * more and relays what it holds for a while, then is left
 * (policy/renditions.ts); the node tells the tracker of each whether it only
 * relays, so the origin seeds only the peers that fetch. A node
 * whose player has asked for nothing for a while (or never: a relay box)
 * picks a rung for itself and is active in it, so it still carries part of
 * the ladder; the player's next request ends that.
 */
export class Ladder {
  private readonly joined = new Map<string, Joined>();
  /** Counters of renditions the node left, so the totals only grow. */
  private readonly past = new Map<string, SwarmCounters>();
  private readonly names: ReadonlySet<string>;
  /** The rendition asked for last, and what the player's reports last said, for stats and the node's `swarm`. */
  private primaryName: string | null = null;
  /** When the player last asked for anything; null: never. */
  private lastAskedAtMs: number | null = null;
  private readonly startedAtMs: number;
  /** The rung the node chose itself while its player asks for nothing, else null. */
  private headlessName: string | null = null;
  private pageStalls = { stalls: 0, stallMs: 0 };
  private closed = false;

  constructor(
    readonly rungs: readonly Variant[],
    private readonly open: (rendition: string) => StreamSession,
    private readonly clock: Clock,
    /** The node's emulated download, bits/s, or null (no known bound): whether a rendition the player left can be relayed. */
    private readonly downloadBitsPerSec: number | null,
    private readonly lingerMs = DEFAULT_LINGER_MS,
    private readonly headlessAfterMs = DEFAULT_HEADLESS_AFTER_MS,
    /** Told which rung the node chose for itself when its player went quiet, or null when the player is back. */
    private readonly onHeadless: (rendition: string | null) => void = () => {},
  ) {
    this.names = new Set(rungs.map((r) => r.name));
    this.startedAtMs = clock.nowMs();
  }

  /** The player asked for rendition `name`: its session, joined now if it was not; null for no rung of the ladder. */
  want(name: string): StreamSession | null {
    if (this.closed || !this.names.has(name)) return null;
    const from = this.primaryName !== null && this.primaryName !== name && this.headlessName === null ? this.joined.get(this.primaryName) : undefined;
    const j = this.join(name);
    if (from) {
      const last = from.session.core.lastAskedSeq;
      j.session.core.switchedHere(last === null ? null : last + 1);
    }
    this.lastAskedAtMs = this.clock.nowMs();
    if (this.primaryName !== name || this.headlessName !== null) {
      this.primaryName = name;
      // At once: a rendition left on a link with no room to relay it must stop taking its share.
      this.maintain();
    }
    return j.session;
  }

  /** Rendition `name`'s swarm, joined now if it was not, as wanted now. */
  private join(name: string): Joined {
    const now = this.clock.nowMs();
    let j = this.joined.get(name);
    if (!j) {
      j = { session: this.open(name), lastWantedAtMs: now, stalls: 0, stallMs: 0 };
      this.joined.set(name, j);
      j.session.start();
    }
    j.lastWantedAtMs = now;
    return j;
  }

  /** Rendition `name`'s session if the node is in its swarm now, else null: never joins. */
  joinedSession(name: string): StreamSession | null {
    return this.joined.get(name)?.session ?? null;
  }

  /** The rung the node plays: the one the player asked for last, or the one it chose while the player asks for nothing. */
  private get playingName(): string | null {
    return this.headlessName ?? this.primaryName;
  }

  /** The session of the rung the node plays, or null before the player asked and before the node chose one. */
  primary(): StreamSession | null {
    const name = this.playingName;
    return name === null ? null : (this.joined.get(name)?.session ?? null);
  }

  get primaryRendition(): string | null {
    return this.playingName;
  }

  /** True while the player asks for nothing and the node is in a rung of its own choosing. */
  get headless(): boolean {
    return this.headlessName !== null;
  }

  sessions(): StreamSession[] {
    return [...this.joined.values()].map((j) => j.session);
  }

  /**
   * A position report: its rendition's core (the one asked for last if it
   * names none) learns where the player is. The page's stall totals count
   * since it loaded, so the growth is handed to that core alone. A report
   * names the rung playing, which after a switch stays the old one for a
   * buffer's length while the player fetches the new one: it keeps the old
   * rung joined, but the rung asked for last stays the one fetched with
   * deadlines (were the report to make the old one active again, the new one
   * would fetch nothing until the next request, and its slow segments would
   * tell hls.js the link cannot carry it).
   */
  onPlayerReport(r: PlayerReport): void {
    const now = this.clock.nowMs();
    const name = r.rendition ?? this.primaryName;
    if (this.primaryName === null && name !== null) this.want(name);
    this.lastAskedAtMs = now;
    if (this.headlessName !== null) this.maintain();
    const grown = { stalls: Math.max(0, r.stalls - this.pageStalls.stalls), stallMs: Math.max(0, r.stallMs - this.pageStalls.stallMs) };
    this.pageStalls = { stalls: r.stalls, stallMs: r.stallMs };
    const j = name === null || !this.names.has(name) ? undefined : this.joined.get(name);
    if (!j) return;
    j.lastWantedAtMs = now;
    j.stalls += grown.stalls;
    j.stallMs += grown.stallMs;
    j.session.core.onPlayerReport({ ...r, stalls: j.stalls, stallMs: j.stallMs });
    // Switching: segment numbers are aligned across renditions, so the position gives the new one its deadlines too
    // (no stall counted twice).
    const next = this.primaryName === null || this.primaryName === name ? undefined : this.joined.get(this.primaryName);
    next?.session.core.onPlayerReport({ ...r, stalls: next.stalls, stallMs: next.stallMs });
  }

  private role(name: string, j: Joined, now: number): RenditionRole {
    const bandwidth = (n: string | null) => this.rungs.find((r) => r.name === n)?.bandwidth ?? 0;
    const playing = this.playingName;
    return renditionRole({ playing: name === playing, lastWantedAtMs: j.lastWantedAtMs, bandwidth: bandwidth(name) }, bandwidth(playing), this.downloadBitsPerSec, now, this.lingerMs);
  }

  /**
   * Applies each rendition's role: fetch, relay only, or leave; joins the rung
   * above the one playing ahead of the player while there is room, or, while
   * the player asks for nothing, the rung the node chooses itself.
   */
  maintain(): void {
    if (this.closed) return;
    const now = this.clock.nowMs();
    const headless = isHeadless(this.lastAskedAtMs, this.startedAtMs, now, this.headlessAfterMs) ? headlessRendition(this.rungs, this.downloadBitsPerSec) : null;
    if (headless !== this.headlessName) {
      this.headlessName = headless;
      this.onHeadless(headless);
    }
    if (headless !== null) this.join(headless);
    // No player to climb: nothing is prepared for one.
    const ahead = this.primaryName === null || headless !== null ? null : renditionToPrepare(this.rungs, this.primaryName, this.downloadBitsPerSec);
    if (ahead !== null) this.join(ahead);
    for (const [name, j] of this.joined) {
      const role = this.role(name, j, now);
      if (role === 'leave') this.leave(name, j);
      else j.session.core.setRelayOnly(role === 'relay');
    }
  }

  private leave(name: string, j: Joined): void {
    j.session.close();
    this.joined.delete(name);
    this.past.set(name, sumCounters([this.past.get(name) ?? newCounters(), j.session.core.counters]));
  }

  /** Every counter over the renditions joined now and left before. */
  counters(): SwarmCounters {
    return sumCounters([...this.past.values(), ...this.sessions().map((s) => s.core.counters)]);
  }

  stats(): RenditionStats[] {
    const now = this.clock.nowMs();
    const out: RenditionStats[] = [];
    for (const rung of this.rungs) {
      const j = this.joined.get(rung.name);
      const past = this.past.get(rung.name);
      if (!j && !past) continue;
      const c = sumCounters([past ?? newCounters(), ...(j ? [j.session.core.counters] : [])]);
      const role = !j ? 'left' : this.role(rung.name, j, now) === 'active' ? 'active' : 'relay';
      out.push({
        name: rung.name,
        role,
        p2pBytes: c.p2pBytes,
        originBytes: c.originBytes,
        uploadedBytes: c.uploadedBytes,
        neighbours: j ? j.session.core.swarm.handshaken().length : 0,
      });
    }
    return out;
  }

  close(): void {
    this.closed = true;
    for (const j of this.joined.values()) j.session.close();
  }
}

export function sumCounters(all: readonly SwarmCounters[]): SwarmCounters {
  const total = newCounters();
  for (const c of all) for (const k of Object.keys(total) as (keyof SwarmCounters)[]) total[k] += c[k];
  return total;
}
