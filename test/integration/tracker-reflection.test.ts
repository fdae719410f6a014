/**
 * The tracker hands out only addresses that belong to the peer. Liars join
 * claiming a port they do not own: a plain ws server's (which counts every
 * connection it gets) and an honest peer's. The tracker lists a peer under
 * its connection's own address and only once its connect-back probe heard
 * that peer's handshake there, so for ~15 s no honest peer dials the plain
 * server, and no liar is ever handed out; the honest peers still find and
 * use each other.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocketServer } from 'ws';
import type { Origin } from '../../origin/origin.ts';
import { createReachabilityProbe } from '../../origin/reachability-probe.ts';
import type { PeerNode } from '../../peer-node/node.ts';
import { systemClock } from '../../shared/clock.ts';
import { startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { startTestPeer, trackerUrl } from '../helpers/swarm.ts';
import { type TestTrackerClient, trackerClient } from '../helpers/tracker-client.ts';
import { waitFor } from '../helpers/wait.ts';

const HONEST = ['honest-0', 'honest-1', 'honest-2'];
const WATCH_MS = 15_000;

describe('the tracker hands out only addresses that belong to the peer', () => {
  let origin: Origin;
  let counter: WebSocketServer;
  let counterPort = 0;
  let counted = 0;
  /** Dials the origin's probe made, by URL: the only ones the counter may get. */
  const probed = new Map<string, number>();
  const liars: TestTrackerClient[] = [];
  let observer: TestTrackerClient;
  const peers: PeerNode[] = [];

  before(async () => {
    counter = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    counter.on('connection', (ws) => {
      counted++;
      ws.on('error', () => undefined);
    });
    await new Promise((r) => counter.once('listening', r));
    counterPort = (counter.address() as AddressInfo).port;
    const real = createReachabilityProbe({ clock: systemClock, streamId: 'live' });
    origin = await startTestOrigin({}, {
      probe: (url, peerId, signal) => {
        probed.set(url, (probed.get(url) ?? 0) + 1);
        return real(url, peerId, signal);
      },
    });
    await waitForSegments(origin, 2);
  });

  after(async () => {
    await Promise.all(peers.map((p) => p.close()));
    await Promise.all(liars.map((l) => l.close()));
    await observer?.close();
    await origin?.close();
    counter?.close();
  });

  test(`liars claiming other ports are never handed out; over ${WATCH_MS / 1000} s no honest peer dials them; honest peers find each other`, { timeout: 90_000 }, async (t) => {
    const tracker = trackerUrl(origin);
    // The first honest peer is up first, so a liar can claim its port.
    peers.push(await startTestPeer(origin, { peerId: HONEST[0], seed: 1 }));
    const honestPort = (peers[0] as PeerNode).port;
    await waitFor(`${HONEST[0]} reachable`, () => origin.tracker.registry.get(HONEST[0] as string)?.reachability === 'reachable', 10_000);
    for (let i = 0; i < 10; i++) {
      liars.push(await trackerClient(tracker, { peerId: `liar-counter-${i}`, url: () => `ws://127.0.0.1:${counterPort}/evil-${i}` }));
    }
    for (let i = 0; i < 5; i++) {
      liars.push(await trackerClient(tracker, { peerId: `liar-honest-port-${i}`, url: () => `ws://127.0.0.1:${honestPort}/peer` }));
    }
    await Promise.all(liars.map((l) => l.welcomed()));
    // Another host in the join is replaced by the connection's own; the path is always /peer.
    const rec = origin.tracker.registry.get('liar-counter-0');
    assert.equal(rec?.url, `ws://127.0.0.1:${counterPort}/peer`);
    for (const id of HONEST.slice(1)) peers.push(await startTestPeer(origin, { peerId: id, seed: peers.length + 1 }));
    observer = await trackerClient(tracker, { peerId: 'observer', url: () => null });
    await observer.welcomed();

    const startedAt = Date.now();
    while (Date.now() - startedAt < WATCH_MS) {
      observer.send({ type: 'get-peers', max: 100 });
      // Asking once a second over WATCH_MS, as a peer would.
      await sleep(1000);
    }

    const probes = [...probed.entries()].filter(([url]) => url.includes(`:${counterPort}/`)).reduce((n, [, v]) => n + v, 0);
    const reach = (id: string) => origin.tracker.registry.get(id)?.reachability;
    const handedOut = new Set([...observer.handedOut(), ...liars.flatMap((l) => [...l.handedOut()])]);
    const links = peers.map((p) => p.swarm.handshaken().map((n) => n.peerId).filter((id) => id !== null && HONEST.includes(id)).length);
    const p2p = peers.map((p) => p.counters.p2pBytes);
    t.diagnostic(`counter server: ${counted} connections, of which the origin's probes ${probes}; honest dials ${counted - probes}`);
    t.diagnostic(`reachability: ${liars.map((l) => `${l.peerId}=${reach(l.peerId)}`).join(' ')}; ${HONEST.map((id) => `${id}=${reach(id)}`).join(' ')}`);
    t.diagnostic(`handed out: ${[...handedOut].sort().join(', ')}; honest links ${links.join('/')}, p2p bytes ${p2p.join('/')}`);

    assert.ok(probes <= 10, `${probes} probes for 10 joins`);
    assert.equal(counted - probes, 0, 'an honest peer dialled the counting server');
    for (const l of liars) assert.equal(reach(l.peerId), 'unreachable', l.peerId);
    for (const id of handedOut) assert.ok(HONEST.includes(id), `${id} was handed out`);
    for (const id of HONEST) assert.equal(reach(id), 'reachable', id);
    assert.deepEqual([...observer.handedOut()].sort(), HONEST, 'every honest peer is handed out');
    assert.ok(links.every((n) => n >= 1), `honest links ${links}`);
    await waitFor('bytes from peers', () => peers.some((p) => p.counters.p2pBytes > 0), 15_000);
    // Still full members: liars got the welcome and every announcement since.
    for (const l of liars) assert.ok(l.received.filter((m) => m.type === 'segment').length >= 10, `${l.peerId} missed announcements`);
  });
});
