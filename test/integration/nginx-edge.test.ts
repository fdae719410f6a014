import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import type { Origin } from '../../origin/origin.ts';
import type { StoredSegment } from '../../origin/live-window.ts';
import type { PeerNode } from '../../peer-node/node.ts';
import { NGINX, type Nginx, startNginx } from '../helpers/nginx.ts';
import { startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { originSha, startTestPeer, trackerUrl } from '../helpers/swarm.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Debian's nginx running deploy/nginx/p2p-live.conf.template in front of a
 * real origin (ffmpeg test source): how many requests reach the origin is
 * counted at the origin (origin_http_segment_requests_total by status), never
 * at nginx.
 */
const VIEWERS = 20;
const PEERS = 20;

async function segmentRequests(origin: Origin): Promise<Record<string, number>> {
  const m = await origin.metrics.httpSegmentRequests.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.status), v.value]));
}

async function httpBytes(origin: Origin): Promise<Record<string, number>> {
  const m = await origin.metrics.httpSegmentBytes.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.class), v.value]));
}

function delta(before: Record<string, number>, now: Record<string, number>, key: string): number {
  return (now[key] ?? 0) - (before[key] ?? 0);
}

function sha(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The next `count` segments the origin publishes, each as soon as it is in the window and before anyone has asked for it. */
async function nextSegments(origin: Origin, count: number): Promise<StoredSegment[]> {
  const got: StoredSegment[] = [];
  while (got.length < count) {
    const [event] = (await once(origin.events, 'segmentPublished', { signal: AbortSignal.timeout(15_000) })) as [{ segment: StoredSegment }];
    got.push(event.segment);
  }
  return got;
}

describe('the origin behind deploy/nginx (real nginx, real ffmpeg)', { skip: existsSync(NGINX) ? false : `no nginx at ${NGINX}` }, () => {
  let origin: Origin;
  let nginx: Nginx;
  const peers: PeerNode[] = [];

  before(async () => {
    // No seeding: every byte the peers get comes over HTTP, through nginx.
    origin = await startTestOrigin({ seedCopies: 0, trustProxyHeader: 'x-forwarded-for' });
    nginx = await startNginx(`127.0.0.1:${origin.port}`);
    await waitForSegments(origin, 1);
  });

  after(async () => {
    await Promise.all(peers.map((p) => p.close()));
    await nginx?.close();
    await origin?.close();
  });

  test(`${VIEWERS} viewers asking at once for the same fresh segments cause one upstream fetch per segment, and each gets the right bytes`, async () => {
    const segments = await nextSegments(origin, 3);
    const reqBefore = await segmentRequests(origin);
    const bytesBefore = await httpBytes(origin);
    // Half ask for the whole segment, half for a range of it, as peers' fallbacks do; all at once.
    const asks = segments.flatMap((s) =>
      Array.from({ length: VIEWERS }, (_, i) => {
        const start = i % 2 === 0 ? null : Math.floor((s.data.byteLength * i) / (2 * VIEWERS));
        return { s, start, end: start === null ? s.data.byteLength : Math.min(s.data.byteLength, start + 16 * 1024) };
      }),
    );
    const answers = await Promise.all(
      asks.map(async ({ s, start, end }) => {
        const headers: Record<string, string> = start === null ? {} : { Range: `bytes=${start}-${end - 1}` };
        const res = await fetch(`${nginx.url}/live/seg-${s.info.seq}.ts`, { headers, signal: AbortSignal.timeout(15_000) });
        return { res, body: new Uint8Array(await res.arrayBuffer()) };
      }),
    );
    for (const [i, { res, body }] of answers.entries()) {
      const { s, start, end } = asks[i] as (typeof asks)[number];
      assert.equal(res.status, start === null ? 200 : 206, `seg ${s.info.seq} from ${start}`);
      if (start === null) assert.equal(sha(body), s.info.sha256);
      else {
        assert.equal(res.headers.get('content-range'), `bytes ${start}-${end - 1}/${s.data.byteLength}`);
        assert.deepEqual(Buffer.from(body), s.data.subarray(start, end));
      }
      assert.equal(res.headers.get('cache-control'), 'public, max-age=60, immutable');
      assert.equal(res.headers.get('etag'), `"${s.info.sha256}"`);
      // What is cached is one answer for everyone: it must not vary by anything a viewer sends.
      assert.equal(res.headers.get('vary'), null);
    }
    const reqAfter = await segmentRequests(origin);
    // Every segment was fetched at least once (the bytes came from somewhere); this says at most once,
    // whole (nginx does not pass a viewer's Range upstream), and nothing else reached the origin.
    assert.equal(delta(reqBefore, reqAfter, '200'), segments.length, `origin answered ${JSON.stringify(reqAfter)}, was ${JSON.stringify(reqBefore)}`);
    assert.equal(delta(reqBefore, reqAfter, '206'), 0);
    const bytesAfter = await httpBytes(origin);
    assert.equal(delta(bytesBefore, bytesAfter, 'http'), segments.reduce((n, s) => n + s.data.byteLength, 0));
  });

  test('a Range through nginx is answered from the cache with the right bytes; the first miss fetches the whole segment', async () => {
    const [s] = await nextSegments(origin, 1);
    assert.ok(s);
    const url = `${nginx.url}/live/seg-${s.info.seq}.ts`;
    const size = s.data.byteLength;
    const ranges: [string, number, number][] = [
      ['bytes=1000-1999', 1000, 2000],
      ['bytes=-500', size - 500, size],
      [`bytes=${size - 10}-`, size - 10, size],
    ];
    const reqBefore = await segmentRequests(origin);
    for (const [i, [header, start, end]] of ranges.entries()) {
      const res = await fetch(url, { headers: { Range: header }, signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 206, header);
      assert.equal(res.headers.get('x-cache-status'), i === 0 ? 'MISS' : 'HIT', header);
      assert.equal(res.headers.get('content-range'), `bytes ${start}-${end - 1}/${size}`, header);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), s.data.subarray(start, end), header);
    }
    const unsatisfiable = await fetch(url, { headers: { Range: `bytes=${size}-` }, signal: AbortSignal.timeout(10_000) });
    assert.equal(unsatisfiable.status, 416);
    await unsatisfiable.arrayBuffer();
    const reqAfter = await segmentRequests(origin);
    assert.equal(delta(reqBefore, reqAfter, '200'), 1, `one whole fetch upstream: ${JSON.stringify(reqAfter)}`);
    assert.equal(delta(reqBefore, reqAfter, '206'), 0);
    assert.equal(delta(reqBefore, reqAfter, '416'), 0);
  });

  test('the playlist is cached briefly and stays live; a segment not yet published is a short-lived 404', async () => {
    const first = await fetch(`${nginx.url}/live/index.m3u8`, { signal: AbortSignal.timeout(5000) });
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('cache-control'), 'public, max-age=1');
    assert.match(first.headers.get('etag') ?? '', /^"[0-9a-f]{32}"$/);
    const text = await first.text();
    const newest = (t: string) => Math.max(...[...t.matchAll(/seg-(\d+)\.ts/g)].map((m) => Number(m[1])));
    const listed = newest(text);
    const latest = origin.window.latest(1)[0]?.info.seq ?? 0;
    assert.ok(listed <= latest && listed >= latest - 2, `listed up to ${listed}, origin at ${latest}`);
    // Within a few segments the cached copy has moved on with the stream.
    await waitFor('the playlist through nginx to list a newer segment', async () => newest(await (await fetch(`${nginx.url}/live/index.m3u8`)).text()) > listed, 10_000, 200);

    const future = (origin.window.latest(1)[0]?.info.seq ?? 0) + 100;
    const res = await fetch(`${nginx.url}/live/seg-${future}.ts`, { signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=1');
    await res.arrayBuffer();
  });

  test('operator pages and ingest are not served through the proxy, with or without a token; /healthz is, uncached', async () => {
    // Direct, from loopback, the origin opens them: the proxy is what refuses.
    assert.equal((await fetch(`${origin.url}/metrics`)).status, 200);
    for (const path of ['/metrics', '/dashboard', '/dashboard/', '/api/dashboard', `/ingest/${origin.streamKey}/run/seg-0.ts`, '/live/seg-x.ts', '/live/Main/index.m3u8']) {
      for (const headers of [{}, { Authorization: 'Bearer some-admin-token-0123456789' }] as Record<string, string>[]) {
        const res = await fetch(`${nginx.url}${path}`, { headers, signal: AbortSignal.timeout(5000) });
        const body = await res.text();
        assert.equal(res.status, 404, `${path}: ${body}`);
        assert.doesNotMatch(body, /origin_|nodejs_|peers/, path);
      }
    }
    const put = await fetch(`${nginx.url}/live/seg-1.ts`, { method: 'PUT', body: 'x', signal: AbortSignal.timeout(5000) });
    assert.equal(put.status, 403);
    await put.arrayBuffer();
    const health = await fetch(`${nginx.url}/healthz`, { signal: AbortSignal.timeout(5000) });
    assert.equal(health.status, 200);
    assert.equal(health.headers.get('x-cache-status'), null);
    assert.equal(((await health.json()) as { status: string }).status, 'ok');
  });

  test(`${PEERS} peer nodes with --edge and no upload fall back through nginx: one upstream fetch per segment, none classed by a peer's token`, async (t) => {
    const shaOf = originSha(origin);
    const reqBefore = await segmentRequests(origin);
    const bytesBefore = await httpBytes(origin);
    const logBefore = await nginx.accessLog();
    const seenBefore = new Set(logBefore.map((l) => l.uri));
    const tracker = nginx.url.replace(/^http/, 'ws') + '/tracker';
    // Half join the tracker through nginx's WebSocket proxy, half the origin directly; all fetch through --edge.
    for (let i = 0; i < PEERS; i++) {
      peers.push(
        await startTestPeer(origin, {
          tracker: i % 2 === 0 ? tracker : trackerUrl(origin),
          edge: nginx.url,
          uploadKbps: 0,
          peerId: `edge-${i}`,
          seed: i + 1,
        }),
      );
    }
    await waitFor('every peer to join', () => origin.tracker.registry.size === PEERS, 15_000);
    const firstSeq = (origin.window.latest(1)[0]?.info.seq ?? 0) + 1;
    const WANT = 4;
    const whole = (p: PeerNode) => {
      let n = 0;
      for (let seq = firstSeq; seq < firstSeq + WANT; seq++) {
        const data = p.store.segmentData(seq);
        if (data && sha(data) === shaOf(seq)) n++;
      }
      return n;
    };
    await waitFor(`every peer to hold ${WANT} whole segments from ${firstSeq} on`, () => peers.every((p) => whole(p) === WANT), 30_000, 250);
    for (const p of peers) {
      assert.equal(p.counters.p2pBytes, 0, `${p.peerId} got bytes from a peer: nobody uploads`);
      assert.ok(p.counters.originRequests > 0, `${p.peerId} fetched over HTTP`);
    }

    const reqAfter = await segmentRequests(origin);
    const log = (await nginx.accessLog()).slice(logBefore.length).filter((l) => /^\/live\/seg-\d+\.ts$/.test(l.uri));
    const fresh = new Set(log.map((l) => l.uri).filter((u) => !seenBefore.has(u)));
    const upstream = delta(reqBefore, reqAfter, '200');
    t.diagnostic(`${log.length} fallback requests to nginx for ${fresh.size} segments not asked for before; origin answered ${upstream} whole fetches`);
    // Peers only ever ask for ranges: a 206 at the origin would be a fetch that went around nginx.
    assert.equal(delta(reqBefore, reqAfter, '206'), 0, 'no fallback reached the origin directly');
    // Each segment first asked for now was fetched once, and those asked for before not again.
    assert.equal(upstream, fresh.size, `origin answered ${JSON.stringify(reqAfter)}, was ${JSON.stringify(reqBefore)}`);
    assert.ok(log.length >= PEERS * WANT, `${log.length} requests through nginx: the peers shared the fetches`);
    // nginx sends no peer's x-fetch-token upstream: the fetch it makes for all is nobody's, never a free-rider's.
    const bytesAfter = await httpBytes(origin);
    assert.equal(delta(bytesBefore, bytesAfter, 'spare'), 0, 'bytes served in the spare class: a free-rider\'s token reached the origin');
    assert.ok(delta(bytesBefore, bytesAfter, 'http') > 0);
  });
});
