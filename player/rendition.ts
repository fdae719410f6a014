import type Hls from 'hls.js';

/** The rung of a ladder playing (or the one stream's single level), as the panel shows it. */
export interface PlayingLevel {
  index: number;
  /** NAME in the master playlist (`360p`), or a name made from the height. */
  name: string;
  width: number;
  height: number;
  /** BANDWIDTH in the master playlist, bits/s. */
  bitrate: number;
}

/** What hls.js plays now, read from its public API; null before it plays a level, and for a stream that is no ladder. */
export function playingLevel(hls: Hls | null): PlayingLevel | null {
  if (!hls || hls.levels.length < 2) return null;
  const index = hls.currentLevel;
  const level = index >= 0 ? hls.levels[index] : undefined;
  if (!level) return null;
  return { index, name: level.name || (level.height > 0 ? `${level.height}p` : `level ${index}`), width: level.width, height: level.height, bitrate: level.bitrate };
}

/** `640×360 · 986 kbit/s`. */
export function describeLevel(l: PlayingLevel | null): string {
  if (!l) return '–';
  const parts: string[] = [];
  if (l.width > 0 && l.height > 0) parts.push(`${l.width}×${l.height}`);
  if (l.bitrate > 0) parts.push(l.bitrate >= 1e6 ? `${(l.bitrate / 1e6).toFixed(1)} Mbit/s` : `${Math.round(l.bitrate / 1000)} kbit/s`);
  return parts.join(' · ') || '–';
}
