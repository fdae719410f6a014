/**
 * How long a shared cache (nginx, a CDN; deploy/nginx/) or a browser may keep
 * each HLS answer of the origin. Pure: the route in origin.ts sets what these
 * return. Why each lifetime is what it is: docs/edge-cache.md.
 */
import { sha256Hex } from '../shared/hashing.ts';
import type { SegmentAnnouncement } from '../shared/segment.ts';

export interface CacheSettings {
  segmentSeconds: number;
  windowSegments: number;
}

/**
 * A 404 (a number not published yet), 410 (left the window) or 503 (no stream
 * yet) may be kept this long: long enough that a crowd asking at once costs the
 * origin one request a second, short enough that a segment published just after
 * a 404 was stored is fetched from the cache for at most a second less than it
 * could be. Fallback fetches ask only for announced segments, which the origin
 * publishes before it announces them, so they never meet such a 404 in the
 * first place. One second is also the finest lifetime nginx keeps.
 */
export const NEGATIVE_MAX_AGE_S = 1;

/**
 * The live playlist changes with every segment. Half a segment duration
 * (Apple's advice for live playlists), in the whole seconds Cache-Control
 * counts: at least 1 s, so with 1-second segments a cached copy is at most
 * one segment behind and still lists the three segments the player holds back
 * (with --low-latency's 0.5 s segments, two behind, in a playlist of twelve).
 * Not `no-cache`: nginx stores nothing marked so and would forward every
 * viewer's poll to the origin, which is what the cache is for.
 */
export function playlistCacheControl(s: CacheSettings): string {
  return `public, max-age=${Math.max(1, Math.floor(s.segmentSeconds / 2))}`;
}

/**
 * A segment's bytes never change under its URL: numbers are never reused
 * (channel.ts numbers from the clock's seconds, or half-seconds in low-latency mode; LiveWindow never goes back).
 * Kept twice as long as the window holds it, the time in which anyone can still
 * ask for it, rather than for a year: should the host clock be stepped back
 * across an origin restart, a reused number would meet stale bytes only that
 * long (and peers would reject them by hash).
 */
export function segmentCacheControl(s: CacheSettings): string {
  return `public, max-age=${2 * s.windowSegments * s.segmentSeconds}, immutable`;
}

export function negativeCacheControl(): string {
  return `public, max-age=${NEGATIVE_MAX_AGE_S}`;
}

/** The segment's SHA-256, already public in every announcement: a strong validator that costs nothing to compute. */
export function segmentEtag(info: Pick<SegmentAnnouncement, 'sha256'>): string {
  return `"${info.sha256}"`;
}

/**
 * The playlist's text changes with each segment; its hash names it. No
 * Last-Modified: HTTP dates count whole seconds, and two segments published
 * within one second would let an If-Modified-Since answer 304 to a changed list.
 */
export function playlistEtag(text: string): string {
  return `"${sha256Hex(Buffer.from(text)).slice(0, 32)}"`;
}

/**
 * Whether a Range may be honoured given the request's If-Range (RFC 9110
 * §13.1.5): only when the validator is the current ETag (strong comparison:
 * a weak one never matches) or exactly the Last-Modified date; anything else
 * means the client holds other bytes and gets the whole body.
 */
export function ifRangeAllows(ifRange: string | undefined, etag: string, lastModifiedMs: number): boolean {
  if (ifRange === undefined) return true;
  const v = ifRange.trim();
  if (v.startsWith('"') || v.startsWith('W/')) return v === etag;
  const date = Date.parse(v);
  return date === Math.floor(lastModifiedMs / 1000) * 1000;
}
