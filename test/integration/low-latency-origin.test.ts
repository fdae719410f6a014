import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { LOW_LATENCY_SEGMENT_MS } from '../../origin/config.ts';
import type { Origin } from '../../origin/origin.ts';
import { startTestOrigin, waitForSegments } from '../helpers/origin.ts';

const run = promisify(execFile);
const FPS = 16;

/**
 * The origin with --low-latency and real ffmpeg: what its playlist says, and
 * what ffprobe finds in the segments. Durations come from the playlist and the
 * frames, never from the wall clock.
 */
describe('origin --low-latency', () => {
  let origin: Origin | undefined;
  let dir: string | undefined;

  before(async () => {
    origin = await startTestOrigin({ lowLatency: true, fps: FPS });
    dir = await mkdtemp(join(tmpdir(), 'p2p-live-ll-'));
  });

  after(async () => {
    await origin?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('publishes 0.5 s segments, each starting on a keyframe, in a playlist twice as long', { timeout: 60_000 }, async () => {
    const o = origin as Origin;
    await waitForSegments(o, 14);
    const text = await (await fetch(`${o.url}/live/index.m3u8`)).text();
    const durations = [...text.matchAll(/^#EXTINF:([0-9.]+),$/gm)].map((m) => Number(m[1]));
    const uris = text.split('\n').filter((l) => l.startsWith('seg-'));
    assert.match(text, /^#EXT-X-TARGETDURATION:1$/m, 'the target duration is 0.5 s rounded up to a whole second');
    assert.equal(durations.length, 12, `6 playlist segments at 1 s span 3 s: at 0.5 s that is 12\n${text}`);
    for (const d of durations) assert.ok(Math.abs(d - LOW_LATENCY_SEGMENT_MS / 1000) <= 0.05, `a segment of ${d} s:\n${text}`);
    // The newest segments, as ffmpeg wrote them: 8 frames at 16 fps, the first one a keyframe.
    for (const uri of uris.slice(-2)) {
      const file = join(dir as string, uri);
      await writeFile(file, Buffer.from(await (await fetch(`${o.url}/live/${uri}`)).arrayBuffer()));
      const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'frame=key_frame', '-of', 'csv=p=0', file]);
      const keys = stdout.trim().split('\n').map((l) => l.trim());
      assert.equal(keys.length, (FPS * LOW_LATENCY_SEGMENT_MS) / 1000, `${uri}: frames ${keys.join(',')}`);
      assert.equal(keys[0], '1', `${uri} starts on a keyframe`);
    }
  });
});
