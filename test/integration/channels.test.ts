/**
 * One origin, two live channels: the default `main` and `sports`, each on a
 * real ffmpeg test pattern of its own, each with two real peer nodes. The
 * swarms stay apart: every peer's neighbours are of its channel, every
 * segment it holds is one its channel published, and a peer of one channel
 * is refused by the other's tracker and peers. Each channel's playlist lists
 * segments that verify, and the metrics say which channel each figure is.
 * `sports` also has a free-rider, which the origin never seeds: what its
 * neighbours do not give it, it fetches from `/live/sports/`.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import type { Origin } from '../../origin/origin.ts';
import type { PeerNode } from '../../peer-node/node.ts';
import { PROTOCOL_VERSION } from '../../shared/limits.ts';
import { encodeWire, decodeWire } from '../../shared/wire-protocol.ts';
import { startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { startTestPeer, trackerUrl } from '../helpers/swarm.ts';
import { trackerClient } from '../helpers/tracker-client.ts';
import { waitFor } from '../helpers/wait.ts';

const CHANNELS = ['main', 'sports'] as const;
const PEERS_PER_CHANNEL = 2;

describe('several live channels from one origin', () => {
  let origin: Origin;
  let rider: PeerNode;
  const peers = new Map<string, PeerNode[]>();
  /** Every segment each channel published, by SHA-256. */
  const published = new Map<string, Set<string>>(CHANNELS.map((c) => [c, new Set<string>()]));

  before(async () => {
    origin = await startTestOrigin({ channel: ['sports=testsrc'], width: 160, height: 90, fps: 10, videoKbps: 150, audioKbps: 32 });
    for (const c of CHANNELS) {
      origin.channels.get(c)?.events.on('segmentPublished', ({ segment }) => published.get(c)?.add(segment.info.sha256));
    }
    await waitForSegments(origin, 1);
    for (const c of CHANNELS) {
      const list: PeerNode[] = [];
      for (let i = 0; i < PEERS_PER_CHANNEL; i++) list.push(await startTestPeer(origin, { channel: c, peerId: `${c}-${i}` }));
      peers.set(c, list);
    }
    rider = await startTestPeer(origin, { channel: 'sports', peerId: 'sports-rider', uploadKbps: 0 });
    peers.get('sports')?.push(rider);
  });

  after(async () => {
    await Promise.all([...peers.values()].flat().map((p) => p.close()));
    await origin?.close();
  });

  test('each channel has its own swarm: neighbours and held segments never cross', { timeout: 90_000 }, async (t) => {
    const all = [...peers.entries()].flatMap(([c, list]) => list.map((p) => ({ c, p })));
    // Every peer has its channel's other peer as a neighbour and whole segments of its own.
    await waitFor(
      'every peer to have a neighbour and three whole segments',
      () => all.every(({ p }) => p.swarm.handshaken().length >= 1 && p.store.all().filter((e) => e.complete).length >= 3),
      60_000,
      200,
    );
    for (const { c, p } of all) {
      const neighbours = p.swarm.handshaken().map((n) => n.peerId);
      assert.ok(neighbours.every((id) => id?.startsWith(`${c}-`)), `${c} peer's neighbours: ${neighbours.join(', ')}`);
      const other = published.get(c === 'main' ? 'sports' : 'main') as Set<string>;
      const own = published.get(c) as Set<string>;
      for (const e of p.store.all()) {
        assert.ok(!other.has(e.info.sha256), `a ${c} peer holds a segment of the other channel`);
        if (e.complete) assert.ok(own.has(e.info.sha256), `a ${c} peer holds a whole segment its channel never published`);
      }
      assert.equal(p.counters.hashFailures, 0, 'no piece that failed its hash: none came from the other channel');
    }
    // Its tracker lists a channel's peers only to that channel's peers.
    assert.deepEqual([...(origin.channels.get('sports')?.tracker.registry.all() ?? [])].map((r) => r.peerId).sort(), ['sports-0', 'sports-1', 'sports-rider']);
    assert.deepEqual([...origin.tracker.registry.all()].map((r) => r.peerId).sort(), ['main-0', 'main-1']);
    t.diagnostic(`segments held: ${all.map(({ c, p }) => `${c} ${p.store.all().filter((e) => e.complete).length}`).join(', ')}`);
  });

  test("a named channel's peers fall back to its own HTTP path", { timeout: 60_000 }, async () => {
    const sports = origin.channels.get('sports');
    assert.ok(sports);
    // Never seeded, and its neighbours give a free-rider little: the rest came over HTTP, from /live/sports/.
    await waitFor('the free-rider to have fetched from the origin', () => rider.counters.originBytes - rider.counters.seedBytes > 0, 45_000, 200);
    assert.equal(rider.counters.seedBytes, 0);
    const complete = rider.store.all().filter((e) => e.complete);
    assert.ok(complete.length > 0);
    for (const e of complete) assert.ok(published.get('sports')?.has(e.info.sha256), 'the free-rider holds a segment sports never published');
    const text = await (await fetch(`${origin.url}/metrics`)).text();
    const spare = Number(/^origin_http_segment_bytes_total\{channel="sports",class="spare"\} (\S+)$/m.exec(text)?.[1]);
    assert.ok(spare > 0, `sports' spare-class HTTP bytes ${spare}`);
  });

  test("each channel's playlist lists segments that verify against its own announcements", { timeout: 60_000 }, async () => {
    await waitForSegments(origin, 3);
    for (const [c, path] of [['main', '/live'], ['main', '/live/main'], ['sports', '/live/sports']] as const) {
      const res = await fetch(`${origin.url}${path}/index.m3u8`);
      assert.equal(res.status, 200, path);
      const uris = (await res.text()).split('\n').filter((l) => l.startsWith('seg-'));
      assert.ok(uris.length >= 2, `${path}: ${uris.length} segments listed`);
      const window = origin.channels.get(c)?.window;
      for (const uri of uris.slice(-2)) {
        const body = Buffer.from(await (await fetch(`${origin.url}${path}/${uri}`)).arrayBuffer());
        const seq = Number(/seg-(\d+)\.ts/.exec(uri)?.[1]);
        const found = window?.lookup(seq);
        assert.ok(found?.state === 'live', `${path}/${uri} not in ${c}'s window`);
        assert.equal(createHash('sha256').update(body).digest('hex'), found.segment.info.sha256, `${path}/${uri}`);
        assert.equal(body[0], 0x47, 'an MPEG-TS segment');
      }
    }
    // The two test patterns are encoded apart: no segment is in both.
    const main = published.get('main') as Set<string>;
    assert.ok(![...(published.get('sports') as Set<string>)].some((h) => main.has(h)));
    assert.equal((await fetch(`${origin.url}/live/nope/index.m3u8`)).status, 404);
  });

  test("a peer of one channel is refused by the other's tracker and at the other's peers' handshake", { timeout: 30_000 }, async () => {
    const main = origin.channels.get('main');
    const sports = origin.channels.get('sports');
    assert.ok(main && sports);
    assert.notEqual(main.streamId, sports.streamId);
    // A main peer (main's stream id) knocking on sports' tracker.
    const stray = await trackerClient(`${trackerUrl(origin)}/sports`, { peerId: 'stray', url: () => null, streamId: main.streamId });
    try {
      await waitFor('the refusal', () => stray.received.find((m) => m.type === 'error'));
      assert.deepEqual(stray.received.find((m) => m.type === 'error')?.code, 'UNKNOWN_STREAM');
    } finally {
      await stray.close();
    }
    // A main peer dialling a sports peer: the sports peer ends the connection at the handshake.
    const target = peers.get('sports')?.[0];
    assert.ok(target);
    const ws = new WebSocket(`${target.url.replace(/^http/, 'ws')}/peer`);
    ws.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => ws.on('close', () => resolve()));
    const frames: string[] = [];
    ws.on('message', (data) => {
      const d = decodeWire(new Uint8Array(data as Buffer));
      if (d.ok) frames.push(d.value.type);
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.send(encodeWire({ type: 'handshake', version: PROTOCOL_VERSION, streamId: main.streamId, peerId: 'main-stray' }));
    await closed;
    assert.ok(!frames.includes('piece'), 'the sports peer sent a piece to a main peer');
    assert.ok(!target.swarm.handshaken().some((n) => n.peerId === 'main-stray'));
    await assert.rejects(
      new Promise((resolve, reject) => {
        const bad = new WebSocket(`${trackerUrl(origin)}/nope`);
        bad.on('open', resolve);
        bad.on('error', reject);
      }),
      'no tracker for a channel that does not exist',
    );
  });

  test('metrics carry the channel label; each channel has its own offload figures', async () => {
    const text = await (await fetch(`${origin.url}/metrics`)).text();
    const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    for (const c of CHANNELS) {
      assert.ok(value(`origin_segments_published_total{channel="${c}"}`) >= 3, `${c} segments`);
      assert.equal(value(`origin_peers{channel="${c}"}`), peers.get(c)?.length, `${c} peers`);
      const ratio = value(`origin_offload_ratio{channel="${c}"}`);
      assert.ok(ratio >= 0 && ratio <= 1, `${c} offload ${ratio}`);
      assert.ok(value(`origin_audience_segment_bytes_total{channel="${c}"}`) > 0, `${c} audience`);
    }
    const health = (await (await fetch(`${origin.url}/healthz`)).json()) as { channels: { name: string; peers: number }[] };
    assert.deepEqual(health.channels.map((c) => [c.name, c.peers]), [['main', 2], ['sports', 3]]);
    const dash = (await (await fetch(`${origin.url}/api/dashboard`)).json()) as { channels: { name: string; playlistPath: string; offloadRatio: number }[] };
    assert.deepEqual(dash.channels.map((c) => [c.name, c.playlistPath]), [['main', '/live/index.m3u8'], ['sports', '/live/sports/index.m3u8']]);
  });
});
