/**
 * The only module that knows fluent-ffmpeg: it builds the ingest command and
 * runs one ffmpeg process. fluent-ffmpeg is no longer maintained upstream, so
 * the rest of the origin sees only `startFfmpeg` and could move to a plain
 * child_process.spawn by changing this file alone.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ffmpeg from 'fluent-ffmpeg';
import type { Clock } from '../shared/clock.ts';
import { h264Level, levelArg } from '../shared/h264-level.ts';
import type { Rung } from '../shared/rendition.ts';
import { type OriginConfig, progressiveAnnouncement } from './config.ts';

export type IngestSettings = Pick<
  OriginConfig,
  'source' | 'copy' | 'segmentSeconds' | 'width' | 'height' | 'fps' | 'videoKbps' | 'audioKbps' | 'ffmpegPath' | 'lowLatency' | 'wholeSegments' | 'redis'
> & {
  /** Written on the test pattern: a named channel's (shared/channel.ts), so its pictures, and bytes, are its own. */
  label?: string;
  /** --ladder's rungs, highest first: every one is encoded from the one input, each to files named `<r>-…`. */
  ladder?: readonly Rung[] | null;
};

export interface FfmpegRun {
  readonly pid: number | undefined;
  /** Resolves when the process is gone, whatever the reason. */
  readonly exited: Promise<{ ok: boolean; reason: string }>;
  /** SIGTERM, then SIGKILL if it lingers; resolves once it is gone. Idempotent. */
  close(): Promise<void>;
}

const GUARD = fileURLToPath(new URL('./ffmpeg-guard.sh', import.meta.url));

/** Checks that ffmpeg runs; returns one line telling how to get it when it does not. */
export function checkFfmpeg(ffmpegPath: string): string | null {
  const r = spawnSync(ffmpegPath, ['-version'], { stdio: 'ignore', timeout: 10_000 });
  if (r.error || r.status !== 0) {
    return `ffmpeg not found at "${ffmpegPath}": install it with "apt-get install ffmpeg", or set FFMPEG_PATH=/path/to/ffmpeg`;
  }
  return null;
}

function inputArgs(s: IngestSettings): { input: string; options: string[] } {
  if (s.source === 'testsrc') {
    // A ladder's test pattern is drawn at its largest rung's size, which every rung scales down from.
    const top = s.ladder?.reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a));
    if (top) s = { ...s, width: top.width, height: top.height };
    const clock = String.raw`drawtext=text='%{localtime\:%H\\\:%M\\\:%S}':fontsize=${Math.round(s.height / 8)}:fontcolor=white:box=1:boxcolor=black@0.6:x=(w-tw)/2:y=h-th-20`;
    // Channel names are [a-z0-9-]: nothing drawtext would read as syntax.
    const label = s.label ? `,drawtext=text='${s.label}':fontsize=${Math.round(s.height / 8)}:fontcolor=yellow:box=1:boxcolor=black@0.6:x=20:y=20` : '';
    return {
      input: `testsrc2=size=${s.width}x${s.height}:rate=${s.fps},${clock}${label}`,
      options: ['-re', '-f', 'lavfi'],
    };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s.source)) {
    // An RTMP URL on this machine is one a broadcaster pushes to (OBS): ffmpeg listens.
    const listen = /^rtmps?:\/\/(0\.0\.0\.0|127\.0\.0\.1|localhost|\[::\])[:/]/i.test(s.source);
    return { input: s.source, options: listen ? ['-listen', '1'] : [] };
  }
  return { input: s.source, options: ['-re', '-stream_loop', '-1'] };
}

function encodeArgs(s: IngestSettings): string[] {
  if (s.copy) return ['-c', 'copy'];
  const gop = s.fps * s.segmentSeconds;
  return [
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'main', '-pix_fmt', 'yuv420p',
    '-vf', `scale=${s.width}:${s.height}:force_original_aspect_ratio=decrease,pad=${s.width}:${s.height}:(ow-iw)/2:(oh-ih)/2`,
    '-r', String(s.fps),
    '-b:v', `${s.videoKbps}k`, '-maxrate', `${s.videoKbps}k`, '-bufsize', `${s.videoKbps * 2}k`,
    // A keyframe exactly at every segment start, so every segment plays on its own.
    '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0',
    '-force_key_frames', `expr:gte(t,n_forced*${s.segmentSeconds})`,
    '-c:a', 'aac', '-b:a', `${s.audioKbps}k`, '-ac', '2', '-ar', '48000',
  ];
}

function hlsOutputOptions(s: IngestSettings, ingestBase: string): string[] {
  return ['-f', 'hls', '-hls_time', String(s.segmentSeconds), '-hls_list_size', '6', '-method', 'PUT', '-hls_segment_filename', `${ingestBase}s%d.ts`];
}

/**
 * For progressive announcement: the hls muxer holds each segment and sends it
 * whole at its end, the segment muxer streams it as it writes it. Its mpegts
 * flushes every packet, so each frame leaves at once (one chunk per video
 * frame of the chunked body), and starts each segment with its own PAT/PMT.
 * The list names each segment with its duration once the segment ends, as the
 * hls muxer's playlist does; only those lines are read (the origin renders the
 * playlist players see), so the ENDLIST that ffmpeg 5.1 writes after its last
 * segment, with or without `-segment_list_flags +live` (which 5.1 ignores),
 * reaches no player. Timestamps run on across segments: -reset_timestamps
 * would restart each at the same time, and a player reads them in a row.
 * The list counts a run's first segment from 0 rather than from its first
 * frame, so timestamps are left as the encoders make them (avoid_negative_ts
 * disabled, outside and in each segment's mpegts): the AAC encoder's priming
 * puts the first audio 21 ms before 0, and shifting everything by that would
 * list the first segment as 0.521 s (the player aims at the longest EXTINF).
 * ffmpeg 5.1 opens the segments and the list without the output's protocol
 * options, so it POSTs them whatever -method says: the ingest route takes
 * POST as it takes PUT.
 */
function segmentOutputOptions(s: IngestSettings, ingestBase: string): string[] {
  return [
    '-f', 'segment', '-segment_time', String(s.segmentSeconds), '-avoid_negative_ts', 'disabled',
    '-segment_format', 'mpegts', '-segment_format_options', 'flush_packets=1:avoid_negative_ts=disabled',
    '-segment_list', `${ingestBase}stream.m3u8`, '-segment_list_type', 'm3u8', '-segment_list_size', '6',
  ];
}

/**
 * Every rung from the one input: the video split and scaled once per encoded
 * rung, one libx264 per rung at the H.264 level the master playlist names
 * (shared/master-playlist.ts), and the audio encoded alike for each (HLS wants
 * every variant self-contained). Keyframes fall at the same instants in every
 * rung, so every rung is cut there and segment n is the same time slice in
 * each: forced every segment duration, or with --copy wherever the source,
 * kept as it is for the top rung, has its own. Every encoder option names its
 * output stream: a copied stream refuses them.
 */
function ladderArgs(s: IngestSettings, ladder: readonly Rung[]): string[] {
  const video = s.source === 'testsrc' ? '0:v' : '0:v:0';
  const audio = s.source === 'testsrc' ? '1:a' : '0:a:0';
  const copied = s.copy ? 1 : 0;
  const encoded = ladder.slice(copied);
  const gop = s.fps * s.segmentSeconds;
  const split = `[${video}]split=${encoded.length}${encoded.map((_, i) => `[s${i}]`).join('')}`;
  const scales = encoded.map(
    (r, i) => `[s${i}]scale=${r.width}:${r.height}:force_original_aspect_ratio=decrease,pad=${r.width}:${r.height}:(ow-iw)/2:(oh-ih)/2,setsar=1[v${i}]`,
  );
  const keyframes = s.copy
    ? (v: string) => [`-force_key_frames:${v}`, 'source', `-g:${v}`, '100000', `-sc_threshold:${v}`, '0']
    : (v: string) => [`-r:${v}`, String(s.fps), `-g:${v}`, String(gop), `-keyint_min:${v}`, String(gop), `-sc_threshold:${v}`, '0', `-force_key_frames:${v}`, `expr:gte(t,n_forced*${s.segmentSeconds})`];
  return [
    '-filter_complex', [split, ...scales].join(';'),
    ...(s.copy ? ['-map', video] : []),
    ...encoded.flatMap((_, i) => ['-map', `[v${i}]`]),
    ...ladder.flatMap(() => ['-map', audio]),
    ...(s.copy ? ['-c:v:0', 'copy', '-c:a:0', 'copy'] : []),
    ...encoded.flatMap((r, i) => {
      const v = `v:${i + copied}`;
      const a = `a:${i + copied}`;
      return [
        `-c:${v}`, 'libx264', `-preset:${v}`, 'veryfast', `-tune:${v}`, 'zerolatency', `-profile:${v}`, 'main', `-pix_fmt:${v}`, 'yuv420p',
        `-b:${v}`, `${r.videoKbps}k`, `-maxrate:${v}`, `${r.videoKbps}k`, `-bufsize:${v}`, `${r.videoKbps * 2}k`,
        `-level:${v}`, levelArg(h264Level(r.width, r.height, s.fps, r.videoKbps, r.videoKbps * 2)),
        ...keyframes(v),
        `-c:${a}`, 'aac', `-b:${a}`, `${s.audioKbps}k`, `-ac:${a}`, '2', `-ar:${a}`, '48000',
      ];
    }),
  ];
}

/** One hls output writing every rung: `%v` is the rung's name, so its files are `<r>-s<n>.ts` and `<r>-stream.m3u8` (origin/rendition.ts). */
function ladderHlsOptions(s: IngestSettings, ladder: readonly Rung[], ingestBase: string): string[] {
  return [
    '-f', 'hls', '-hls_time', String(s.segmentSeconds), '-hls_list_size', '6', '-method', 'PUT',
    '-var_stream_map', ladder.map((r, i) => `v:${i},a:${i},name:${r.name}`).join(' '),
    '-hls_segment_filename', `${ingestBase}%v-s%d.ts`,
  ];
}

/**
 * Starts one ffmpeg that PUTs HLS segments and playlists to `ingestBase`
 * (the origin's own ingest route); with progressive announcement
 * (origin/config.ts) it streams each segment's body as it writes it. Where setpriv exists (Linux), ffmpeg runs
 * under a parent-death signal so it dies with the origin even on SIGKILL.
 */
export function startFfmpeg(s: IngestSettings, ingestBase: string, clock: Clock, onStderr: (line: string) => void): FfmpegRun {
  const { input, options } = inputArgs(s);
  const cmd = ffmpeg({ stdoutLines: 50 }).input(input).inputOptions(['-hide_banner', '-loglevel', 'warning', ...options]);
  if (s.source === 'testsrc') {
    cmd.input('sine=frequency=440:sample_rate=48000').inputOptions(['-f', 'lavfi']);
  }
  // Given as separate arguments, fluent-ffmpeg passes each as it is (an array item with one space it splits in two).
  if (s.ladder) cmd.outputOptions(...ladderArgs(s, s.ladder), ...ladderHlsOptions(s, s.ladder, ingestBase)).output(`${ingestBase}%v-stream.m3u8`);
  else if (progressiveAnnouncement({ ...s, ladder: null })) cmd.outputOptions(...encodeArgs(s), ...segmentOutputOptions(s, ingestBase)).output(`${ingestBase}s%d.ts`);
  else cmd.outputOptions(...encodeArgs(s), ...hlsOutputOptions(s, ingestBase)).output(`${ingestBase}stream.m3u8`);

  if (existsSync('/usr/bin/setpriv') || existsSync('/bin/setpriv')) {
    process.env.P2P_FFMPEG_REAL = s.ffmpegPath;
    cmd.setFfmpegPath(GUARD);
  } else {
    cmd.setFfmpegPath(s.ffmpegPath);
  }

  let pid: number | undefined;
  let stopping = false;
  let resolveExit!: (v: { ok: boolean; reason: string }) => void;
  const exited = new Promise<{ ok: boolean; reason: string }>((r) => (resolveExit = r));
  cmd.on('start', () => {
    pid = (cmd as unknown as { ffmpegProc?: { pid?: number } }).ffmpegProc?.pid;
  });
  // ffmpeg's RTMP listener only warns when a publisher names another application or stream key,
  // and then takes its stream: such a publisher is refused here, and the supervisor listens again.
  const listening = options.includes('-listen');
  let refused: string | null = null;
  cmd.on('stderr', (line: string) => {
    onStderr(line);
    if (listening && refused === null && !stopping && /Unexpected stream|App field don't match/.test(line)) {
      // ffmpeg's line ends with the key it expected: the channel's secret stays out of the log.
      refused = `publisher refused: ${line.replace(/^\[rtmp @ \w+\] /, '').replace(/, expecting .*/, '').trim()}`;
      cmd.kill('SIGKILL');
    }
  });
  // fluent-ffmpeg reports a stop we asked for as an error; only an exit we did not ask for is a failure.
  cmd.on('error', (err: Error) => resolveExit({ ok: stopping, reason: stopping ? 'stopped' : refused ?? err.message.split('\n')[0] ?? 'ffmpeg failed' }));
  cmd.on('end', () => resolveExit({ ok: true, reason: stopping ? 'stopped' : 'input ended' }));
  cmd.run();

  return {
    get pid() {
      return pid;
    },
    exited,
    async close() {
      if (stopping) return void (await exited);
      stopping = true;
      const proc = (cmd as unknown as { ffmpegProc?: { kill(sig: string): boolean } }).ffmpegProc;
      if (!proc) {
        // Not spawned yet (fluent-ffmpeg first probes capabilities): it will be killed as soon as it starts.
        cmd.on('start', () => cmd.kill('SIGKILL'));
      } else {
        cmd.kill('SIGTERM');
      }
      const timer = clock.setTimeout(() => {
        try {
          cmd.kill('SIGKILL');
        } catch {
          // already gone
        }
      }, 3000);
      await exited;
      timer.cancel();
    },
  };
}
