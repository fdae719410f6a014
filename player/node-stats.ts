import { type NodeStats, readStats } from '../shared/player-api.ts';

/** Share of downloaded bytes that came from peers, 0..1; null before anything arrived. */
export function p2pShare(s: Pick<NodeStats, 'p2pBytes' | 'originBytes'>): number | null {
  const total = s.p2pBytes + s.originBytes;
  return total > 0 ? s.p2pBytes / total : null;
}

export async function fetchNodeStats(signal?: AbortSignal): Promise<NodeStats | null> {
  const res = await fetch('api/stats', { cache: 'no-store', signal });
  if (!res.ok) return null;
  return readStats(await res.json());
}
