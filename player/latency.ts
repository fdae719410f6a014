import type { HlsConfig } from 'hls.js';

/** How far behind the peer node's playlist a viewer plays, and how it gets back there when it falls behind. */
export interface LiveLatency {
  /** Distance from the playlist's live edge hls.js aims for, in target durations (segments). */
  targetSegments: number;
  /** Further behind than this, hls.js seeks back to the target instead of catching up by speed. */
  seekSegments: number;
  /** Fastest catch-up playback rate. */
  maxCatchUpRate: number;
}

/**
 * Two segments behind the peer's playlist edge (4 s with 2 s segments): the
 * least that never waits for the swarm. The peer lists a segment only once it
 * is whole there (or 1 s after its publication, peer-node/listing.ts; a
 * ladder's rendition, once it has known it for the hold-back), so the
 * segment at the edge is mostly loadable at once; what the player must cover is the
 * next one's arrival: one segment duration plus hls.js's playlist refresh (up
 * to half a target duration) and its load. One segment back leaves no margin
 * for that, three (hls.js's default) put viewers 6 s and more behind, and
 * whatever they lost at start-up stayed lost.
 *
 * In target durations rather than seconds, so the margin is whole segments at
 * any segment length; the peer rounds the target duration up, which only adds
 * margin. Behind live as the benchmark counts it (a segment's play start
 * against its publication at the origin) is this less one segment, plus the
 * peer's listing delay and the refresh: ~2.5-3.5 s with 2 s segments.
 *
 * Catch-up is by playback rate, at most 1.25x so it is hard to notice: hls.js
 * speeds up in proportion to the distance past the target (latency-controller:
 * only with `lowLatencyMode`, and only with more than 1 s buffered). Past
 * `seekSegments` (10 s with 2 s segments, where hls.js's rate range ends too:
 * target + target + one target duration) a seek is quicker than minutes of speed-up.
 */
export const LIVE_LATENCY: Readonly<LiveLatency> = Object.freeze({ targetSegments: 2, seekSegments: 5, maxCatchUpRate: 1.25 });

/**
 * With segments shorter than a second (the origin's --low-latency, 0.5 s), three
 * segments behind the playlist's edge: hls.js's default distance, which is what
 * the benchmark's playback model plays at and what the peer node's windows are
 * scaled for (peer-node/policy/segment-timing.ts). It is 1.5 s, and above the
 * 1 s of buffer hls.js needs before it adjusts the rate; two would be 1 s, at
 * which the catch-up never engages. The playlist's target duration is then 1 s
 * (rounded up from 0.5), so the distances are given in seconds from the
 * segments' real duration instead (segmentSecondsOf).
 */
export const LOW_LATENCY: Readonly<LiveLatency> = Object.freeze({ targetSegments: 3, seekSegments: 6, maxCatchUpRate: 1.25 });

/** The longest #EXTINF of a media playlist, in seconds; null when it lists none. */
export function segmentSecondsOf(playlist: string): number | null {
  let longest: number | null = null;
  for (const m of playlist.matchAll(/^#EXTINF:([0-9.]+)/gm)) {
    const s = Number(m[1]);
    if (Number.isFinite(s) && s > 0) longest = Math.max(longest ?? 0, s);
  }
  return longest;
}

/** Segments a live playlist must list before playback starts: the target plus the one being loaded. */
export function startSegments(l: LiveLatency): number {
  return l.targetSegments + 1;
}

type LatencySettings = Partial<
  Pick<
    HlsConfig,
    'lowLatencyMode' | 'liveSyncDurationCount' | 'liveMaxLatencyDurationCount' | 'liveSyncDuration' | 'liveMaxLatencyDuration' | 'maxLiveSyncPlaybackRate' | 'initialLiveManifestSize'
  >
>;

/**
 * The hls.js settings for a stream of `segmentS` segments (null: not known):
 * LIVE_LATENCY in target durations, or with sub-second segments LOW_LATENCY in
 * seconds (hls.js takes one form or the other, never both).
 */
export function hlsLatencyFor(segmentS: number | null): LatencySettings {
  if (segmentS === null || segmentS >= 1) return hlsLatencyConfig(LIVE_LATENCY);
  const l = LOW_LATENCY;
  return {
    lowLatencyMode: true,
    liveSyncDuration: l.targetSegments * segmentS,
    liveMaxLatencyDuration: l.seekSegments * segmentS,
    maxLiveSyncPlaybackRate: l.maxCatchUpRate,
    initialLiveManifestSize: startSegments(l),
  };
}

/** The hls.js settings that hold a viewer at `l`. */
export function hlsLatencyConfig(l: LiveLatency): LatencySettings {
  return {
    // Our playlists have no parts; hls.js adjusts the playback rate only in this mode.
    lowLatencyMode: true,
    liveSyncDurationCount: l.targetSegments,
    liveMaxLatencyDurationCount: l.seekSegments,
    maxLiveSyncPlaybackRate: l.maxCatchUpRate,
    // A fresh stream is otherwise played at its very edge, leaving the peer node no time to fetch pieces from other peers.
    initialLiveManifestSize: startSegments(l),
  };
}
