/**
 * RTMP ingest refuses a publisher with the wrong stream key. ffmpeg's RTMP
 * listener only warns on a key it did not expect and then takes the stream,
 * so the origin kills that ffmpeg run before it publishes (origin/ffmpeg-process.ts).
 *
 * A real origin listening with `--source rtmp://127.0.0.1:<port>/live/<key>`,
 * and a real ffmpeg publishing to it as OBS would: first with a wrong key
 * (refused, nothing published), then with the right one (segments published).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Origin } from '../../origin/origin.ts';
import { capturingLog, startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { waitFor } from '../helpers/wait.ts';
import { listening, portForFfmpegRtmpListener } from '../../harness/ports.ts';

const KEY = 'right-key-0123';


/** ffmpeg pushing a light test pattern to `url`, as a broadcaster would. */
function publish(url: string): { child: ChildProcess; exited: Promise<number | null>; stderr: () => string } {
  const child = spawn('ffmpeg', [
    '-hide_banner', '-loglevel', 'warning', '-nostdin',
    '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=15',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '64k',
    '-f', 'flv', url,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return { child, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))), stderr: () => err };
}

async function segments(origin: Origin, channel = 'main'): Promise<number> {
  return (await origin.metrics.segmentsPublished.get()).values.find((v) => v.labels.channel === channel)?.value ?? 0;
}

/** Runs `publish` until one stays connected for 2 s (the listener may still be backing off), and returns it. */
async function publishUntilTaken(url: string, publishers: ChildProcess[]): Promise<ReturnType<typeof publish>> {
  return waitFor(`a publisher to ${url} to connect`, async () => {
    const p = publish(url);
    publishers.push(p.child);
    const ended = await Promise.race([p.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 2000).unref())]);
    return ended === 'running' ? p : undefined;
  }, 30_000, 200);
}

describe('RTMP ingest and the stream key', () => {
  let origin: Origin | undefined;
  const publishers: ChildProcess[] = [];
  after(async () => {
    for (const p of publishers) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await origin?.close();
  });

  test('a publisher with the wrong key is refused and publishes nothing; the right key publishes', { timeout: 90_000 }, async (t) => {
    const port = await portForFfmpegRtmpListener();
    const { log, entries } = capturingLog('warn');
    origin = await startTestOrigin({ source: `rtmp://127.0.0.1:${port}/live/${KEY}`, restartMaxBackoffMs: 1000 }, { log });
    const o = origin;
    // ffmpeg starts listening a moment after the origin starts; connecting to see would itself end that run, so read /proc.
    await waitFor('ffmpeg listening for the broadcaster', () => listening(port), 15_000, 50);

    const wrong = publish(`rtmp://127.0.0.1:${port}/live/wrong-key-0123`);
    publishers.push(wrong.child);
    const code = await Promise.race([wrong.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 15_000).unref())]);
    assert.notEqual(code, 'running', 'the wrong-key publisher is still streaming after 15 s');
    assert.notEqual(code, 0, 'the wrong-key publisher ended as if it had finished');
    const refusal = await waitFor('the refusal in the log', () =>
      entries().find((e) => typeof e.reason === 'string' && e.reason.startsWith('publisher refused')), 5000);
    assert.match(String(refusal.reason), /wrong-key-0123/);
    // On purpose: long enough for a segment or two, had the stream been taken; nothing to wait for in its absence.
    await sleep(3000);
    assert.equal(await segments(o), 0, 'segments published from the wrong-key publisher');
    assert.ok(((await o.metrics.ingestRestarts.get()).values[0]?.value ?? 0) >= 1);

    // The origin listens again after its backoff; the right key may find it still backing off, so retry.
    const right = await publishUntilTaken(`rtmp://127.0.0.1:${port}/live/${KEY}`, publishers);
    await waitForSegments(o, 2, 30_000);
    right.child.kill('SIGTERM');
    t.diagnostic(`wrong key: publisher exited ${String(code)}, origin logged "${String(refusal.reason)}"; right key: ${await segments(o)} segments`);
  });
});

describe('RTMP ingest with a stream key per channel', () => {
  let origin: Origin | undefined;
  const publishers: ChildProcess[] = [];
  after(async () => {
    for (const p of publishers) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await origin?.close();
  });

  test("channel A's key does not publish to channel B; B's own key does, and only B gets the segments", { timeout: 90_000 }, async (t) => {
    const [portA, portB] = [await portForFfmpegRtmpListener(), await portForFfmpegRtmpListener()];
    const [keyA, keyB] = ['key-of-main-0123', 'key-of-news-0123'];
    const { log, entries } = capturingLog('warn');
    origin = await startTestOrigin(
      { source: `rtmp://127.0.0.1:${portA}/live/${keyA}`, channel: [`news=rtmp://127.0.0.1:${portB}/live/${keyB}`], restartMaxBackoffMs: 1000 },
      { log },
    );
    const o = origin;
    await waitFor('both channels listening for a broadcaster', () => listening(portA) && listening(portB), 15_000, 50);

    const stray = publish(`rtmp://127.0.0.1:${portB}/live/${keyA}`);
    publishers.push(stray.child);
    const code = await Promise.race([stray.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 15_000).unref())]);
    assert.notEqual(code, 'running', "main's key is still streaming to news after 15 s");
    const refusal = await waitFor('the refusal in the log', () =>
      entries().find((e) => e.channel === 'news' && typeof e.reason === 'string' && e.reason.startsWith('publisher refused')), 5000);
    assert.match(String(refusal.reason), new RegExp(keyA));
    assert.ok(!JSON.stringify(entries()).includes(keyB), "news' key is in the log");

    // The HTTP ingest route too: each channel's key opens its own route only.
    const news = o.channels.get('news');
    assert.ok(news);
    assert.notEqual(news.streamKey, o.streamKey);
    const put = (path: string) => fetch(`${o.url}/ingest/${path}/r1/stream.m3u8`, { method: 'PUT', body: '#EXTM3U\n' });
    assert.equal((await put(`news/${o.streamKey}`)).status, 403, "main's ingest key on news' route");
    assert.equal((await put(news.streamKey)).status, 403, "news' ingest key on main's route");
    assert.equal((await put(`news/${news.streamKey}`)).status, 201);

    const right = await publishUntilTaken(`rtmp://127.0.0.1:${portB}/live/${keyB}`, publishers);
    await waitFor('news segments', async () => (await segments(o, 'news')) >= 2, 30_000, 200);
    right.child.kill('SIGTERM');
    assert.equal(await segments(o, 'main'), 0, 'main published what was sent to news');
    t.diagnostic(`A's key on B: publisher exited ${String(code)}, "${String(refusal.reason)}"; B's key: ${await segments(o, 'news')} news segments, ${await segments(o, 'main')} main`);
  });
});
