import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { LOW_LATENCY_SEGMENT_MS } from '../../origin/config.ts';
import type { Origin } from '../../origin/origin.ts';
import { publicKeyFromBase64, verifyPartial } from '../../shared/announcement-signature.ts';
import type { SignedPartial } from '../../shared/tracker-protocol.ts';
import { startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { trackerUrl } from '../helpers/swarm.ts';
import { type TestTrackerClient, trackerClient } from '../helpers/tracker-client.ts';
import { waitFor } from '../helpers/wait.ts';

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

  let peer: TestTrackerClient | undefined;

  after(async () => {
    await peer?.close();
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

  test("a joined peer hears each segment's whole pieces in partials (in order, signed, each before its whole announcement) under the number it is then published with", { timeout: 60_000 }, async () => {
    const o = origin as Origin;
    peer = await trackerClient(trackerUrl(o), { peerId: 'listener', url: () => null });
    await peer.welcomed();
    const p = peer;
    // Segments published after the join: each was announced piece by piece while it arrived.
    await waitFor('4 whole announcements after the join', () => p.received.filter((m) => m.type === 'segment').length >= 4 || undefined, 30_000);
    const key = publicKeyFromBase64(o.originKey);
    const parts = new Map<number, SignedPartial[]>();
    let checked = 0;
    for (const m of p.received) {
      if (m.type === 'segment-part') {
        const seq = m.announcement.partial.seq;
        assert.equal(verifyPartial(key, 'main', m.announcement), true, `a partial of ${seq} verifies`);
        parts.set(seq, [...(parts.get(seq) ?? []), m.announcement]);
      } else if (m.type === 'segment') {
        const { segment } = m.announcement;
        const mine = (parts.get(segment.seq) ?? []).map((a) => a.partial);
        // A segment whose first partial came before the join is left out.
        if (mine[0]?.first !== 0) continue;
        const hashes: string[] = [];
        for (const partial of mine) {
          assert.equal(partial.first, hashes.length, `each partial of ${segment.seq} starts where the one before ended`);
          hashes.push(...partial.pieceHashes);
        }
        assert.ok(hashes.length >= segment.pieceHashes.length - 1, `every whole piece of ${segment.seq} but the last, short one was announced before the segment`);
        assert.deepEqual(segment.pieceHashes.slice(0, hashes.length), hashes, `the partials of ${segment.seq} are a prefix of its whole announcement`);
        checked++;
      }
    }
    assert.ok(checked >= 3, `segments announced piece by piece from their first piece: ${checked}`);
  });
});

