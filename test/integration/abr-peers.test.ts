import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import type { Origin } from '../../origin/origin.ts';
import type { PeerNode } from '../../peer-node/node.ts';
import type { NodeStats } from '../../shared/player-api.ts';
import { startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { startTestPeer } from '../helpers/swarm.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * A real origin publishing a two-rung ladder, and three real peer nodes, each
 * with a stand-in for its player that reads the node's playlists and
 * segments over HTTP as hls.js does and reports its position. The first
 * watches 360p, the last 240p, and the middle one moves from 360p to 240p
 * halfway: each rendition has two watchers, and one node has been in both.
 * A fourth node has no player at all, and picks a rung itself.
 */
const LADDER = '360p=640x360@700,240p=426x240@300';
const SWITCH_AT_MS = 10_000;
const RUN_MS = 24_000;
/** A cap the third node's link has: its segments reach its player no faster. */
const CAPPED_KBPS = 3000;
/** The download of a node with no player: 240p's BANDWIDTH (0.54 Mbit/s) fits 1.5 times over, 360p's (1.07) does not. */
const RELAY_KBPS = 1200;

interface Fetched {
  rendition: string;
  file: string;
  bytes: Buffer;
  /** From the request to the last byte. */
  ms: number;
}

/** A playlist's segment URIs with their media sequence numbers and PROGRAM-DATE-TIMEs. */
function mediaSegments(text: string): { uri: string; mediaSeq: number; pdt: string }[] {
  const lines = text.split('\n');
  let seq = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1] ?? Number.NaN);
  let pdt = '';
  const out: { uri: string; mediaSeq: number; pdt: string }[] = [];
  for (const l of lines) {
    if (l.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) pdt = l.slice('#EXT-X-PROGRAM-DATE-TIME:'.length);
    else if (l !== '' && !l.startsWith('#')) out.push({ uri: l, mediaSeq: seq++, pdt });
  }
  return out;
}

/** How a node answers a WebSocket upgrade at `path`: the HTTP status of a refusal, 101 if it let the connection in, 0 if it closed the socket. */
function upgradeAnswer(node: PeerNode, path: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${node.url.replace(/^http/, 'ws')}${path}`);
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.terminate();
    });
    ws.on('error', () => resolve(0));
  });
}

/** Plays a node's ladder the way a player does, on the rendition `pick()` names at each refresh, until `signal`. */
async function play(node: PeerNode, pick: () => string, fetched: Fetched[], signal: AbortSignal): Promise<void> {
  const seen = new Set<string>();
  while (!signal.aborted) {
    const r = pick();
    const res = await fetch(`${node.url}/live/${r}.m3u8`).catch(() => null);
    if (res?.ok) {
      const listed = mediaSegments(await res.text());
      // As hls.js does: from a few segments behind the edge, each new one once.
      for (const s of listed.slice(-3)) {
        if (seen.has(`${r}/${s.uri}`)) continue;
        seen.add(`${r}/${s.uri}`);
        const startedAt = performance.now();
        const seg = await fetch(`${node.url}/live/${s.uri}`);
        const bytes = Buffer.from(await seg.arrayBuffer());
        if (seg.ok) fetched.push({ rendition: r, file: s.uri.slice(r.length + 1), bytes, ms: performance.now() - startedAt });
      }
      const playing = listed.at(-3);
      if (playing) {
        await fetch(`${node.url}/api/player`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ seq: playing.mediaSeq, offsetMs: 0, stalls: 0, stallMs: 0, rendition: r }),
        }).catch(() => undefined);
      }
    } else await res?.body?.cancel();
    await sleep(1000);
  }
}

describe('peer nodes on a bitrate ladder: one swarm per rendition', () => {
  let origin: Origin;
  const peers: PeerNode[] = [];
  /** A node no player ever asks anything of (a relay box). */
  let relay: PeerNode;
  const fetched: Fetched[][] = [[], [], []];
  let startedAt = 0;
  const picks = [() => '360p', () => (performance.now() - startedAt < SWITCH_AT_MS ? '360p' : '240p'), () => '240p'];

  before(async () => {
    origin = await startTestOrigin({ ladder: LADDER, segmentSeconds: 1 });
    for (let i = 0; i < 3; i++) peers.push(await startTestPeer(origin, { peerId: `abr-${i}`, seed: i + 1, uploadKbps: 4000, ...(i === 2 ? { downloadKbps: CAPPED_KBPS } : {}) }));
    relay = await startTestPeer(origin, { peerId: 'abr-relay', seed: 9, uploadKbps: 4000, downloadKbps: RELAY_KBPS });
    await waitForSegments(origin, 3);
    const run = AbortSignal.timeout(RUN_MS);
    startedAt = performance.now();
    const players = peers.map((p, i) => play(p, picks[i] as () => string, fetched[i] as Fetched[], run));
    await Promise.all(players);
  });

  after(async () => {
    await Promise.all([...peers, relay].filter(Boolean).map((p) => p.close()));
    await origin?.close();
  });

  test("each node's /live.m3u8 is the origin's master playlist pointing at the node's own rendition playlists", async () => {
    const master = await (await fetch(`${origin.url}/live/main/master.m3u8`)).text();
    const originLines = master.trim().split('\n');
    for (const p of peers) {
      const res = await fetch(`${p.url}/live.m3u8`);
      assert.equal(res.status, 200);
      const lines = (await res.text()).trim().split('\n');
      assert.equal(lines.length, originLines.length);
      lines.forEach((l, i) => assert.equal(l, /^\d+p\/index\.m3u8$/.test(originLines[i] as string) ? `live/${(originLines[i] as string).split('/')[0]}.m3u8` : originLines[i]));
    }
  });

  test('what is no rung of the ladder is not found: another rendition, a path of the one stream, a name that is no rendition', async () => {
    const p = peers[0] as PeerNode;
    for (const path of ['/live/720p.m3u8', '/live/720p/seg-1.ts', '/live/seg-1.ts', '/live/main/seg-1.ts', '/live/x360p/seg-1.ts']) {
      const res = await fetch(`${p.url}${path}`);
      await res.body?.cancel();
      assert.equal(res.status, 404, path);
    }
    assert.equal(p.stats().renditions.some((r) => r.name === '720p'), false);
  });

  test('every segment a player got is the origin\'s, byte for byte, of its rendition', async (t) => {
    for (const [i, list] of fetched.entries()) {
      t.diagnostic(`node ${i}: ${list.length} segments (${[...new Set(list.map((f) => f.rendition))].join(', ')})`);
      assert.ok(list.length >= 8, `node ${i} got only ${list.length} segments`);
      for (const f of list.slice(-4)) {
        const res = await fetch(`${origin.url}/live/main/${f.rendition}/${f.file}`);
        if (res.status !== 200) continue; // Left the origin's window since.
        assert.ok(Buffer.from(await res.arrayBuffer()).equals(f.bytes), `node ${i}: ${f.rendition}/${f.file} differs from the origin's`);
      }
    }
    assert.ok(fetched[1]?.some((f) => f.rendition === '360p') && fetched[1]?.some((f) => f.rendition === '240p'), 'the switching node played both');
  });

  test('each rendition a node watches is its own swarm, trading pieces: bytes from peers in each, in its stats and its metrics', async (t) => {
    const watches = [['360p'], ['360p', '240p'], ['240p']];
    for (const [i, p] of peers.entries()) {
      const s = p.stats();
      t.diagnostic(`node ${i}: ${s.renditions.map((r) => `${r.name} ${r.role} p2p ${r.p2pBytes} B origin ${r.originBytes} B up ${r.uploadedBytes} B ${r.neighbours} neighbours`).join('; ')}`);
      for (const r of watches[i] as string[]) {
        const rs = s.renditions.find((x) => x.name === r);
        assert.ok(rs, `node ${i} is not in ${r}'s swarm`);
        assert.ok(rs.p2pBytes > 0, `node ${i}: no bytes from peers in ${r}`);
      }
      // Never asked for: joined only as the rung above the one playing, ahead of the player, relaying (its link has room for both).
      for (const r of ['360p', '240p']) {
        if ((watches[i] as string[]).includes(r)) continue;
        const rs = s.renditions.find((x) => x.name === r);
        if (r === '240p') assert.equal(rs, undefined, `node ${i} joined ${r}, below what it plays`);
        else assert.equal(rs?.role, 'relay', `node ${i}: ${r} ${rs?.role}`);
      }
      assert.equal(s.p2pBytes, s.renditions.reduce((n, r) => n + r.p2pBytes, 0));
    }
    const metrics = await (await fetch(`${peers[1]?.url}/metrics`)).text();
    for (const r of ['360p', '240p']) assert.match(metrics, new RegExp(`^peer_rendition_p2p_bytes_total\\{rendition="${r}"\\} [1-9]`, 'm'));
  });

  test('the node whose player left a rendition keeps it as a relay for a while, and names the new one active', () => {
    // Its player left 360p some 14 s ago: over the 8 s of being on it, under the 30 s of relaying it.
    const s = peers[1]?.stats() as NodeStats;
    assert.equal(s.rendition, '240p');
    assert.deepEqual(
      s.renditions.map((r) => [r.name, r.role]),
      [
        ['360p', 'relay'],
        ['240p', 'active'],
      ],
    );
  });

  test('segment numbers are aligned: a segment has the same media sequence number and the same capture time in both renditions', async (t) => {
    const listed = (base: string, r: string, path: string) => fetch(`${base}${path}`).then(async (res) => ({ r, segments: mediaSegments(await res.text()) }));
    // The origin's own playlists, and those of the node in both (asking another node for a rung would make it join that rung).
    const node = peers[1] as PeerNode;
    const sources = [
      { name: 'origin', lists: ['360p', '240p'].map((r) => listed(origin.url, r, `/live/main/${r}/index.m3u8`)) },
      { name: node.peerId, lists: ['360p', '240p'].map((r) => listed(node.url, r, `/live/${r}.m3u8`)) },
    ];
    for (const source of sources) {
      const [hi, lo] = await Promise.all(source.lists);
      const byFile = new Map((hi?.segments ?? []).map((s) => [s.uri.split('/').at(-1), s]));
      let common = 0;
      for (const s of lo?.segments ?? []) {
        const twin = byFile.get(s.uri.split('/').at(-1));
        if (!twin) continue;
        common++;
        assert.equal(s.mediaSeq, twin.mediaSeq, `${source.name}: ${s.uri} vs ${twin.uri}`);
        // The origin stamps a number once per channel, when its first rung is published (origin/rendition.ts).
        assert.notEqual(s.pdt, '', `${source.name}: ${s.uri}`);
        assert.equal(s.pdt, twin.pdt, `${source.name}: ${s.uri} vs ${twin.uri}`);
      }
      t.diagnostic(`${source.name}: ${common} segments listed in both renditions`);
      if (source.name === 'origin') assert.ok(common >= 2, `the origin lists only ${common} segments in both renditions`);
    }
  });

  test(`a node with no player is active in a rung it chose itself, the highest its ${RELAY_KBPS} kbit/s carry with margin, and trades in it`, (t) => {
    const s = relay.stats();
    t.diagnostic(`relay: ${s.renditions.map((r) => `${r.name} ${r.role} p2p ${r.p2pBytes} B origin ${r.originBytes} B up ${r.uploadedBytes} B ${r.neighbours} neighbours`).join('; ')}`);
    assert.equal(relay.ladder?.headless, true);
    assert.equal(s.rendition, '240p');
    assert.deepEqual(s.renditions.map((r) => [r.name, r.role]), [['240p', 'active']]);
    const r = s.renditions[0];
    assert.ok(r && r.neighbours >= 1 && r.p2pBytes + r.uploadedBytes > 0, 'it trades pieces with the 240p swarm');
  });

  test(`a node whose link is capped at ${CAPPED_KBPS} kbit/s serves its player no faster`, (t) => {
    const list = fetched[2] as Fetched[];
    const s = peers[2]?.stats() as NodeStats;
    t.diagnostic(`pace ${s.paceBytesPerSec} B/s; segments ${list.map((f) => `${f.bytes.length} B in ${f.ms.toFixed(0)} ms`).join(', ')}`);
    assert.ok(s.paceBytesPerSec !== null && s.paceBytesPerSec <= (CAPPED_KBPS * 1000) / 8);
    for (const f of list) assert.ok(f.ms >= (f.bytes.length * 8) / CAPPED_KBPS - 5, `${f.file}: ${f.bytes.length} B in ${f.ms.toFixed(0)} ms, over ${CAPPED_KBPS} kbit/s`);
  });

  test("each rendition's neighbours are nodes in that rendition's swarm, dialled at the node's one port on the rendition's path", async (t) => {
    await waitFor('neighbours in the 240p swarm', () => (peers[2]?.stats().renditions.find((r) => r.name === '240p')?.neighbours ?? 0) >= 1, 5000);
    for (const p of peers) t.diagnostic(`${p.peerId}: ${p.stats().renditions.map((r) => `${r.name} ${r.role}`).join(', ')}; ${(p.ladder?.sessions() ?? []).map((s) => `${s.place.streamId}: ${s.core.swarm.handshaken().map((n) => `${n.peerId}${n.outbound ? ' out' : ' in'}`).join(' ')}`).join('; ')}`);
    // abr-2 plays 240p and holds 360p ahead of its player.
    const watchers: Record<string, string[]> = { '360p': ['abr-0', 'abr-1', 'abr-2'], '240p': ['abr-1', 'abr-2', 'abr-relay'] };
    for (const p of [...peers, relay]) {
      for (const s of p.ladder?.sessions() ?? []) {
        const r = s.place.streamId.split('_').at(-1) as string;
        for (const n of s.core.swarm.handshaken()) assert.ok(watchers[r]?.includes(n.peerId as string), `${p.peerId}'s ${r} neighbour ${n.peerId} is not in ${r}`);
      }
    }
    // Each rendition's tracker lists (and probed) every node at the port its HTTP server listens on, at `/peer/<r>`.
    const renditions = origin.channels.get('main')?.renditions;
    assert.ok(renditions);
    for (const [r, swarm] of renditions) {
      for (const id of watchers[r] ?? []) {
        const node = [...peers, relay].find((p) => p.peerId === id) as PeerNode;
        const rec = swarm.tracker.registry.get(id);
        assert.ok(rec, `${id} is not in ${r}'s swarm`);
        assert.equal(rec.url, `ws://127.0.0.1:${node.port}/peer/${r}`);
        assert.equal(rec.reachability, 'reachable', `${id} in ${r}`);
      }
    }
    // abr-0 is in 360p only: a dial for 240p is refused, one at /peer (a single stream's path) or a name that is no rung is closed.
    const abr0 = peers[0] as PeerNode;
    assert.equal(await upgradeAnswer(abr0, '/peer/240p'), 503);
    assert.equal(await upgradeAnswer(abr0, '/peer'), 0);
    assert.equal(await upgradeAnswer(abr0, '/peer/hd'), 0);
  });
});
