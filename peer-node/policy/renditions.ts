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
 * node's download has room for it beside the one playing: the origin keeps
 * seeding a rendition to the peers in its swarm, and on a link with no room
 * to spare that would slow the rendition the player needs (the very reason
 * hls.js switched down). `downloadBitsPerSec` null: no known bound.
 */
export function renditionRole(r: RenditionState, playingBandwidth: number, downloadBitsPerSec: number | null, nowMs: number, lingerMs = DEFAULT_LINGER_MS): RenditionRole {
  if (r.playing) return 'active';
  if (nowMs - r.lastWantedAtMs > lingerMs) return 'leave';
  const room = downloadBitsPerSec === null || downloadBitsPerSec >= playingBandwidth + r.bandwidth;
  return room ? 'relay' : 'leave';
}

/**
 * The rung above the one playing, to be joined ahead of the player as a
 * relay, or null: only while the download has room for both (the origin
 * seeds a rendition to the peers in its swarm). When hls.js then climbs to
 * it, its swarm is joined, its neighbours known and some pieces in, and the
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
