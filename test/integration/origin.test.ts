import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { WebSocket } from 'ws';
import { counterTotal } from '../../origin/metrics.ts';
import type { Origin } from '../../origin/origin.ts';
import { httpOriginRange } from '../../peer-node/origin-fetch.ts';
import { FETCH_TOKEN_HEADER } from '../../shared/fetch-token.ts';
import { hashPieces } from '../../shared/hashing.ts';
import { MAX_SEGMENT_BYTES, PROTOCOL_VERSION } from '../../shared/limits.ts';
import { type TrackerToPeer, decodeTrackerToPeer, encodePeerToTracker } from '../../shared/tracker-protocol.ts';
import { capturingLog, startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { waitFor } from '../helpers/wait.ts';

const run = promisify(execFile);

function parsePlaylist(text: string): { mediaSequence: number; segments: { uri: string; duration: number }[] } {
  const lines = text.trim().split('\n');
  assert.equal(lines[0], '#EXTM3U');
  const seqLine = lines.find((l) => l.startsWith('#EXT-X-MEDIA-SEQUENCE:'));
  assert.ok(seqLine, 'playlist has a media sequence');
  const segments: { uri: string; duration: number }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.startsWith('#EXTINF:')) segments.push({ duration: Number.parseFloat(line.slice(8)), uri: lines[i + 1] ?? '' });
  }
  return { mediaSequence: Number(seqLine.split(':')[1]), segments };
}

function trackerClient(origin: Origin) {
  const ws = new WebSocket(`${origin.url.replace('http', 'ws')}/tracker`);
  const received: TrackerToPeer[] = [];
  /** How each message came over ws: `text welcome`, `binary segment`, … */
  const framing = new Set<string>();
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    const d = decodeTrackerToPeer(isBinary ? (data as Buffer) : data.toString());
    assert.ok(d.ok, `origin sent a valid tracker message: ${d.ok ? '' : d.error.message}`);
    received.push(d.value);
    framing.add(`${isBinary ? 'binary' : 'text'} ${d.value.type}`);
  });
  const open = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, received, framing, closed, open };
}

/** A PUT that declares more body than it sends, cut off once the part it sent has left. */
function abortedPut(url: string): Promise<void> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'PUT', headers: { 'Content-Length': '100000' } });
    req.on('error', () => {});
    req.on('close', () => resolve());
    req.write(Buffer.alloc(1000), () => req.destroy());
  });
}

describe('origin with a live ffmpeg test source', () => {
  let origin: Origin;
  let dir: string;
  const captured = capturingLog('debug');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'origin-test-'));
    origin = await startTestOrigin({ windowSegments: 4, playlistSegments: 3 }, { log: captured.log });
    await waitForSegments(origin, 3);
  });

  after(async () => {
    await origin.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('serves a valid live playlist whose segments are MPEG-TS matching the announced hashes', async () => {
    const res = await fetch(`${origin.url}/live/index.m3u8`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /mpegurl/);
    const text = await res.text();
    assert.match(text, /#EXT-X-PROGRAM-DATE-TIME:\d{4}-/);
    const playlist = parsePlaylist(text);
    assert.ok(playlist.segments.length >= 2 && playlist.segments.length <= 3);
    for (const s of playlist.segments) assert.ok(s.duration > 0.5 && s.duration < 1.6, `segment of ${s.duration}s`);

    const last = playlist.segments.at(-1);
    assert.ok(last);
    const body = Buffer.from(await (await fetch(`${origin.url}/live/${last.uri}`)).arrayBuffer());
    assert.equal(body[0], 0x47, 'MPEG-TS sync byte');
    const seq = playlist.mediaSequence + playlist.segments.length - 1;
    const found = origin.window.lookup(seq);
    assert.equal(found.state, 'live');
    if (found.state !== 'live') return;
    assert.equal(createHash('sha256').update(body).digest('hex'), found.segment.info.sha256);
    assert.deepEqual(hashPieces(body, 16 * 1024), found.segment.info.pieceHashes);

    const file = join(dir, 'probe.ts');
    await writeFile(file, body);
    const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', file]);
    assert.deepEqual([...new Set(stdout.split('\n').map((l) => l.trim()).filter(Boolean))].sort(), ['aac', 'h264']);
  });

  test('answers Range requests with exactly the requested bytes', async () => {
    const seq = origin.window.announcements().at(-1)?.seq ?? 0;
    const found = origin.window.lookup(seq);
    assert.equal(found.state, 'live');
    if (found.state !== 'live') return;
    const data = found.segment.data;
    const url = `${origin.url}/live/seg-${seq}.ts`;
    const cases: [string, number, number][] = [
      ['bytes=0-99', 0, 100],
      ['bytes=16384-32767', 16384, 32768],
      [`bytes=${data.length - 10}-`, data.length - 10, data.length],
      ['bytes=-7', data.length - 7, data.length],
    ];
    for (const [range, start, end] of cases) {
      const res = await fetch(url, { headers: { Range: range } });
      assert.equal(res.status, 206, range);
      assert.equal(res.headers.get('content-range'), `bytes ${start}-${end - 1}/${data.length}`);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), data.subarray(start, end), range);
    }
    const bad = await fetch(url, { headers: { Range: `bytes=${data.length}-` } });
    assert.equal(bad.status, 416);
    await bad.arrayBuffer();
    for (const range of ['items=0-99', 'bytes=0-99,200-299']) {
      const whole = await fetch(url, { headers: { Range: range } });
      assert.equal(whole.status, 200, range);
      assert.deepEqual(Buffer.from(await whole.arrayBuffer()), data, range);
    }
  });

  test('tells caches how long to keep each answer, and answers their revalidations with 304', async () => {
    const seq = origin.window.announcements().at(-1)?.seq ?? 0;
    const found = origin.window.lookup(seq);
    assert.equal(found.state, 'live');
    if (found.state !== 'live') return;
    const { data, info } = found.segment;
    const url = `${origin.url}/live/seg-${seq}.ts`;
    const requests = async () => Object.fromEntries((await origin.metrics.httpSegmentRequests.get()).values.map((v) => [String(v.labels.status), v.value]));
    const before = await requests();
    const seg = await fetch(url);
    await seg.arrayBuffer();
    // windowSegments 4 of 1 s: kept twice that.
    assert.equal(seg.headers.get('cache-control'), 'public, max-age=8, immutable');
    assert.equal(seg.headers.get('etag'), `"${info.sha256}"`);
    assert.equal(seg.headers.get('last-modified'), new Date(info.publishedAtMs).toUTCString());
    const sent = await counterTotal(origin.metrics.httpSegmentBytes);
    // As a cache revalidates. (fetch would add `Cache-Control: no-cache` to a conditional request without one: a reload, which no 304 answers.)
    const revalidate = { 'Cache-Control': 'max-age=0' };
    const notModified = await fetch(url, { headers: { ...revalidate, 'If-None-Match': `"${info.sha256}"` } });
    assert.equal(notModified.status, 304);
    assert.equal(await counterTotal(origin.metrics.httpSegmentBytes), sent, 'a 304 sends no segment bytes');
    // A client holding other bytes than these gets all of these, not a range of them.
    const otherBytes = await fetch(url, { headers: { Range: 'bytes=0-99', 'If-Range': '"another"' } });
    assert.equal(otherBytes.status, 200);
    assert.equal((await otherBytes.arrayBuffer()).byteLength, data.byteLength);
    const sameBytes = await fetch(url, { headers: { Range: 'bytes=0-99', 'If-Range': `"${info.sha256}"` } });
    assert.equal(sameBytes.status, 206);
    await sameBytes.arrayBuffer();
    const after = await requests();
    for (const [status, n] of [['200', 2], ['206', 1], ['304', 1]] as const) assert.equal((after[status] ?? 0) - (before[status] ?? 0), n, `status ${status}`);

    const playlist = await fetch(`${origin.url}/live/index.m3u8`);
    const text = await playlist.text();
    assert.equal(playlist.headers.get('cache-control'), 'public, max-age=1');
    const etag = playlist.headers.get('etag');
    assert.ok(etag);
    const again = await fetch(`${origin.url}/live/index.m3u8`, { headers: { ...revalidate, 'If-None-Match': etag } });
    // 304 while the list is the same, the new list once a segment has been published in between.
    if (again.status === 200) assert.notEqual(await again.text(), text);
    else assert.equal(again.status, 304);

    for (const path of [`/live/seg-${seq + 1_000_000}.ts`, '/live/seg-0.ts']) {
      const res = await fetch(`${origin.url}${path}`);
      assert.ok(res.status === 404 || res.status === 410, path);
      assert.equal(res.headers.get('cache-control'), 'public, max-age=1', path);
      await res.arrayBuffer();
    }
  });

  test('counts the segment bytes it sends: none for a HEAD, only the range for a Range', async () => {
    const seq = origin.window.announcements().at(-1)?.seq ?? 0;
    const found = origin.window.lookup(seq);
    assert.equal(found.state, 'live');
    if (found.state !== 'live') return;
    const url = `${origin.url}/live/seg-${seq}.ts`;
    const sent = async () => await counterTotal(origin.metrics.httpSegmentBytes);
    const before = await sent();
    const head = await fetch(url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(found.segment.data.byteLength));
    assert.equal(await sent(), before, 'a HEAD sent no segment bytes');
    await (await fetch(url, { headers: { Range: 'bytes=0-99' } })).arrayBuffer();
    assert.equal(await sent(), before + 100);
  });

  test('keeps the window bounded: old segments are 410, unknown ones 404, no path escapes', async () => {
    await waitForSegments(origin, 6);
    assert.ok(origin.window.size <= 4);
    const first = origin.window.announcements()[0]?.seq as number;
    const gone = await fetch(`${origin.url}/live/seg-${first - 1}.ts`);
    assert.equal(gone.status, 410);
    for (const path of [`/live/seg-${first + 1_000_000}.ts`, '/live/..%2F..%2Fetc%2Fpasswd', '/live/%2e%2e/%2e%2e/etc/passwd', '/live/seg-1.ts%00', '/etc/passwd']) {
      const res = await fetch(`${origin.url}${path}`);
      assert.equal(res.status, 404, path);
      assert.doesNotMatch(await res.text(), /root:/);
    }
  });

  test('tracker: a peer joins, gets the window, and is pushed each new segment as it is published', async () => {
    const c = trackerClient(origin);
    await c.open;
    c.ws.send(encodePeerToTracker({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'peer-a', url: 'ws://127.0.0.1:1/peer', uploadKbps: 2000 }));
    const welcome = await waitFor('welcome', () => c.received.find((m) => m.type === 'welcome'));
    assert.equal(welcome.type, 'welcome');
    if (welcome.type !== 'welcome') return;
    assert.ok(welcome.segments.length >= 3);
    assert.equal(welcome.pieceSize, 16 * 1024);
    const lastSeq = welcome.segments.at(-1)?.segment.seq ?? -1;
    const pushed = await waitFor('a pushed segment', () => c.received.find((m) => m.type === 'segment'));
    assert.equal(pushed.type === 'segment' && pushed.announcement.segment.seq, lastSeq + 1);
    await waitFor('a seeded piece', () => c.received.find((m) => m.type === 'seed'));
    assert.deepEqual([...c.framing].sort(), ['binary seed', 'binary segment', 'text welcome']);

    const d = trackerClient(origin);
    await d.open;
    d.ws.send(encodePeerToTracker({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'peer-b', url: 'ws://127.0.0.1:2/peer', uploadKbps: 2000 }));
    const welcomeB = await waitFor('welcome b', () => d.received.find((m) => m.type === 'welcome'));
    // Nothing answers as peer-a at its address: it is a member, but never handed out.
    assert.deepEqual(welcomeB.type === 'welcome' && welcomeB.peers, []);
    await waitFor('peer-a probed', () => origin.tracker.registry.get('peer-a')?.reachability === 'unreachable', 10_000);

    // A third connection claiming peer-a's id is refused and peer-a stays.
    const e = trackerClient(origin);
    await e.open;
    e.ws.send(encodePeerToTracker({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'peer-a', url: 'ws://127.0.0.1:3/peer', uploadKbps: 1 }));
    assert.equal((await e.closed).code, 1008);
    assert.equal(origin.tracker.registry.get('peer-a')?.url, 'ws://127.0.0.1:1/peer');

    c.ws.send(encodePeerToTracker({ type: 'announce', stats: { p2pBytes: 3000, originBytes: 1000, uploadedBytes: 500, stalls: 1, stallMs: 200, neighbours: 1, hashFailures: 0 } }));
    await waitFor('reported bytes counted', async () => (await origin.metrics.peerP2pBytes.get()).values[0]?.value === 3000);
    // The gauge is the origin's own measurement, whatever peers report.
    assert.equal((await origin.metrics.offloadRatio.get()).values[0]?.value, origin.offloadRatio());
    c.ws.send(encodePeerToTracker({ type: 'leave' }));
    await c.closed;
    d.ws.close();
    await d.closed;
    await waitFor('peers gone', () => origin.tracker.registry.size === 0);
  });

  test('a segment fetch carrying a free-rider\'s fetch token is served in the spare class, within its budget; one without a token, or a contributor\'s, as any', async () => {
    const join = async (peerId: string, uploadKbps: number) => {
      const c = trackerClient(origin);
      await c.open;
      c.ws.send(encodePeerToTracker({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId, url: null, uploadKbps }));
      const w = await waitFor(`welcome ${peerId}`, () => c.received.find((m) => m.type === 'welcome'));
      return { c, token: w.type === 'welcome' ? w.fetchToken : '' };
    };
    const rider = await join('rider', 0);
    const giver = await join('giver', 2000);
    const seq = origin.window.announcements().at(-1)?.seq ?? 0;
    const byClass = async () => {
      const m = await origin.metrics.httpSegmentBytes.get();
      return Object.fromEntries(m.values.map((v) => [v.labels.class, v.value]));
    };
    const range = async (headers: Record<string, string>) => {
      const before = await byClass();
      const res = await fetch(`${origin.url}/live/seg-${seq}.ts`, { headers: { range: 'bytes=0-99', ...headers } });
      assert.equal(res.status, 206);
      assert.equal((await res.arrayBuffer()).byteLength, 100);
      const after = await byClass();
      return Object.keys(after).filter((k) => after[k] !== before[k]).map((k) => `${k} +${(after[k] ?? 0) - (before[k] ?? 0)}`);
    };
    assert.deepEqual(await range({ [FETCH_TOKEN_HEADER]: rider.token }), ['spare +100']);
    assert.deepEqual(await range({ [FETCH_TOKEN_HEADER]: giver.token }), ['http +100']);
    assert.deepEqual(await range({}), ['http +100'], 'a plain viewer');
    assert.deepEqual(await range({ [FETCH_TOKEN_HEADER]: 'rider' }), ['http +100'], 'a token nobody holds');

    // The spare budget (10 % of a stream copy by default) admits one whole segment, paid for ahead: about ten
    // seconds of budget. Past it the free-rider is told "not now" at once, and a contributor is served as before.
    const segmentUrl = `${origin.url}/live/seg-${seq}.ts`;
    const whole = await fetch(segmentUrl, { headers: { [FETCH_TOKEN_HEADER]: rider.token } });
    assert.equal(whole.status, 200);
    await whole.arrayBuffer();
    const before429 = await byClass();
    const refused = await fetch(segmentUrl, { headers: { range: 'bytes=0-99', [FETCH_TOKEN_HEADER]: rider.token } });
    assert.equal(refused.status, 429);
    const retryAfter = refused.headers.get('retry-after') ?? '';
    assert.match(retryAfter, /^[1-5]$/);
    assert.equal(refused.headers.get('cache-control'), 'no-store', 'a refusal for one token is kept by no cache');
    assert.equal(refused.headers.get('etag'), null);
    await refused.text();
    assert.deepEqual(await byClass(), before429, 'a refusal sends no segment byte');
    assert.ok((await origin.metrics.httpSegmentRequests.get()).values.some((v) => v.labels.status === '429' && v.value >= 1), 'counted as a 429');
    // The peer node's own fetch hears the refusal and how long to leave the origin alone.
    const http = httpOriginRange(origin.url, {});
    const answer = await new Promise<{ body: Uint8Array | null; refusedForMs?: number }>((resolve) =>
      http.range(seq, 0, 100, rider.token, (body, refusedForMs) => resolve({ body, refusedForMs })),
    );
    http.close();
    assert.equal(answer.body, null);
    assert.ok(answer.refusedForMs !== undefined && answer.refusedForMs >= 1000 && answer.refusedForMs <= 5000, `refused for ${answer.refusedForMs} ms`);
    assert.deepEqual(await range({ [FETCH_TOKEN_HEADER]: giver.token }), ['http +100'], 'a contributor, while free-riders are refused');
    assert.deepEqual(await range({}), ['http +100'], 'a plain viewer, while free-riders are refused');
    for (const { c } of [rider, giver]) {
      c.ws.close();
      await c.closed;
    }
    await waitFor('peers gone', () => origin.tracker.registry.size === 0);
  });

  test('tracker: malformed, unknown, oversized and out-of-order messages close that connection with a reason', async () => {
    const bad: [string, string | Buffer, RegExp][] = [
      ['not json', '{nope', /MALFORMED/],
      ['unknown type', JSON.stringify({ type: 'steal' }), /UNKNOWN_TYPE/],
      ['old version', JSON.stringify({ type: 'join', version: 0, streamId: 'live', peerId: 'x', url: null, uploadKbps: 0 }), /VERSION/],
      ['announce first', encodePeerToTracker({ type: 'get-peers', max: 3 }), /NOT_JOINED/],
      ['binary', Buffer.from([1, 2, 3]), /MALFORMED/],
      ['oversized', 'x'.repeat(200_000), /^ERR_TOO_LARGE: /],
    ];
    const healthy = trackerClient(origin);
    await healthy.open;
    healthy.ws.send(encodePeerToTracker({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'healthy', url: null, uploadKbps: 0 }));
    await waitFor('healthy welcome', () => healthy.received.some((m) => m.type === 'welcome'));
    for (const [name, frame, reason] of bad) {
      const c = trackerClient(origin);
      await c.open;
      c.ws.send(frame);
      const closed = await c.closed;
      assert.ok(closed.code === 1008 || closed.code === 1009, `${name}: close code ${closed.code}`);
      assert.match(closed.reason, reason, name);
    }
    const before = healthy.received.filter((m) => m.type === 'segment').length;
    await waitFor('healthy peer still served', () => healthy.received.filter((m) => m.type === 'segment').length > before);
    assert.equal((await fetch(`${origin.url}/healthz`)).status, 200);
    healthy.ws.close();
    await healthy.closed;
  });

  test('refuses ingest without the stream key', async () => {
    const res = await fetch(`${origin.url}/ingest/wrong-key-123/r1/s0.ts`, { method: 'PUT', body: 'x' });
    assert.equal(res.status, 403);
    const metrics = await (await fetch(`${origin.url}/metrics`)).text();
    assert.match(metrics, /origin_ingest_rejected_total\{channel="main",reason="bad-key"\} 1/);
  });

  test('error pages are one line with a stable code, never a stack; the log says why, at its level, without the stream key', async () => {
    const ingest = `${origin.url}/ingest/${origin.streamKey}/error-run`;
    const tooLarge = await fetch(`${ingest}/s0.ts`, { method: 'PUT', body: Buffer.alloc(MAX_SEGMENT_BYTES + 1) });
    assert.equal(tooLarge.status, 413);
    assert.equal(await tooLarge.text(), 'ERR_TOO_LARGE: request body too large\n');
    const badUrl = await fetch(`${origin.url}/live/%zz`);
    assert.equal(badUrl.status, 400);
    assert.equal(badUrl.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(await badUrl.text(), 'ERR_BAD_REQUEST: bad request\n');
    await abortedPut(`${ingest}/s1.ts`);
    const aborted = await waitFor('the aborted upload logged', () => captured.entries().find((e) => e.code === 'ERR_ABORTED'));
    assert.equal(aborted.level, 20, 'an upload cut off is routine: debug');
    const refused = captured.entries().filter((e) => e.msg === 'http request refused');
    assert.deepEqual(refused.map((e) => [e.code, e.status, e.level]), [['ERR_TOO_LARGE', 413, 30], ['ERR_BAD_REQUEST', 400, 30]]);
    for (const e of [aborted, ...refused]) {
      assert.equal(e.err, undefined, 'no error object, so no stack, for what a client did');
      assert.doesNotMatch(JSON.stringify(e), new RegExp(origin.streamKey));
    }
    assert.equal((await fetch(`${origin.url}/healthz`)).status, 200);
  });

  test('metrics move as the stream runs', async () => {
    const read = async () => {
      const text = await (await fetch(`${origin.url}/metrics`)).text();
      const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
      return {
        published: value('origin_segments_published_total\\{channel="main"\\}'),
        bytes: value('origin_http_segment_bytes_total\\{channel="main",class="http"\\}'),
        text,
      };
    };
    const first = await read();
    assert.match(first.text, /process_cpu_seconds_total/);
    await fetch(`${origin.url}/live/seg-${origin.window.announcements().at(-1)?.seq}.ts`).then((r) => r.arrayBuffer());
    await waitFor('published counter to grow', async () => (await read()).published > first.published);
    assert.ok((await read()).bytes > first.bytes);
  });

  test('a response cut off midway counts what was written, not the whole segment', async () => {
    // Larger than what loopback's socket buffers take from a client that stops reading (8 MB on the 2-core test machine).
    const size = MAX_SEGMENT_BYTES;
    const { info } = origin.window.publish(Buffer.alloc(size, 0x47), 1000, false, Date.now());
    const sent = async () => await counterTotal(origin.metrics.httpSegmentBytes);
    const before = await sent();
    const u = new URL(origin.url);
    const socket = connect(Number(u.port), u.hostname);
    socket.on('error', () => {});
    socket.write(`GET /live/seg-${info.seq}.ts HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`);
    let received = 0;
    await new Promise<void>((resolve) =>
      socket.on('data', (d: Buffer) => {
        received += d.byteLength;
        if (received < 1 << 20) return;
        socket.pause();
        resolve();
      }),
    );
    let last = -1;
    await waitFor('the origin to stop writing to a client that stopped reading', async () => {
      const now = await sent();
      const still = now === last;
      last = now;
      return still;
    }, 10_000, 300);
    socket.destroy();
    // A write the destroy cut short reports its error, and must not be counted after all.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const counted = (await sent()) - before;
    assert.ok(counted >= received - 1024, `counted ${counted} bytes, the client read ${received} (headers included)`);
    assert.ok(counted < size, `counted ${counted} of ${size} bytes`);
  });

  test('ffmpeg killed mid-stream: ingest restarts and sequence numbers continue after a discontinuity', async () => {
    const pid = origin.ingest.pid;
    assert.ok(pid, 'ffmpeg is running');
    const lastBefore = origin.window.announcements().at(-1)?.seq ?? -1;
    process.kill(pid, 'SIGKILL');
    await waitFor('ingest restart', async () => ((await origin.metrics.ingestRestarts.get()).values[0]?.value ?? 0) >= 1);
    const resumed = await waitFor('a segment after the restart', () => origin.window.announcements().find((s) => s.seq > lastBefore && s.discontinuity), 30_000);
    const seqs = origin.window.announcements().map((s) => s.seq);
    assert.deepEqual(seqs, seqs.map((_, i) => (seqs[0] ?? 0) + i), 'no gap or reuse in sequence numbers');
    assert.ok(resumed.seq > lastBefore);
    const text = await (await fetch(`${origin.url}/live/index.m3u8`)).text();
    assert.match(text, /#EXT-X-DISCONTINUITY\n/);
  });
});
