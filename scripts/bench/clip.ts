/**
 * The benchmark's media: a test clip encoded once per setting and cached, so
 * the origin streams it with `-c copy` and encoding does not eat the cores
 * the swarm needs. H.264 + AAC in MPEG-TS, a keyframe at every segment start.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ClipSettings {
  seconds: number;
  /** A keyframe every this long: 1 s or more, or the origin's 0.5 s of --low-latency. */
  segmentSeconds: number;
  videoKbps: number;
  audioKbps: number;
  ffmpegPath: string;
  cacheDir: string;
}

export async function ensureClip(s: ClipSettings): Promise<string> {
  // The origin's default frame rate, a whole number of frames in 1 s and in 0.5 s.
  const fps = 24;
  const gop = fps * s.segmentSeconds;
  if (!Number.isInteger(gop)) throw new Error(`a clip of ${s.segmentSeconds} s segments at ${fps} fps would not start each on a keyframe`);
  const name = `clip-${s.seconds}s-${s.segmentSeconds}s-${fps}fps-${s.videoKbps}k-${s.audioKbps}k.ts`;
  const path = join(s.cacheDir, name);
  if (existsSync(path)) return path;
  await mkdir(s.cacheDir, { recursive: true });
  // A name of its own: two runs (two test files side by side) may encode the same clip at once; the last rename wins, whole.
  const tmp = `${path}.${process.pid}-${Date.now()}.part`;
  await run(
    s.ffmpegPath,
    [
      '-v', 'error', '-y',
      '-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=${fps}:duration=${s.seconds}`,
      '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${s.seconds}`,
      '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'main', '-pix_fmt', 'yuv420p',
      // Constant bitrate, so every segment is about the stream rate and figures do not depend on the picture.
      '-b:v', `${s.videoKbps}k`, '-minrate', `${s.videoKbps}k`, '-maxrate', `${s.videoKbps}k`, '-bufsize', `${s.videoKbps}k`, '-x264-params', 'nal-hrd=cbr',
      '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0',
      '-c:a', 'aac', '-b:a', `${s.audioKbps}k`,
      '-f', 'mpegts', tmp,
    ],
    { timeout: 10 * 60_000 },
  );
  await rename(tmp, path);
  return path;
}
