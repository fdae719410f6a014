import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { on } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type ClientRequest, type Server, createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import express from 'express';
import type { Channel } from '../../origin/channel.ts';
import { LOW_LATENCY_SEGMENT_MS, originConfig } from '../../origin/config.ts';
import { startFfmpeg } from '../../origin/ffmpeg-process.ts';
import { httpErrorHandler } from '../../origin/http-errors.ts';
import { IngestReceiver, type IngestedSegment } from '../../origin/ingest-receiver.ts';
import { MAX_SEGMENT_BYTES } from '../../shared/limits.ts';
import { ingestRoutes } from '../../origin/ingest-routes.ts';
import { createOriginMetrics, ingestMetrics } from '../../origin/metrics.ts';
import type { Origin } from '../../origin/origin.ts';
import { listen } from '../../shared/listen.ts';
import { systemClock } from '../../shared/clock.ts';
import { quietLog, startTestOrigin, waitForSegments } from '../helpers/origin.ts';

const run = promisify(execFile);
const FPS = 16;
const FRAMES = (FPS * LOW_LATENCY_SEGMENT_MS) / 1000;
const KEY = 'progressive-test-key';

/** ffprobe's view of one segment: its video frames' key flags, and how many audio packets it holds. */
async function probe(dir: string, name: string, data: Buffer): Promise<{ keys: string[]; audioPackets: number }> {
  const file = join(dir, name);
  await writeFile(file, data);
  const lines = async (args: string[]) => (await run('ffprobe', ['-v', 'error', ...args, '-of', 'csv=p=0', file])).stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  // A frame with side data (the encoder's first, its SEI) gets a section of its own after a comma.
  const keys = (await lines(['-select_streams', 'v', '-show_entries', 'frame=key_frame'])).map((l) => l.split(',')[0] ?? '');
  const audio = await lines(['-select_streams', 'a', '-show_entries', 'packet=pts_time']);
  return { keys, audioPackets: audio.length };
}

/** The muxer of the ffmpeg an origin runs (its output's -f, the last one), as its command line says once segments flow (it starts as a guard script that execs ffmpeg). */
async function outputFormat(origin: Origin): Promise<string | undefined> {
  const pid = origin.ingest.pid;
  assert.ok(pid !== undefined, 'ffmpeg runs');
  const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
  return args[args.lastIndexOf('-f') + 1];
}

/** The origin's ingest routes on a server of their own, feeding `receiver` as the default channel with key KEY. */
async function ingestServer(receiver: IngestReceiver): Promise<{ base: string; rejected: () => Promise<string>; close(): Promise<void> }> {
  const registry = createOriginMetrics();
  const metrics = ingestMetrics(registry, 'main');
  const channel = { name: 'main', metrics, keyMatches: (k: string) => k === KEY, put: receiver.put.bind(receiver), open: receiver.open.bind(receiver) };
  const app = express().use(ingestRoutes({ channel: (name) => (name === null ? channel : undefined), progressive: true, log: quietLog, now: () => performance.now() }));
  const server: Server = createServer(app.use(httpErrorHandler(quietLog)));
  server.on('clientError', (_err, socket) => socket.destroy());
  const port = await listen(server, 0, '127.0.0.1', quietLog);
  return {
    base: `http://127.0.0.1:${port}/ingest`,
    rejected: async () => (await registry.registry.metrics()).split('\n').filter((l) => l.startsWith('origin_ingest_rejected_total{')).join('\n'),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A chunked POST to `url` whose body is written as `send` says; resolves with the answer's status, or 'cut' when the connection closed first. */
function upload(url: string, send: (req: ClientRequest) => void): Promise<number | 'cut'> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'POST', headers: { 'Transfer-Encoding': 'chunked' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve('cut'));
    send(req);
  });
}

/**
 * Progressive announcement's ingest with real ffmpeg: the segment muxer
 * streams each segment's body and the origin reads it as it comes.
 */
describe('progressive ingest', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'p2p-live-progressive-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('the ingest route feeds each segment to the receiver in many chunks; it publishes exactly the grown bytes, 0.5 s from a keyframe, with audio', { timeout: 60_000 }, async () => {
    const grows = new Map<number, { bytes: Buffer; afterPublish: boolean }[]>();
    const published: IngestedSegment[] = [];
    const receiver = new IngestReceiver(
      (s) => published.push(s),
      '',
      (g) => {
        const list = grows.get(g.index) ?? [];
        // A copy: the view may be of a buffer the receiver still writes beyond.
        list.push({ bytes: Buffer.from(g.bytes), afterPublish: published.some((s) => s.index === g.index) });
        grows.set(g.index, list);
      },
    );
    const server = await ingestServer(receiver);
    const config = originConfig({ lowLatency: true, fps: FPS, width: 320, height: 180, videoKbps: 400, audioKbps: 64 });
    assert.equal(config.segmentSeconds, LOW_LATENCY_SEGMENT_MS / 1000);
    const ffmpeg = startFfmpeg({ ...config, ladder: null }, `${server.base}/${KEY}/r1/`, systemClock, () => undefined);
    try {
      const deadline = Date.now() + 30_000;
      while (published.length < 6) {
        assert.ok(Date.now() < deadline, `6 segments within 30 s (${published.length})`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await ffmpeg.close();
      await server.close();
    }
    // Stopped: ffmpeg's last segment, cut short by the stop, is no sample. The first is one: it too is listed as 0.5 s (ffmpeg-process.ts).
    const samples = published.slice(0, 6);
    for (const s of samples) {
      const seen = grows.get(s.index) ?? [];
      assert.ok(seen.length >= FRAMES / 2, `segment ${s.index} grew ${seen.length} times before it was published (one chunk a frame, ${FRAMES} frames)`);
      assert.ok(seen.every((g) => !g.afterPublish), `segment ${s.index}: no growth after its publication`);
      seen.forEach((g, i) => i > 0 && assert.ok(g.bytes.subarray(0, (seen[i - 1] as { bytes: Buffer }).bytes.length).equals((seen[i - 1] as { bytes: Buffer }).bytes), 'each growth extends the one before'));
      assert.ok(s.data.equals((seen.at(-1) as { bytes: Buffer }).bytes), `segment ${s.index}: published bytes are the grown bytes`);
      assert.equal(s.durationMs, LOW_LATENCY_SEGMENT_MS, `segment ${s.index} lasts ${s.durationMs} ms`);
    }
    assert.deepEqual(samples.map((s) => s.index), samples.map((_, i) => i), 'every segment of the run, in order');
    for (const segment of [samples[0], samples.at(-1)] as IngestedSegment[]) {
      const { keys, audioPackets } = await probe(dir, `s${segment.index}.ts`, segment.data);
      assert.equal(keys.length, FRAMES, `s${segment.index}: frames ${keys.join(',')}`);
      assert.equal(keys[0], '1', `s${segment.index} starts on a keyframe`);
      // 0.5 s of AAC at 48 kHz is 23.4 frames of 1024 samples; the muxer's interleaving shifts a few across the cut.
      assert.ok(audioPackets >= 15, `s${segment.index}: ${audioPackets} audio packets`);
    }
  });

  test('a streamed body: the key is checked before it is read, one over the bound is refused, one cut off is never published', { timeout: 30_000 }, async () => {
    const published: IngestedSegment[] = [];
    const server = await ingestServer(new IngestReceiver((s) => published.push(s)));
    try {
      const playlist = (...names: string[]) => `#EXTM3U\n${names.map((n) => `#EXTINF:0.500000,\n${n}\n`).join('')}`;
      const post = (file: string, body: string) => fetch(`${server.base}/${KEY}/r1/${file}`, { method: 'POST', body });
      // Answered while the body has not ended: nothing of it was waited for.
      let unended: ClientRequest | undefined;
      assert.equal(await upload(`${server.base}/wrong-key/r1/s0.ts`, (req) => (unended = req).write('never ends')), 403);
      unended?.destroy();
      // Cut off mid-body: never published, even once the playlist names it.
      const cut = await upload(`${server.base}/${KEY}/r1/s0.ts`, (req) => {
        req.write('half a segment');
        setTimeout(() => req.destroy(), 200);
      });
      assert.equal(cut, 'cut');
      assert.equal((await post('stream.m3u8', playlist('s0.ts'))).status, 201);
      // Over MAX_SEGMENT_BYTES as it comes: refused at once, the connection closed after the answer.
      const tooLarge = await upload(`${server.base}/${KEY}/r1/s1.ts`, (req) => {
        const mib = Buffer.alloc(1 << 20, 1);
        const more = (n: number): void => {
          if (n === 0 || req.destroyed) return void req.end();
          if (req.write(mib)) more(n - 1);
          else req.once('drain', () => more(n - 1));
        };
        more(MAX_SEGMENT_BYTES / mib.byteLength + 4);
      });
      assert.ok(tooLarge === 413 || tooLarge === 'cut', String(tooLarge));
      // Declared over the bound: refused before a byte is read.
      let declared: ClientRequest | undefined;
      const status = await new Promise<number>((resolve, reject) => {
        declared = request(`${server.base}/${KEY}/r1/s1.ts`, { method: 'PUT', headers: { 'Content-Length': String(MAX_SEGMENT_BYTES + 1) } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        declared.on('error', reject);
        declared.flushHeaders();
      });
      declared?.destroy();
      assert.equal(status, 413);
      // The run goes on: its next segment, PUT or POST, publishes, and the two lost ones are passed over.
      assert.equal((await post('s2.ts', 'two')).status, 201);
      assert.equal((await post('stream.m3u8', playlist('s0.ts', 's1.ts', 's2.ts'))).status, 201);
      assert.deepEqual(published.map((s) => [s.index, s.data.toString()]), [[2, 'two']]);
      assert.match(await server.rejected(), /reason="too-large"\} 2$/m);
    } finally {
      await server.close();
    }
  });

  test('an origin with --low-latency runs the segment muxer and streams bodies into its channel; with --whole-segments, the hls muxer as before', { timeout: 60_000 }, async () => {
    const progressive = await startTestOrigin({ lowLatency: true, fps: FPS });
    try {
      const channel = progressive.channels.get('main') as Channel;
      // A spy on the channel the route feeds: each body's chunks, as they come.
      const chunks = new Map<string, Buffer[]>();
      const open = channel.open.bind(channel);
      channel.open = (runId, file) => {
        const opened = open(runId, file);
        if (opened.status !== 'open') return opened;
        const list: Buffer[] = [];
        chunks.set(file, list);
        const { write } = opened.body;
        opened.body.write = (chunk) => {
          list.push(Buffer.from(chunk));
          return write(chunk);
        };
        return opened;
      };
      const bodies: { seq: number; data: Buffer; chunks: number }[] = [];
      const signal = AbortSignal.timeout(30_000);
      for await (const [e] of on(progressive.events, 'segmentPublished', { signal })) {
        const { segment } = e as { segment: { info: { seq: number; durationMs: number }; data: Buffer } };
        const file = [...chunks.keys()].find((f) => Buffer.concat(chunks.get(f) as Buffer[]).equals(segment.data));
        if (file) bodies.push({ seq: segment.info.seq, data: segment.data, chunks: (chunks.get(file) as Buffer[]).length });
        assert.ok(segment.info.durationMs > 0);
        if (bodies.length >= 4) break;
      }
      assert.ok(bodies.every((b) => b.chunks >= FRAMES / 2), `chunks per segment body: ${bodies.map((b) => b.chunks).join(' ')}`);
      assert.equal(await outputFormat(progressive), 'segment');
      const text = await (await fetch(`${progressive.url}/live/index.m3u8`)).text();
      const durations = [...text.matchAll(/^#EXTINF:([0-9.]+),$/gm)].map((m) => Number(m[1]));
      assert.ok(durations.length > 0 && durations.every((d) => d === LOW_LATENCY_SEGMENT_MS / 1000), text);
    } finally {
      await progressive.close();
    }

    const whole = await startTestOrigin({ lowLatency: true, wholeSegments: true, fps: FPS });
    try {
      await waitForSegments(whole, 3);
      assert.equal(await outputFormat(whole), 'hls');
      const text = await (await fetch(`${whole.url}/live/index.m3u8`)).text();
      assert.match(text, /^#EXTINF:0\.500,$/m);
    } finally {
      await whole.close();
    }
  });
});
