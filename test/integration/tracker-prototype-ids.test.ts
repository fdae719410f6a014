/**
 * Remote strings never reach an object's prototype on the tracker side. Ids
 * that name Object.prototype members are valid ids ([A-Za-z0-9_-]{1,64}) and
 * the tracker keeps every peer-keyed thing in a Map, so they are handled like
 * any other id: they join, are probed, listed, handed out, credited, shown on
 * the dashboard, refused when taken, and forgotten when they leave.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DashboardSnapshot } from '../../origin/dashboard/api.ts';
import type { Origin } from '../../origin/origin.ts';
import { PROTOCOL_VERSION } from '../../shared/limits.ts';
import type { PeerStats } from '../../shared/tracker-protocol.ts';
import { closedWithin, rawClient } from '../helpers/hostile-peer.ts';
import { startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { trackerUrl } from '../helpers/swarm.ts';
import { type TestTrackerClient, ZERO_REPORT, trackerClient } from '../helpers/tracker-client.ts';
import { waitFor } from '../helpers/wait.ts';

const IDS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', '__defineGetter__'];

describe('peer ids named like Object.prototype members are ordinary ids', () => {
  let origin: Origin;
  const clients: TestTrackerClient[] = [];

  before(async () => {
    origin = await startTestOrigin();
    await waitForSegments(origin, 2);
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await origin?.close();
  });

  test('join, probe, get-peers, announce, dashboard, id taken, leave', { timeout: 60_000 }, async () => {
    const tracker = trackerUrl(origin);
    for (const id of IDS) clients.push(await trackerClient(tracker, { peerId: id, answerAs: id, url: (port) => `ws://127.0.0.1:${port}/peer` }));
    await Promise.all(clients.map((c) => c.welcomed()));
    await waitFor('every id probed reachable', () => IDS.every((id) => origin.tracker.registry.get(id)?.reachability === 'reachable'), 10_000);
    assert.equal(origin.tracker.registry.size, IDS.length);
    assert.equal(origin.tracker.registry.reachableCount, IDS.length);

    // Joined together, each was welcomed before the others were probed: it is told of them as their probes pass.
    await waitFor('each told of every other unasked', () => clients.every((c) => c.handedOut().size === IDS.length - 1), 5000);
    for (const c of clients) assert.deepEqual([...c.handedOut()].sort(), IDS.filter((id) => id !== c.peerId).sort(), c.peerId);

    // get-peers: each is handed every other, at its own address.
    const marks = clients.map((c) => c.received.length);
    for (const c of clients) c.send({ type: 'get-peers', max: 100 });
    await waitFor('peers answers', () => clients.every((c, i) => c.received.slice(marks[i]).some((m) => m.type === 'peers')), 5000);
    for (const [i, c] of clients.entries()) {
      const answer = c.received.slice(marks[i]).find((m) => m.type === 'peers');
      assert.ok(answer?.type === 'peers');
      assert.deepEqual(answer.peers.map((p) => p.peerId).sort(), IDS.filter((id) => id !== c.peerId).sort(), `${c.peerId} was handed`);
      for (const p of answer.peers) assert.equal(p.url, `ws://127.0.0.1:${clients.find((x) => x.peerId === p.peerId)?.port}/peer`);
    }

    // announce: credited to the right record, shown on the dashboard.
    clients.forEach((c, i) => c.send({ type: 'announce', stats: { ...ZERO_REPORT, p2pBytes: 1000 * (i + 1), stalls: 1, neighbours: i } satisfies PeerStats }));
    await waitFor('announces credited', () => clients.every((c, i) => origin.tracker.registry.get(c.peerId)?.stats.p2pBytes === 1000 * (i + 1)), 5000);
    const snap = (await (await fetch(`${origin.url}/api/dashboard`)).json()) as DashboardSnapshot;
    assert.equal(snap.peerCount, IDS.length);
    assert.equal(snap.reachablePeers, IDS.length);
    for (const [i, id] of IDS.entries()) {
      const row = snap.peers.find((p) => p.peerId === id);
      assert.ok(row, `${id} missing from the dashboard`);
      assert.deepEqual([row.p2pBytes, row.stalls, row.neighbours, row.reachability], [1000 * (i + 1), 1, i, 'reachable'], id);
    }

    // Taken ids are refused like any other.
    const squatter = rawClient(tracker);
    assert.equal(await squatter.opened, true);
    squatter.ws.send(JSON.stringify({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId: '__proto__', url: null, uploadKbps: 0 }));
    const closed = await closedWithin(squatter, 5000);
    assert.equal(closed?.code, 1008);
    assert.match(closed?.reason ?? '', /^PEER_ID_TAKEN: /);

    // Leaving: forgotten, no longer handed out.
    const proto = clients.find((c) => c.peerId === '__proto__') as TestTrackerClient;
    proto.send({ type: 'leave' });
    await waitFor('__proto__ gone', () => !origin.tracker.registry.has('__proto__'), 5000);
    const asker = clients.find((c) => c.peerId === 'constructor') as TestTrackerClient;
    const before = asker.received.length;
    asker.send({ type: 'get-peers', max: 100 });
    await waitFor('another peers answer', () => asker.received.slice(before).some((m) => m.type === 'peers'));
    const again = asker.received.slice(before).find((m) => m.type === 'peers');
    assert.ok(again?.type === 'peers');
    assert.deepEqual(again.peers.map((p) => p.peerId).sort(), IDS.filter((id) => id !== '__proto__' && id !== 'constructor').sort());
    assert.equal(origin.tracker.registry.reachableCount, IDS.length - 1);

    // Nothing reached a prototype.
    assert.equal(Object.getPrototypeOf({}), Object.prototype);
    for (const key of ['peerId', 'url', 'stats', 'reachability']) assert.equal(key in Object.prototype, false, key);
    assert.equal(typeof Object.prototype.toString, 'function');
    assert.equal((await fetch(`${origin.url}/healthz`)).status, 200);
  });
});
