/**
 * What the player page and its peer node say to each other over the node's
 * local HTTP API: the page POSTs a `PlayerReport` to `/api/player` and reads
 * `NodeStats` from `GET /api/stats`. Both sides import this, and the page
 * bundles it, so it and what it imports stay browser-safe (no node: imports).
 */
import { RENDITION_NAME_PATTERN as RENDITION } from './rendition.ts';
import type { PeerStats } from './tracker-protocol.ts';
import { type Obj, int, isObj } from './validate.ts';


/** The longest offset into a segment a report may give: no segment is that long. */
export const MAX_REPORT_OFFSET_MS = 600_000;

/** The body of `POST /api/player`: non-negative integers. */
export interface PlayerReport {
  /** Media sequence number of the segment playing, as the playlist numbers it. */
  seq: number;
  offsetMs: number;
  /** Cumulative since the page loaded. */
  stalls: number;
  stallMs: number;
  /** The rendition playing, when the stream is a ladder (its NAME in the master playlist). */
  rendition?: string;
}

/** The node's reading of a report: null for anything that is not one. */
export function readReport(body: unknown): PlayerReport | null {
  if (!isObj(body)) return null;
  if (body.rendition !== undefined && (typeof body.rendition !== 'string' || !RENDITION.test(body.rendition))) return null;
  try {
    return {
      seq: int(body, 'seq', 0, 2 ** 32 - 1),
      offsetMs: int(body, 'offsetMs', 0, MAX_REPORT_OFFSET_MS),
      stalls: int(body, 'stalls', 0, 1_000_000),
      stallMs: int(body, 'stallMs', 0, Number.MAX_SAFE_INTEGER),
      ...(typeof body.rendition === 'string' ? { rendition: body.rendition } : {}),
    };
  } catch {
    return null;
  }
}

/** What the node did for one rendition of a ladder. */
export interface RenditionStats {
  name: string;
  /** peer-node/policy/renditions.ts; `left` once the node left its swarm. */
  role: 'active' | 'relay' | 'left';
  p2pBytes: number;
  originBytes: number;
  uploadedBytes: number;
  neighbours: number;
}

/** The body of `GET /api/stats`: the counters the node announces to the tracker, and what only it knows. */
export interface NodeStats extends PeerStats {
  peerId: string;
  seedBytes: number;
  duplicateBytes: number;
  /** Segments the node holds now. */
  segments: number;
  trackerConnected: boolean;
  /** The rendition the player is on (a ladder), or null (one stream, or no player yet). */
  rendition: string | null;
  /** Each rendition the node joined, highest first; empty for a stream that is no ladder. */
  renditions: RenditionStats[];
  /** The rate the node serves segments to its player at (bytes/s), or null when unpaced. */
  paceBytesPerSec: number | null;
}

function readRendition(v: unknown): RenditionStats | null {
  if (!isObj(v) || typeof v.name !== 'string' || !RENDITION.test(v.name)) return null;
  const role = v.role === 'active' || v.role === 'relay' || v.role === 'left' ? v.role : 'left';
  return { name: v.name, role, p2pBytes: count(v, 'p2pBytes'), originBytes: count(v, 'originBytes'), uploadedBytes: count(v, 'uploadedBytes'), neighbours: count(v, 'neighbours') };
}

function count(o: Obj, key: string): number {
  const v = o[key];
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
}

/**
 * The page's reading of a stats body, without trusting it (another version of
 * the node may answer): missing or odd fields read as zero, a non-object as null.
 */
export function readStats(body: unknown): NodeStats | null {
  if (!isObj(body)) return null;
  return {
    peerId: typeof body.peerId === 'string' ? body.peerId : '',
    p2pBytes: count(body, 'p2pBytes'),
    originBytes: count(body, 'originBytes'),
    uploadedBytes: count(body, 'uploadedBytes'),
    stalls: count(body, 'stalls'),
    stallMs: count(body, 'stallMs'),
    neighbours: count(body, 'neighbours'),
    hashFailures: count(body, 'hashFailures'),
    seedBytes: count(body, 'seedBytes'),
    duplicateBytes: count(body, 'duplicateBytes'),
    segments: count(body, 'segments'),
    trackerConnected: body.trackerConnected === true,
    rendition: typeof body.rendition === 'string' && RENDITION.test(body.rendition) ? body.rendition : null,
    renditions: Array.isArray(body.renditions) ? body.renditions.slice(0, 16).map(readRendition).filter((r) => r !== null) : [],
    paceBytesPerSec: typeof body.paceBytesPerSec === 'number' && body.paceBytesPerSec > 0 ? body.paceBytesPerSec : null,
  };
}
