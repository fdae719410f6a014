/**
 * The bitrate ladder: a channel published as several renditions of one input,
 * each its own swarm (own window, pieces, hashes, tracker, signatures). Names,
 * the --ladder parser and every path and id a rendition has live here, so the
 * origin and the peer node agree on them.
 */
import { CHANNEL_NAME_PATTERN } from './channel.ts';

export const RENDITION_NAME_PATTERN = /^[0-9]{2,4}p$/;

/** What --ladder means given without a value. */
export const DEFAULT_LADDER = '720p=1280x720@2500,480p=854x480@1200,360p=640x360@700';

/** Bounds of a rung; even sizes because libx264 encodes 4:2:0 only at even widths and heights. */
export const LADDER_LIMITS = { maxRungs: 6, minSide: 64, maxWidth: 3840, maxHeight: 2160, minKbps: 50, maxKbps: 50_000 } as const;

export interface Rung {
  /** e.g. `720p`: RENDITION_NAME_PATTERN. */
  name: string;
  width: number;
  height: number;
  /** Video bitrate. */
  videoKbps: number;
}

export class LadderError extends Error {}

/**
 * Parses `name=WxH@kbps,…` into rungs, highest video bitrate first (the order
 * of the master playlist). Throws LadderError naming the bad item.
 */
export function parseLadder(spec: string): Rung[] {
  const items = spec.split(',').map((s) => s.trim());
  if (items.length > LADDER_LIMITS.maxRungs) throw new LadderError(`a ladder has at most ${LADDER_LIMITS.maxRungs} rungs, got ${items.length}`);
  const rungs: Rung[] = [];
  for (const item of items) {
    const m = /^([^=]*)=(\d{1,5})x(\d{1,5})@(\d{1,6})$/.exec(item);
    if (!m) throw new LadderError(`each rung is name=WIDTHxHEIGHT@KBPS (e.g. 720p=1280x720@2500), got ${JSON.stringify(item)}`);
    const [, name, w, h, kbps] = m as unknown as [string, string, string, string, string];
    if (!RENDITION_NAME_PATTERN.test(name)) throw new LadderError(`a rendition name is 2-4 digits and "p" (e.g. 720p), got ${JSON.stringify(name)}`);
    if (rungs.some((r) => r.name === name)) throw new LadderError(`rendition "${name}" given twice`);
    const rung = { name, width: Number(w), height: Number(h), videoKbps: Number(kbps) };
    const { minSide, maxWidth, maxHeight, minKbps, maxKbps } = LADDER_LIMITS;
    if (rung.width < minSide || rung.width > maxWidth || rung.height < minSide || rung.height > maxHeight || rung.width % 2 || rung.height % 2) {
      throw new LadderError(`${name}: the size must be even numbers from ${minSide}x${minSide} to ${maxWidth}x${maxHeight}, got ${rung.width}x${rung.height}`);
    }
    if (rung.videoKbps < minKbps || rung.videoKbps > maxKbps) throw new LadderError(`${name}: the bitrate must be ${minKbps}-${maxKbps} kbps, got ${rung.videoKbps}`);
    rungs.push(rung);
  }
  return rungs.sort((a, b) => b.videoKbps - a.videoKbps || b.width * b.height - a.width * a.height);
}

/** The stream id of a rendition's swarm: `<channel stream id>_<r>`. `_` is in no channel or rendition name, so no two swarms of an origin share one. */
export function renditionStreamId(channelStreamId: string, rendition: string): string {
  return `${channelStreamId}_${rendition}`;
}

/** The name a rendition's announcements are signed under (shared/announcement-signature.ts), so none replays into another rendition or channel. */
export function renditionSignedName(channel: string, rendition: string): string {
  return `${channel}/${rendition}`;
}

/** True for a name announcements may be signed under: a channel, or `<channel>/<rendition>`. */
export function isSignedName(name: string): boolean {
  const at = name.indexOf('/');
  if (at < 0) return CHANNEL_NAME_PATTERN.test(name);
  return CHANNEL_NAME_PATTERN.test(name.slice(0, at)) && RENDITION_NAME_PATTERN.test(name.slice(at + 1));
}

/** A channel's master playlist, always channel-qualified: `/live/<c>/master.m3u8` (the origin also answers `/live/master.m3u8` for `main`). */
export function masterPlaylistPath(channel: string): string {
  return `/live/${channel}/master.m3u8`;
}

/** Where a rendition's playlist (`index.m3u8`) and segments are: always `/live/<c>/<r>`, so no rendition is taken for a channel. */
export function renditionLivePath(channel: string, rendition: string): string {
  return `/live/${channel}/${rendition}`;
}

/** The rendition's tracker WebSocket: `/tracker/<c>/<r>`. */
export function renditionTrackerPath(channel: string, rendition: string): string {
  return `/tracker/${channel}/${rendition}`;
}

/** The channel and rendition a `/tracker/<c>/<r>` upgrade path names, or null. */
export function renditionOfTrackerPath(path: string): { channel: string; rendition: string } | null {
  const m = /^\/tracker\/([^/]+)\/([^/]+)$/.exec(path);
  if (!m) return null;
  const [, channel, rendition] = m as unknown as [string, string, string];
  return CHANNEL_NAME_PATTERN.test(channel) && RENDITION_NAME_PATTERN.test(rendition) ? { channel, rendition } : null;
}

/** Where the single stream's neighbours dial a node: `/peer` on its one port. */
export const PEER_PATH = '/peer';

/**
 * Where rendition `r`'s neighbours dial a node: `/peer/<r>` on the same one
 * port as every other rendition. The origin's tracker builds it from the
 * rendition it serves (origin/peer-address.ts), never from what a peer says.
 */
export function renditionPeerPath(rendition: string): string {
  return `${PEER_PATH}/${rendition}`;
}

/** The rendition a `/peer/<r>` upgrade path names, or null. */
export function renditionOfPeerPath(path: string): string | null {
  const m = /^\/peer\/([^/]+)$/.exec(path);
  return m && RENDITION_NAME_PATTERN.test(m[1] as string) ? (m[1] as string) : null;
}
