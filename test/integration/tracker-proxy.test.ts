/**
 * Behind a reverse proxy (--trust-proxy-header x-forwarded-for) the tracker
 * takes a client's address from the last entry of that header, for listing
 * and for the unjoined caps; without the flag the header is ignored.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import type { Origin } from '../../origin/origin.ts';
import { MAX_UNJOINED_TRACKER_CONNECTIONS_PER_ADDRESS, PROTOCOL_VERSION } from '../../shared/limits.ts';
import { encodePeerToTracker } from '../../shared/tracker-protocol.ts';
import { startTestOrigin } from '../helpers/origin.ts';
import { trackerUrl } from '../helpers/swarm.ts';
import { waitFor } from '../helpers/wait.ts';

/** Opens a tracker socket with `forwarded` as X-Forwarded-For; resolves true once open, false if refused. */
function connect(url: string, forwarded: string, sockets: WebSocket[]): Promise<boolean> {
  const ws = new WebSocket(url, { headers: { 'x-forwarded-for': forwarded } });
  sockets.push(ws);
  return new Promise((resolve) => {
    ws.once('open', () => resolve(true));
    ws.on('error', () => resolve(false));
  });
}

describe('the tracker behind a trusted proxy header', () => {
  const origins: Origin[] = [];
  const sockets: WebSocket[] = [];

  after(async () => {
    for (const ws of sockets) ws.terminate();
    await Promise.all(origins.map((o) => o.close()));
  });

  test('the listed host is the last X-Forwarded-For entry; caps count by it', { timeout: 60_000 }, async () => {
    const origin = await startTestOrigin({ trustProxyHeader: 'x-forwarded-for' });
    origins.push(origin);
    const url = trackerUrl(origin);
    const joins: [string, string][] = [['spoofed-first', '6.6.6.6, 198.51.100.7'], ['single', '203.0.113.5']];
    for (const [peerId, forwarded] of joins) {
      assert.equal(await connect(url, forwarded, sockets), true);
      (sockets.at(-1) as WebSocket).send(encodePeerToTracker({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId, url: 'ws://evil.example:4321/x', uploadKbps: 0 }));
    }
    await waitFor('both joined', () => joins.every(([id]) => origin.tracker.registry.has(id)), 5000);
    assert.equal(origin.tracker.registry.get('spoofed-first')?.url, 'ws://198.51.100.7:4321/peer');
    assert.equal(origin.tracker.registry.get('single')?.url, 'ws://203.0.113.5:4321/peer');

    // The cap is per forwarded address: one address is refused past it, another still gets in.
    const opened = await Promise.all(Array.from({ length: MAX_UNJOINED_TRACKER_CONNECTIONS_PER_ADDRESS + 5 }, () => connect(url, '192.0.2.1', sockets)));
    assert.equal(opened.filter(Boolean).length, MAX_UNJOINED_TRACKER_CONNECTIONS_PER_ADDRESS);
    assert.equal(await connect(url, '192.0.2.2', sockets), true);
  });

  test('without the flag the header is ignored', { timeout: 60_000 }, async () => {
    const origin = await startTestOrigin();
    origins.push(origin);
    assert.equal(await connect(trackerUrl(origin), '198.51.100.7', sockets), true);
    (sockets.at(-1) as WebSocket).send(encodePeerToTracker({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'direct', url: 'ws://evil.example:4321/x', uploadKbps: 0 }));
    await waitFor('joined', () => origin.tracker.registry.has('direct'), 5000);
    assert.equal(origin.tracker.registry.get('direct')?.url, 'ws://127.0.0.1:4321/peer');
  });
});
