/**
 * Several channels through a tracker replica: the origin (in this process,
 * real ffmpeg, --redis) has the default channel and `sports`, and registers
 * both in a real redis-server; one replica process (npm run tracker) serves
 * both at /tracker and /tracker/sports. Peers join the replica, one on main
 * and two on sports: the sports peers trade with each other only, and hold
 * only what sports published, signed under its name.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Started, startScript, stopProcess, waitForOutput } from '../../harness/process.ts';
import type { Origin } from '../../origin/origin.ts';
import { peerConfig } from '../../peer-node/config.ts';
import { type PeerNode, createPeerNode } from '../../peer-node/node.ts';
import { quietLog, startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { type TestRedis, startRedis } from '../helpers/redis.ts';
import { waitFor } from '../helpers/wait.ts';

describe('two channels through a tracker replica on redis', () => {
  let redis: TestRedis;
  let origin: Origin;
  let replica: Started;
  let trackerUrl: string;
  const peers: { channel: string; node: PeerNode }[] = [];
  const published = new Map<string, Set<string>>([
    ['main', new Set()],
    ['sports', new Set()],
  ]);

  before(async () => {
    redis = await startRedis();
    origin = await startTestOrigin({ redis: redis.url, channel: ['sports=testsrc'], width: 160, height: 90, fps: 10, videoKbps: 150, audioKbps: 32 });
    for (const [name, c] of origin.channels) c.events.on('segmentPublished', ({ segment }) => published.get(name)?.add(segment.info.sha256));
    replica = startScript('origin/tracker-main.ts', ['--redis', redis.url, '--port', '0', '--replica-id', 'r0']);
    const [, url] = await waitForOutput(replica, /peers join (ws:\/\/\S+?\/tracker) /, 30_000);
    trackerUrl = url as string;
    await waitForSegments(origin, 1);
    const health = trackerUrl.replace(/^ws/, 'http').replace(/\/tracker$/, '/healthz');
    await waitFor('the replica serving both channels', async () => {
      const peersByChannel = ((await (await fetch(health)).json()) as { peers: Record<string, number> }).peers;
      return peersByChannel.main !== undefined && peersByChannel.sports !== undefined;
    }, 20_000);
    for (const [channel, peerId] of [['main', 'main-0'], ['sports', 'sports-0'], ['sports', 'sports-1']] as const) {
      const node = createPeerNode(peerConfig({ tracker: trackerUrl, edge: origin.url, channel, peerId, port: 0, maxNeighboursPerAddress: 0 }), { log: quietLog });
      await node.start();
      peers.push({ channel, node });
    }
  });

  after(async () => {
    await Promise.all(peers.map((p) => p.node.close()));
    if (replica) await stopProcess(replica);
    await origin?.close();
    await redis?.stop();
  });

  test("each channel's peers join it at the replica and hold only its segments", { timeout: 60_000 }, async (t) => {
    await waitFor(
      'three whole segments at every peer, and the sports peers neighbours',
      () => peers.every(({ channel, node }) => node.store.all().filter((e) => e.complete).length >= 3 && (channel === 'main' || node.swarm.handshaken().length >= 1)),
      45_000,
      200,
    );
    for (const { channel, node } of peers) {
      const own = published.get(channel) as Set<string>;
      const other = published.get(channel === 'main' ? 'sports' : 'main') as Set<string>;
      for (const e of node.store.all()) {
        assert.ok(!other.has(e.info.sha256), `a ${channel} peer holds the other channel's segment`);
        if (e.complete) assert.ok(own.has(e.info.sha256), `a ${channel} peer holds a segment ${channel} never published`);
      }
      const neighbours = node.swarm.handshaken().map((n) => n.peerId);
      assert.ok(neighbours.every((id) => id?.startsWith(`${channel}-`)), `${channel} peer's neighbours: ${neighbours.join(', ')}`);
      assert.equal(node.counters.hashFailures, 0);
    }
    // The origin counts each channel's swarm from Redis: its audience is that channel's peers.
    const health = (await (await fetch(`${origin.url}/healthz`)).json()) as { channels: { name: string; peers: number }[] };
    assert.deepEqual(health.channels.map((c) => [c.name, c.peers]), [['main', 1], ['sports', 2]]);
    t.diagnostic(`whole segments: ${peers.map(({ channel, node }) => `${channel} ${node.store.all().filter((e) => e.complete).length}`).join(', ')}`);
  });
});
