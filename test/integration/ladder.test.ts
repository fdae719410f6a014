/**
 * An origin with --ladder: one real ffmpeg encodes two rungs of the test
 * pattern, and each rung is a swarm of its own. Segment n is the same time
 * slice in both (same numbers, keyframes at the same presentation times, read
 * back with ffprobe); the master playlist names each rung's real size and the
 * codecs its bytes are in (the SPS read back from a segment); each rung's
 * tracker welcomes its own rendition's peers only, with announcements signed
 * under that rendition's name. Without --ladder there is no master playlist.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { WebSocket } from 'ws';
import { playlistCacheControl, segmentCacheControl } from '../../origin/cache-headers.ts';
import { originConfig } from '../../origin/config.ts';
import type { Origin } from '../../origin/origin.ts';
import { publicKeyFromBase64, verifyAnnouncement } from '../../shared/announcement-signature.ts';
import { parseMasterPlaylist } from '../../shared/master-playlist.ts';
import { startTestOrigin } from '../helpers/origin.ts';
import { trackerClient } from '../helpers/tracker-client.ts';
import { waitFor } from '../helpers/wait.ts';

const run = promisify(execFile);
const LADDER = '240p=426x240@400,120p=214x120@150';
const CONFIG = originConfig();
const RUNGS = ['240p', '120p'] as const;

async function probe(file: string, args: string[]): Promise<string> {
  const { stdout } = await run('ffprobe', ['-v', 'error', ...args, file]);
  return stdout.trim();
}

/** The RFC 6381 avc1 string of the first SPS in a segment's H.264 stream: profile_idc, constraint flags, level_idc. */
async function avcCodecOf(file: string): Promise<string> {
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', file, '-map', '0:v:0', '-c', 'copy', '-f', 'h264', '-'], { encoding: 'buffer', maxBuffer: 8 << 20 });
  const es = stdout as unknown as Buffer;
  for (let i = 0; i + 6 < es.length; i++) {
    if (es[i] === 0 && es[i + 1] === 0 && es[i + 2] === 1 && ((es[i + 3] as number) & 0x1f) === 7) {
      return `avc1.${es.subarray(i + 4, i + 7).toString('hex')}`;
    }
  }
  throw new Error(`no SPS in ${file}`);
}

describe('a bitrate ladder from one ffmpeg', () => {
  let origin: Origin;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ladder-'));
    origin = await startTestOrigin({ ladder: LADDER, fps: 15, audioKbps: 64, channel: ['sports=testsrc'], streamKey: 'ladder-key-0123' });
  });

  after(async () => {
    await origin?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const rendition = (r: string) => origin.channels.get('main')?.renditions.get(r);
  async function fetchSegment(r: string, seq: number): Promise<string> {
    const res = await fetch(`${origin.url}/live/main/${r}/seg-${seq}.ts`);
    assert.equal(res.status, 200, `${r} seg-${seq}`);
    const file = join(dir, `${r}-${seq}.ts`);
    await writeFile(file, Buffer.from(await res.arrayBuffer()));
    return file;
  }

  test('every rung publishes segment n for the same time slice: same numbers, same keyframe times', { timeout: 45_000 }, async (t) => {
    // Four numbers all rungs hold: the newest may still be arriving in one of them.
    const common = () => {
      const seqs = RUNGS.map((r) => new Set(rendition(r)?.window.announcements().map((s) => s.seq)));
      return [...(seqs[0] as Set<number>)].filter((n) => seqs.every((s) => s.has(n)));
    };
    await waitFor('four segments in every rung', () => common().length >= 4, 35_000, 100);
    const windows = RUNGS.map((r) => rendition(r)?.window.announcements().slice(0, 3).map((s) => s.seq));
    assert.deepEqual(windows[0], windows[1], 'the rungs number their segments alike');
    for (const seq of common().slice(1, 3)) {
      const keyframes: string[] = [];
      for (const r of RUNGS) {
        const file = await fetchSegment(r, seq);
        const times = await probe(file, ['-select_streams', 'v:0', '-skip_frame', 'nokey', '-show_entries', 'frame=pts_time', '-of', 'csv=p=0']);
        assert.ok(times.length > 0, `${r} seg-${seq} has a keyframe`);
        const first = await probe(file, ['-select_streams', 'v:0', '-read_intervals', '%+#1', '-show_entries', 'packet=flags', '-of', 'csv=p=0']);
        assert.match(first, /^K/, `${r} seg-${seq} starts with a keyframe`);
        keyframes.push(times);
      }
      assert.equal(keyframes[0], keyframes[1], `seg-${seq}: keyframe times of ${RUNGS.join(' and ')}`);
      t.diagnostic(`seg-${seq} keyframes at ${keyframes[0]?.replace(/\n/g, ', ')} s in every rung`);
    }
  });

  test('the master playlist lists each rung with its real size, codecs and bandwidths its segments bear out', { timeout: 30_000 }, async (t) => {
    const res = await fetch(`${origin.url}/live/master.m3u8`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /mpegurl/);
    const text = await res.text();
    assert.equal(await (await fetch(`${origin.url}/live/main/master.m3u8`)).text(), text, 'the default channel is also at /live/main/');
    assert.match(text, /^#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n/);
    const variants = parseMasterPlaylist(text);
    assert.deepEqual(variants.map((v) => [v.name, v.uri]), RUNGS.map((r) => [r, `${r}/index.m3u8`]), 'highest first, each its media playlist');
    for (const v of variants) {
      const seq = rendition(v.name)?.window.announcements().at(-2)?.seq as number;
      const file = await fetchSegment(v.name, seq);
      const { streams } = JSON.parse(await probe(file, ['-show_entries', 'stream=codec_type,codec_name,profile,width,height', '-of', 'json'])) as {
        streams: { codec_type: string; codec_name: string; profile: string; width?: number; height?: number }[];
      };
      const video = streams.find((s) => s.codec_type === 'video');
      assert.deepEqual([v.width, v.height], [video?.width, video?.height], `${v.name}: RESOLUTION`);
      const audio = streams.find((s) => s.codec_type === 'audio');
      assert.deepEqual([audio?.codec_name, audio?.profile], ['aac', 'LC'], `${v.name}: the audio is AAC-LC, mp4a.40.2`);
      assert.equal(v.codecs, `${await avcCodecOf(file)},mp4a.40.2`, `${v.name}: CODECS names the SPS's profile, constraints and level`);
      // The first segment is the encoder's start; the rest are the stream as it goes on.
      const rates = (rendition(v.name)?.window.announcements().slice(1) ?? []).map((s) => (s.size * 8 * 1000) / s.durationMs);
      const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
      t.diagnostic(`${v.name}: ${rates.length} segments, mean ${Math.round(mean)} bit/s (AVERAGE-BANDWIDTH ${v.averageBandwidth}), max ${Math.round(Math.max(...rates))} (BANDWIDTH ${v.bandwidth})`);
      for (const bps of rates) assert.ok(bps <= v.bandwidth, `${v.name}: a segment at ${Math.round(bps)} bit/s, over BANDWIDTH ${v.bandwidth}`);
      assert.ok(Math.abs(mean - v.averageBandwidth) <= 0.3 * mean, `${v.name}: AVERAGE-BANDWIDTH ${v.averageBandwidth} is not near the mean ${Math.round(mean)}`);
      const playlist = await fetch(`${origin.url}/live/main/${v.uri}`);
      assert.equal(playlist.status, 200);
      assert.equal(playlist.headers.get('cache-control'), playlistCacheControl(CONFIG), `${v.name}: the playlist's cache lifetime`);
      const listed = (await playlist.text()).split('\n').filter((l) => l.startsWith('seg-'));
      assert.ok(listed.length > 0, `${v.name}: its playlist lists segments`);
      const segment = await fetch(`${origin.url}/live/main/${v.name}/${listed.at(-1)}`);
      assert.equal(segment.status, 200);
      assert.equal(segment.headers.get('cache-control'), segmentCacheControl(CONFIG), `${v.name}: the segment's cache lifetime`);
      await segment.arrayBuffer();
    }
  });

  test("a rung's tracker welcomes its rendition's peers with announcements signed under its name, and refuses another's", { timeout: 30_000 }, async () => {
    const tracker = `${origin.url.replace(/^http/, 'ws')}/tracker/main/240p`;
    const own = await trackerClient(tracker, { peerId: 'own', url: () => null, streamId: 'live_240p' });
    const other = await trackerClient(tracker, { peerId: 'other', url: () => null, streamId: 'live_120p' });
    try {
      await own.welcomed();
      const welcome = own.received.find((m) => m.type === 'welcome');
      assert.ok(welcome?.type === 'welcome' && welcome.segments.length > 0, 'welcomed with the window');
      const key = publicKeyFromBase64(origin.originKey);
      for (const a of welcome.segments) {
        assert.ok(verifyAnnouncement(key, 'main/240p', a), 'signed under main/240p');
        assert.ok(!verifyAnnouncement(key, 'main/120p', a) && !verifyAnnouncement(key, 'sports/240p', a) && !verifyAnnouncement(key, 'main', a), 'and under no other name');
      }
      // The dashboard counts it in its rendition, and lists it under that rendition's name.
      const dashboard = (await (await fetch(`${origin.url}/api/dashboard`)).json()) as {
        channels: { name: string; peers: number; renditions?: { name: string; peers: number; segments: number; offloadRatio: number }[] }[];
        peers: { channel: string; peerId: string }[];
      };
      const renditions = dashboard.channels[0]?.renditions ?? [];
      assert.deepEqual(renditions.map((r) => [r.name, r.peers]), [['240p', 1], ['120p', 0]]);
      assert.ok(renditions.every((r) => r.segments > 0 && r.offloadRatio >= 0));
      assert.equal(dashboard.channels[0]?.peers, 1);
      assert.deepEqual(dashboard.peers.map((p) => [p.channel, p.peerId]), [['main/240p', 'own']]);
      await waitFor('the other rendition refused', () => other.received.some((m) => m.type === 'error'), 10_000);
      assert.deepEqual(
        other.received.map((m) => (m.type === 'error' ? m.code : m.type)),
        ['UNKNOWN_STREAM'],
      );
    } finally {
      await own.close();
      await other.close();
    }
    // A named channel's rendition is at its own path, with its own stream id.
    const sports = await trackerClient(`${origin.url.replace(/^http/, 'ws')}/tracker/sports/120p`, { peerId: 'fan', url: () => null, streamId: 'live_sports_120p' });
    try {
      await sports.welcomed();
    } finally {
      await sports.close();
    }
    // The channel's own tracker path is no swarm when it is a ladder.
    const plain = new WebSocket(`${origin.url.replace(/^http/, 'ws')}/tracker`);
    await new Promise<void>((resolve) => plain.once('error', () => resolve()));
  });

  test("a named channel is a ladder too, at its own paths, and its ingest takes its rungs' files only", { timeout: 30_000 }, async () => {
    const sports = origin.channels.get('sports');
    await waitFor('a segment in every sports rung', () => RUNGS.every((r) => (sports?.renditions.get(r)?.window.size ?? 0) > 0), 20_000, 100);
    const variants = parseMasterPlaylist(await (await fetch(`${origin.url}/live/sports/master.m3u8`)).text());
    assert.deepEqual(variants.map((v) => v.uri), RUNGS.map((r) => `${r}/index.m3u8`));
    for (const r of RUNGS) {
      const seq = sports?.renditions.get(r)?.window.announcements().at(-1)?.seq;
      const res = await fetch(`${origin.url}/live/sports/${r}/seg-${seq}.ts`);
      assert.equal(res.status, 200, `sports ${r}`);
      await res.arrayBuffer();
    }
    const put = (file: string) => fetch(`${origin.url}/ingest/ladder-key-0123/r-test/${file}`, { method: 'PUT', body: 'x' });
    for (const file of ['999p-s0.ts', 's0.ts', 'stream.m3u8']) assert.equal((await put(file)).status, 400, file);
    assert.equal((await put('240p-s0.ts')).status, 201);
  });

  test("the channel's plain paths and an unknown rendition answer 404; the metrics name each rendition", async () => {
    for (const path of ['/live/index.m3u8', '/live/main/index.m3u8', '/live/sports/seg-1.ts', '/live/main/999p/index.m3u8', '/live/main/999p/seg-1.ts', '/live/nope/240p/index.m3u8']) {
      const res = await fetch(`${origin.url}${path}`);
      assert.equal(res.status, 404, path);
      await res.text();
    }
    const metrics = await (await fetch(`${origin.url}/metrics`)).text();
    for (const r of RUNGS) assert.match(metrics, new RegExp(`origin_segments_published_total\\{channel="main",rendition="${r}"\\} [1-9]`));
    assert.doesNotMatch(metrics, /origin_segments_published_total\{channel="main"\}/, 'no series for a plain stream the channel does not have');
    const health = (await (await fetch(`${origin.url}/healthz`)).json()) as { channels: { renditions?: { streamId: string }[] }[] };
    assert.deepEqual(
      health.channels.map((c) => c.renditions?.map((r) => r.streamId)),
      [['live_240p', 'live_120p'], ['live_sports_240p', 'live_sports_120p']],
    );
  });
});

describe('--copy --ladder: the source as it comes is the top rung', () => {
  let origin: Origin;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ladder-copy-'));
    // A source as a broadcaster might send it: High profile, B-frames, a keyframe a second.
    await run('ffmpeg', [
      '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=15', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '6',
      '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-g', '15', '-bf', '2', '-c:a', 'aac', '-b:a', '64k', join(dir, 'source.mp4'),
    ]);
    origin = await startTestOrigin({ source: join(dir, 'source.mp4'), copy: true, ladder: '180p=320x180@300,90p=160x90@100', fps: 15, audioKbps: 64 });
  });

  after(async () => {
    await origin?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("the encoded rung's keyframes are the source's, and the master playlist names the source's own codecs and size", { timeout: 40_000 }, async () => {
    const main = origin.channels.get('main');
    const seqs = (r: string) => new Set(main?.renditions.get(r)?.window.announcements().map((s) => s.seq));
    const common = () => [...seqs('180p')].filter((n) => seqs('90p').has(n));
    await waitFor('three segments in both rungs', () => common().length >= 3, 30_000, 100);
    const seq = common()[1] as number;
    const files: Record<string, string> = {};
    for (const r of ['180p', '90p']) {
      const res = await fetch(`${origin.url}/live/main/${r}/seg-${seq}.ts`);
      assert.equal(res.status, 200);
      files[r] = join(dir, `${r}.ts`);
      await writeFile(files[r] as string, Buffer.from(await res.arrayBuffer()));
    }
    const keyframes = await Promise.all(
      ['180p', '90p'].map((r) => probe(files[r] as string, ['-select_streams', 'v:0', '-skip_frame', 'nokey', '-show_entries', 'frame=pts_time', '-of', 'csv=p=0'])),
    );
    assert.ok((keyframes[0] as string).length > 0);
    assert.equal(keyframes[0], keyframes[1], 'keyframes at the same times in the copied and the encoded rung');
    const variants = parseMasterPlaylist(await (await fetch(`${origin.url}/live/master.m3u8`)).text());
    const [top, low] = variants;
    const source = await avcCodecOf(files['180p'] as string);
    assert.match(source, /^avc1\.64/, 'the top rung is the High-profile source, untouched');
    assert.equal(top?.codecs, `${source},mp4a.40.2`);
    assert.deepEqual([top?.width, top?.height], [320, 180]);
    assert.equal(low?.codecs, `${await avcCodecOf(files['90p'] as string)},mp4a.40.2`);
    assert.deepEqual([low?.width, low?.height], [160, 90]);
  });
});

describe('an origin without --ladder', () => {
  test('has no master playlist', { timeout: 30_000 }, async () => {
    const origin = await startTestOrigin({ width: 160, height: 90, fps: 10, videoKbps: 100, audioKbps: 32 });
    try {
      for (const path of ['/live/master.m3u8', '/live/main/master.m3u8']) {
        const res = await fetch(`${origin.url}${path}`);
        assert.equal(res.status, 404, path);
        await res.text();
      }
    } finally {
      await origin.close();
    }
  });
});
