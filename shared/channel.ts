/**
 * Live channels: one origin serves several, each its own stream with its own
 * paths and swarm. The default channel keeps the paths of an origin with one
 * stream, so single-channel peers and players need nothing new.
 */
export const DEFAULT_CHANNEL = 'main';

export const CHANNEL_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;
export const CHANNEL_NAME_HELP = '1-32 of [a-z0-9-], starting with a letter or digit';

/** A channel name's error, or null when it is good. */
export function channelNameError(name: string): string | null {
  return CHANNEL_NAME_PATTERN.test(name) ? null : `channel name must be ${CHANNEL_NAME_HELP}, got ${JSON.stringify(name)}`;
}

/** Where a channel's playlist and segments are: `/live` for the default channel, `/live/<c>` for the others. */
export function channelLivePath(channel: string): string {
  return channel === DEFAULT_CHANNEL ? '/live' : `/live/${channel}`;
}

/** The path of a channel's tracker WebSocket: `/tracker` for the default channel, `/tracker/<c>` for the others. */
export function channelTrackerPath(channel: string): string {
  return channel === DEFAULT_CHANNEL ? '/tracker' : `/tracker/${channel}`;
}

/** The channel a tracker upgrade's path names (`/tracker` is the default channel), or null for any other path. */
export function channelOfTrackerPath(path: string): string | null {
  if (path === '/tracker') return DEFAULT_CHANNEL;
  const m = /^\/tracker\/([^/]+)$/.exec(path);
  return m && CHANNEL_NAME_PATTERN.test(m[1] as string) ? (m[1] as string) : null;
}

/**
 * The stream id a channel's peers join with and name in their handshakes: the
 * default channel's is the origin's stream id (as before channels), a named
 * channel's is `<stream id>_<c>`. `_` is never in a channel name, so no two
 * channels of one origin share a stream id, and a peer of one channel refuses
 * a neighbour of another at the handshake.
 */
export function channelStreamId(streamId: string, channel: string): string {
  return channel === DEFAULT_CHANNEL ? streamId : `${streamId}_${channel}`;
}
