/** Where the player is in the live stream, in the peer node's terms: media sequence number and ms into that segment. */
export interface PlayPosition {
  seq: number;
  offsetMs: number;
}

/** The few fields of an hls.js fragment this needs (its public `sn`, `start`, `duration`). */
export interface FragmentLike {
  sn: number | 'initSegment';
  start: number;
  duration: number;
}

/**
 * The fragment whose [start, start + duration) holds `currentTime`, as a
 * position a peer node can turn into deadlines; null when none does (not
 * started yet, or in a gap between fragments).
 */
export function positionAt(fragments: readonly FragmentLike[], currentTime: number): PlayPosition | null {
  if (!Number.isFinite(currentTime)) return null;
  for (const f of fragments) {
    if (typeof f.sn !== 'number' || f.sn < 0) continue;
    if (f.start <= currentTime && currentTime < f.start + f.duration) {
      return { seq: f.sn, offsetMs: Math.max(0, Math.floor((currentTime - f.start) * 1000)) };
    }
  }
  return null;
}
