/**
 * What the node does with each rendition of a ladder it has joined. The one
 * its player asked for last is the one it plays: hls.js plays one rendition
 * at a time, and asks for its playlist every target duration.
 */
export type RenditionRole =
  /** The player is on it: fetched with deadlines, as a single stream is. */
  | 'active'
  /** The player left it lately: it fetches nothing more, and relays what it holds to its neighbours. */
  | 'relay'
  /** The node leaves its swarm. */
  | 'leave';

export interface RenditionState {
  /** The player asked for it last (its playlist, a segment, a report). */
  playing: boolean;
  lastWantedAtMs: number;
  /** Its BANDWIDTH in the master playlist, bits/s. */
  bandwidth: number;
}

/** How long a rendition the player left is relayed, when the node has room for it. */
export const DEFAULT_LINGER_MS = 30_000;

/**
 * A rendition the player left is relayed for `lingerMs` only while the
 * node's download has room for it beside the one playing: on a link with no
 * room to spare, whatever its swarm still sends it would slow the rendition
 * the player needs (the very reason hls.js switched down). A relayed rung is
 * seeded no more (it says `relay-only` to its tracker). `downloadBitsPerSec`
 * null: no known bound.
 */
export function renditionRole(r: RenditionState, playingBandwidth: number, downloadBitsPerSec: number | null, nowMs: number, lingerMs = DEFAULT_LINGER_MS): RenditionRole {
  if (r.playing) return 'active';
  if (nowMs - r.lastWantedAtMs > lingerMs) return 'leave';
  const room = downloadBitsPerSec === null || downloadBitsPerSec >= playingBandwidth + r.bandwidth;
  return room ? 'relay' : 'leave';
}

/**
 * The rung above the one playing, to be joined ahead of the player as a
 * relay, or null: only while the download has room for both. When hls.js
 * then climbs to it, its swarm is joined and its neighbours known, and the
 * switch does not wait for a tracker's welcome.
 */
export function renditionToPrepare(rungs: readonly { name: string; bandwidth: number }[], playing: string, downloadBitsPerSec: number | null): string | null {
  const sorted = [...rungs].sort((a, b) => b.bandwidth - a.bandwidth);
  const at = sorted.findIndex((r) => r.name === playing);
  const above = at > 0 ? sorted[at - 1] : undefined;
  const current = sorted[at];
  if (!above || !current) return null;
  return downloadBitsPerSec === null || downloadBitsPerSec >= current.bandwidth + above.bandwidth ? above.name : null;
}

/** How long a ladder node goes without its player asking for anything (from start, or since it last asked) before it picks a rung itself. */
export const DEFAULT_HEADLESS_AFTER_MS = 10_000;

/** How many times over a headless node's download must carry the rung it picks: the origin's seeding and its neighbours' bursts come on top. */
export const HEADLESS_MARGIN = 1.5;

/**
 * The rung a node with no player watching (a relay box, a node whose page is
 * not open) is in, so it still carries part of the ladder: the highest whose
 * BANDWIDTH its download carries HEADLESS_MARGIN times over, else the lowest.
 * `downloadBitsPerSec` null (no known bound) carries any, so the highest.
 * Null for a ladder of no rungs.
 */
export function headlessRendition(rungs: readonly { name: string; bandwidth: number }[], downloadBitsPerSec: number | null): string | null {
  const sorted = [...rungs].sort((a, b) => b.bandwidth - a.bandwidth);
  const fits = sorted.find((r) => downloadBitsPerSec === null || downloadBitsPerSec >= r.bandwidth * HEADLESS_MARGIN);
  return (fits ?? sorted.at(-1))?.name ?? null;
}

/** True once the player has not asked for anything for `afterMs`: since `lastAskedAtMs`, or since the node started if it never asked. */
export function isHeadless(lastAskedAtMs: number | null, startedAtMs: number, nowMs: number, afterMs = DEFAULT_HEADLESS_AFTER_MS): boolean {
  return nowMs - (lastAskedAtMs ?? startedAtMs) >= afterMs;
}
