/**
 * Which segments the local playlist lists. A player starts a few segments
 * behind the newest one listed and fetches each as soon as it appears, so
 * listing a segment the moment it is announced would make it due before the
 * swarm has had time to spread it, and push pieces to the origin. A segment
 * is listed once it is whole here, or `listDelayMs` after its delay began
 * (its publication; peer-core.ts says when for a ladder's rendition); the
 * list never has gaps and only grows at its end.
 */
export interface ListingEntry {
  seq: number;
  complete: boolean;
  /** Local time its list delay began. */
  delayFromMs: number;
}

export function segmentsToList<T extends ListingEntry>(entries: readonly T[], firstWanted: number | null, nowMs: number, listDelayMs: number, max: number): T[] {
  if (firstWanted === null) return [];
  const out: T[] = [];
  for (const e of entries) {
    if (e.seq < firstWanted) continue;
    if (!e.complete && nowMs - e.delayFromMs < listDelayMs) break;
    out.push(e);
  }
  return out.slice(-max);
}

/**
 * Where a joining node starts playing: `holdBack` segments behind the live
 * edge as a player expects, but only into segments its neighbours already
 * hold. In a swarm that is itself just forming, nobody holds the older ones
 * and fetching them would put every newcomer on the origin at once; such a
 * node starts at the live edge, which the origin is seeding anyway, and its
 * player waits for the hold-back to build up instead. A node with no
 * neighbours at all has only the origin, so it starts the full hold-back back.
 */
export function startSeq(newest: number, holdBack: number, heldByNeighbours: (seq: number) => boolean, lonely: boolean): number {
  if (lonely) return newest - holdBack + 1;
  for (let back = holdBack - 1; back > 0; back--) if (heldByNeighbours(newest - back)) return newest - back;
  return newest;
}
