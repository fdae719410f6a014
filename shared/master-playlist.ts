/**
 * The HLS master playlist of a ladder (RFC 8216 §4.3.4.2): one
 * EXT-X-STREAM-INF per rendition, highest first, each naming its media
 * playlist relative to the master's folder (`/live/<c>/`).
 */
import { AAC_LC_CODEC, avcMainCodec, h264Level } from './h264-level.ts';
import type { Rung } from './rendition.ts';

export interface Variant {
  name: string;
  /** Peak bits per second of a segment, audio and MPEG-TS framing included. */
  bandwidth: number;
  averageBandwidth: number;
  width: number;
  height: number;
  codecs: string;
  /** The media playlist, relative to the master playlist. */
  uri: string;
}

/**
 * MPEG-TS framing over the audio and video bitrates: 4 bytes of header per
 * 188-byte packet, PES headers and the padding of each frame's last packet
 * grow with the bitrate; PAT, PMT, PCR and the many small audio packets cost
 * about the same whatever it is. Fitted to this encode (1-s segments, 96 kbps
 * AAC, the test pattern): 360p at 700 kbps carried 856-905 kbit/s, 480p at
 * 1200 1360, 720p at 2500 2680 (test/integration/ladder.test.ts checks it).
 */
export const TS_OVERHEAD = 1.06;
export const TS_FIXED_BPS = 48_000;
/**
 * A segment may be above the average: the encoder's VBV buffer is twice the
 * bitrate (origin/ffmpeg-process.ts), and a 1-s segment starts with a
 * keyframe; on the test pattern the largest segment was within 10 % of the mean.
 */
export const PEAK_OVER_AVERAGE = 1.25;

/** The master-playlist entry of a rung encoded by the origin (libx264 Main, AAC-LC). */
export function rungVariant(rung: Rung, fps: number, audioKbps: number): Variant {
  const average = Math.ceil((rung.videoKbps + audioKbps) * 1000 * TS_OVERHEAD + TS_FIXED_BPS);
  const level = h264Level(rung.width, rung.height, fps, rung.videoKbps, rung.videoKbps * 2);
  return {
    name: rung.name,
    bandwidth: Math.ceil(average * PEAK_OVER_AVERAGE),
    averageBandwidth: average,
    width: rung.width,
    height: rung.height,
    codecs: `${avcMainCodec(level)},${AAC_LC_CODEC}`,
    uri: `${rung.name}/index.m3u8`,
  };
}

export function renderMasterPlaylist(variants: readonly Variant[]): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-INDEPENDENT-SEGMENTS'];
  for (const v of [...variants].sort((a, b) => b.bandwidth - a.bandwidth)) {
    lines.push(
      `#EXT-X-STREAM-INF:BANDWIDTH=${v.bandwidth},AVERAGE-BANDWIDTH=${v.averageBandwidth},RESOLUTION=${v.width}x${v.height},CODECS="${v.codecs}",NAME="${v.name}"`,
      v.uri,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Splits an attribute list (RFC 8216 §4.2) into its names and values, quotes removed. */
function attributes(list: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of list.matchAll(/([A-Z0-9-]+)=("[^"]*"|[^,]*)/g)) {
    const value = m[2] as string;
    out.set(m[1] as string, value.startsWith('"') ? value.slice(1, -1) : value);
  }
  return out;
}

/** The variants of a master playlist; throws on a text that is not one or an entry without BANDWIDTH or URI. */
export function parseMasterPlaylist(text: string): Variant[] {
  const lines = text.split('\n').map((l) => l.trim());
  if (lines[0] !== '#EXTM3U') throw new Error('not an HLS playlist: no #EXTM3U');
  const out: Variant[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (!line.startsWith('#EXT-X-STREAM-INF:')) continue;
    const a = attributes(line.slice('#EXT-X-STREAM-INF:'.length));
    const uri = lines.slice(i + 1).find((l) => l !== '' && !l.startsWith('#'));
    const bandwidth = Number(a.get('BANDWIDTH'));
    if (!uri || !Number.isSafeInteger(bandwidth) || bandwidth <= 0) throw new Error(`bad EXT-X-STREAM-INF entry: ${line}`);
    const [w, h] = (a.get('RESOLUTION') ?? '0x0').split('x').map(Number);
    out.push({
      name: a.get('NAME') ?? uri,
      bandwidth,
      averageBandwidth: Number(a.get('AVERAGE-BANDWIDTH') ?? bandwidth),
      width: w ?? 0,
      height: h ?? 0,
      codecs: a.get('CODECS') ?? '',
      uri,
    });
  }
  return out;
}
