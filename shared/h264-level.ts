/**
 * The H.264 level a rung is encoded at, and the RFC 6381 codec string that
 * names it. The origin tells libx264 the level (`-level`) and writes the same
 * string into the master playlist's CODECS, so a player reads the truth about
 * the bytes (test/integration/ladder.test.ts reads the SPS back to check).
 */

/** ITU-T H.264 Table A-1: macroblocks per second and per frame, and, for Main profile, bitrate and CPB size in kbit. */
const LEVELS: readonly { level: number; mbps: number; fs: number; brKbps: number; cpbKbit: number }[] = [
  { level: 10, mbps: 1485, fs: 99, brKbps: 64, cpbKbit: 175 },
  { level: 11, mbps: 3000, fs: 396, brKbps: 192, cpbKbit: 500 },
  { level: 12, mbps: 6000, fs: 396, brKbps: 384, cpbKbit: 1000 },
  { level: 13, mbps: 11880, fs: 396, brKbps: 768, cpbKbit: 2000 },
  { level: 20, mbps: 11880, fs: 396, brKbps: 2000, cpbKbit: 2000 },
  { level: 21, mbps: 19800, fs: 792, brKbps: 4000, cpbKbit: 4000 },
  { level: 22, mbps: 20250, fs: 1620, brKbps: 4000, cpbKbit: 4000 },
  { level: 30, mbps: 40500, fs: 1620, brKbps: 10000, cpbKbit: 10000 },
  { level: 31, mbps: 108000, fs: 3600, brKbps: 14000, cpbKbit: 14000 },
  { level: 32, mbps: 216000, fs: 5120, brKbps: 20000, cpbKbit: 20000 },
  { level: 40, mbps: 245760, fs: 8192, brKbps: 20000, cpbKbit: 25000 },
  { level: 41, mbps: 245760, fs: 8192, brKbps: 50000, cpbKbit: 62500 },
  { level: 42, mbps: 522240, fs: 8704, brKbps: 50000, cpbKbit: 62500 },
  { level: 50, mbps: 589824, fs: 22080, brKbps: 135000, cpbKbit: 135000 },
  { level: 51, mbps: 983040, fs: 36864, brKbps: 240000, cpbKbit: 240000 },
  { level: 52, mbps: 2073600, fs: 36864, brKbps: 240000, cpbKbit: 240000 },
];

/**
 * The lowest level (level_idc, e.g. 31 for 3.1) whose limits hold a
 * `width`x`height` picture at `fps`, with a peak rate of `maxKbps` and a VBV
 * buffer of `bufferKbit`.
 */
export function h264Level(width: number, height: number, fps: number, maxKbps: number, bufferKbit: number): number {
  const wMb = Math.ceil(width / 16);
  const hMb = Math.ceil(height / 16);
  const fs = wMb * hMb;
  for (const l of LEVELS) {
    // A.3.1: neither side may exceed sqrt(8 * MaxFS) macroblocks.
    const side = Math.sqrt(8 * l.fs);
    if (fs <= l.fs && wMb <= side && hMb <= side && fs * fps <= l.mbps && maxKbps <= l.brKbps && bufferKbit <= l.cpbKbit) return l.level;
  }
  throw new Error(`no H.264 level holds ${width}x${height} at ${fps} fps and ${maxKbps} kbps`);
}

/** `-level` as ffmpeg's libx264 takes it: 31 → "3.1". */
export function levelArg(level: number): string {
  return `${Math.floor(level / 10)}.${level % 10}`;
}

/**
 * RFC 6381 `avc1.PPCCLL` for Main profile (profile_idc 77) at `level`: x264
 * sets constraint_set1_flag for Main (any Main decoder can play it), hence 0x40.
 */
export function avcMainCodec(level: number): string {
  return `avc1.4d40${level.toString(16).padStart(2, '0')}`;
}

/** AAC-LC, what ffmpeg's native aac encoder writes by default. */
export const AAC_LC_CODEC = 'mp4a.40.2';
