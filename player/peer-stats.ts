import { type Obj, isObj } from '../shared/validate.ts';

/** What the page shows of the peer node's `GET /api/stats`. */
export interface PeerStats {
  peerId: string;
  p2pBytes: number;
  originBytes: number;
  uploadedBytes: number;
  neighbours: number;
  hashFailures: number;
  duplicateBytes: number;
  segments: number;
  trackerConnected: boolean;
}

function num(o: Obj, key: string): number {
  const v = o[key];
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
}

/** Reads a stats body without trusting it: missing or odd fields read as zero, a non-object as null. */
export function parsePeerStats(body: unknown): PeerStats | null {
  if (!isObj(body)) return null;
  const o = body;
  return {
    peerId: typeof o.peerId === 'string' ? o.peerId : '',
    p2pBytes: num(o, 'p2pBytes'),
    originBytes: num(o, 'originBytes'),
    uploadedBytes: num(o, 'uploadedBytes'),
    neighbours: num(o, 'neighbours'),
    hashFailures: num(o, 'hashFailures'),
    duplicateBytes: num(o, 'duplicateBytes'),
    segments: num(o, 'segments'),
    trackerConnected: o.trackerConnected === true,
  };
}

/** Share of downloaded bytes that came from peers, 0..1; null before anything arrived. */
export function p2pShare(s: Pick<PeerStats, 'p2pBytes' | 'originBytes'>): number | null {
  const total = s.p2pBytes + s.originBytes;
  return total > 0 ? s.p2pBytes / total : null;
}

export async function fetchPeerStats(signal?: AbortSignal): Promise<PeerStats | null> {
  const res = await fetch('api/stats', { cache: 'no-store', signal });
  if (!res.ok) return null;
  return parsePeerStats(await res.json());
}
