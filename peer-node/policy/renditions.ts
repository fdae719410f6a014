/**
 * What the node does with each rendition it has joined, from when its player
 * last asked for it (a playlist, a segment or a position report of it).
 * hls.js refreshes the playlist of the rendition it plays every target
 * duration, so the one it is on is asked for every few seconds; one it left
 * is asked for no more.
 */
export type RenditionRole =
  /** The player is on it: fetched with deadlines, as a single stream is. */
  | 'active'
  /** The player left it lately: it fetches nothing more, and relays what it holds to its neighbours. */
  | 'relay'
  /** Left long enough: the node leaves its swarm. */
  | 'leave';

export interface RenditionTiming {
  /** Asked for no longer ago than this: the player is on it (or switching to it). */
  activeMs: number;
  /** Left no longer ago than this: still relayed. */
  lingerMs: number;
}

export const DEFAULT_RENDITION_TIMING: RenditionTiming = { activeMs: 8000, lingerMs: 30_000 };

export function renditionRole(lastWantedAtMs: number, nowMs: number, timing: RenditionTiming = DEFAULT_RENDITION_TIMING): RenditionRole {
  const since = nowMs - lastWantedAtMs;
  if (since <= timing.activeMs) return 'active';
  if (since <= timing.lingerMs) return 'relay';
  return 'leave';
}
