/**
 * Which segments the local playlist lists. A player starts a few segments
 * behind the newest one listed and fetches each as soon as it appears, so
 * listing a segment the moment it is announced would make it due before the
 * swarm has had time to spread it, and push pieces to the origin. A segment
 * is listed once it is whole here, or `listDelayMs` after it was published;
 * the list never has gaps and only grows at its end.
 */
export interface ListingEntry {
  seq: number;
  complete: boolean;
  publishedLocalMs: number;
}

export function segmentsToList<T extends ListingEntry>(entries: readonly T[], firstWanted: number | null, nowMs: number, listDelayMs: number, max: number): T[] {
  if (firstWanted === null) return [];
  const out: T[] = [];
  for (const e of entries) {
    if (e.seq < firstWanted) continue;
    if (!e.complete && nowMs - e.publishedLocalMs < listDelayMs) break;
    out.push(e);
  }
  return out.slice(-max);
}
