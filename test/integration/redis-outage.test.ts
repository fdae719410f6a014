/**
 * Redis dying mid-stream under tracker replicas: the origin (in this
 * process, --redis), one replica process and two peer nodes play; redis-server
 * is SIGKILLed, and after a while started again on its port. Meanwhile the
 * replica and the origin must say so, stay up and keep their peers, the peers
 * their tracker connection and neighbours; once Redis is back they must put
 * the swarm back into it, and new segments must reach the peers again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from '@redis/client';
import { type Started, isAlive, startScript, stopProcess, waitForOutput } from '../../harness/process.ts';
import type { Origin } from '../../origin/origin.ts';
import { channelKeys } from '../../origin/redis-schema.ts';
import { peerConfig } from '../../peer-node/config.ts';
import { type PeerNode, createPeerNode } from '../../peer-node/node.ts';
import { capturingLog, quietLog, startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { type TestRedis, startRedis } from '../helpers/redis.ts';
import { waitFor } from '../helpers/wait.ts';

const OUTAGE_MS = 6000;
const KEYS = channelKeys('main');

describe('redis SIGKILLed under the replicas mid-stream, then started again', () => {
  let redis: TestRedis;
  let origin: Origin;
  const originLog = capturingLog('warn');
  let replica: Started;
  const peers: PeerNode[] = [];
  let during: { replicaAlive: boolean; trackerJoined: boolean[]; neighbours: number[]; playlistStatus: number } | null = null;
  let neighboursBefore: number[] = [];
  let newestAtRestart = 0;
  let restoredMembers = -1;
  let channelBack = false;

  before(async () => {
    redis = await startRedis();
    origin = await startTestOrigin({ redis: redis.url }, { log: originLog.log });
    replica = startScript('origin/tracker-main.ts', ['--redis', redis.url, '--port', '0', '--replica-id', 'only', '--log-level', 'info']);
    const [, url] = await waitForOutput(replica, /peers join (ws:\/\/\S+?\/tracker) /, 30_000);
    await waitForSegments(origin, 2);
    await waitForOutput(replica, /"serving channel"/, 20_000, 'stderr');
    for (let i = 0; i < 2; i++) {
      const node = createPeerNode(peerConfig({ tracker: url as string, edge: origin.url, port: 0, peerId: `peer-${i}`, maxNeighboursPerAddress: 0 }), { log: quietLog });
      await node.start();
      peers.push(node);
    }
    await waitFor('the peers neighbours and holding segments', () => peers.every((p) => p.swarm.handshaken().length === 1 && (p.store.newestSeq() ?? 0) > 0), 20_000);
    neighboursBefore = peers.map((p) => p.swarm.handshaken().length);

    redis.child.kill('SIGKILL');
    await new Promise((resolve) => redis.child.once('exit', resolve));
    // On purpose: Redis stays away OUTAGE_MS, while everything else runs on.
    await sleep(OUTAGE_MS);
    during = {
      replicaAlive: replica.child.exitCode === null,
      trackerJoined: await Promise.all(peers.map(async (p) => ((await (await fetch(`${p.url}/api/stats`)).json()) as { trackerConnected: boolean }).trackerConnected)),
      neighbours: peers.map((p) => p.swarm.handshaken().length),
      playlistStatus: (await fetch(`${origin.url}/live/index.m3u8`)).status,
    };
    newestAtRestart = Math.max(...peers.map((p) => p.store.newestSeq() ?? 0));
    const port = redis.port;
    await redis.stop();
    redis = await startRedis(port);
    await waitForOutput(replica, /"redis reconnected/, 20_000, 'stderr');
    const watch = createClient({ url: redis.url });
    watch.on('error', () => undefined);
    await watch.connect();
    await waitFor('the replica putting its peers back into redis', async () => (await watch.hLen(KEYS.memberInfo)) === peers.length, 20_000);
    restoredMembers = await watch.hLen(KEYS.memberInfo);
    await waitFor('the origin registering its channel again', async () => (await watch.get(KEYS.config)) !== null, 20_000);
    channelBack = (await watch.sIsMember('p2p-live:channels', 'main')) === 1;
    await watch.close();
    await waitFor('new segments reaching the peers again', () => peers.every((p) => (p.store.newestSeq() ?? 0) > newestAtRestart + 1), 20_000);
  });

  after(async () => {
    await Promise.all(peers.map((p) => p.close()));
    if (replica) await stopProcess(replica);
    await origin?.close();
    await redis?.stop();
    assert.ok(!isAlive(replica.child.pid as number), 'replica left running');
  });

  test('while redis is away, the replica and the origin say so once and keep serving; the peers keep their tracker and neighbours', () => {
    assert.ok(during);
    assert.equal(during.replicaAlive, true);
    assert.deepEqual(during.trackerJoined, [true, true]);
    assert.deepEqual(during.neighbours, neighboursBefore);
    assert.equal(during.playlistStatus, 200);
    const lost = (text: string) => text.split('\n').filter((l) => l.includes('redis connection lost')).length;
    assert.equal(lost(replica.stderr()), 1, `the replica said: ${replica.stderr().slice(-2000)}`);
    assert.equal(originLog.entries().filter((e) => String(e.msg).startsWith('redis connection lost')).length, 1);
  });

  test('once redis is back, the replica puts its peers back, the origin its channel, and segments flow again', () => {
    assert.equal(restoredMembers, peers.length);
    assert.ok(channelBack);
    assert.match(replica.stderr(), /"redis reconnected: resynchronising"/);
    assert.ok(originLog.entries().some((e) => String(e.msg).startsWith('redis reconnected')));
    assert.ok(peers.every((p) => (p.store.newestSeq() ?? 0) > newestAtRestart + 1));
  });
});
