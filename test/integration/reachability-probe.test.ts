/**
 * The connect-back probe over real sockets: it passes only the peer that
 * joined, closes with 1000 when it does, and gives up on silence, a frame too
 * large, another peer, a refusal or nothing listening.
 */
import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { createReachabilityProbe } from '../../origin/reachability-probe.ts';
import { systemClock } from '../../shared/clock.ts';
import { PROBE_TIMEOUT_MS, PROTOCOL_VERSION } from '../../shared/limits.ts';
import { refuseUpgrade } from '../../shared/refuse-upgrade.ts';
import { encodeWire } from '../../shared/wire-protocol.ts';
import { waitFor } from '../helpers/wait.ts';

const probe = createReachabilityProbe({ clock: systemClock, streamId: 'live' });
const servers: Server[] = [];

/** A /peer listener that does `onOpen` with each socket and records how it closed. */
async function listener(onOpen: (ws: WebSocket) => void, refuse = false): Promise<{ url: string; closes: number[] }> {
  const closes: number[] = [];
  const wss = new WebSocketServer({ noServer: true });
  const server = createServer();
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => undefined);
    if (refuse) return refuseUpgrade(socket, 'full');
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => undefined);
      ws.on('close', (code) => closes.push(code));
      onOpen(ws);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/peer`, closes };
}

const handshake = (peerId: string) => encodeWire({ type: 'handshake', version: PROTOCOL_VERSION, streamId: 'live', peerId });
const signal = () => new AbortController().signal;

describe('reachability probe', () => {
  after(() => {
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
  });

  test('the peer that joined: reachable, and the probe closes with 1000', async () => {
    const l = await listener((ws) => ws.send(handshake('alice')));
    assert.deepEqual(await probe(l.url, 'alice', signal()), { ok: true });
    await waitFor('the probe to close its connection', () => l.closes.length > 0, 2000, 10);
    assert.deepEqual(l.closes, [1000]);
  });

  test('another peer at that address', async () => {
    const l = await listener((ws) => ws.send(handshake('bob')));
    const r = await probe(l.url, 'alice', signal());
    assert.equal(r.ok || r.code, 'PROBE_WRONG_PEER');
  });

  test(`silence: given up after ${PROBE_TIMEOUT_MS} ms`, async () => {
    const l = await listener(() => undefined);
    const t0 = Date.now();
    const r = await probe(l.url, 'alice', signal());
    const took = Date.now() - t0;
    assert.equal(r.ok || r.code, 'PROBE_TIMEOUT');
    assert.ok(took >= PROBE_TIMEOUT_MS - 50 && took < PROBE_TIMEOUT_MS + 1000, `${took} ms`);
  });

  test('a first frame of 1 MiB is not read', async () => {
    const l = await listener((ws) => ws.send(new Uint8Array(1024 * 1024)));
    const r = await probe(l.url, 'alice', signal());
    assert.ok(!r.ok && r.code === 'PROBE_UNREACHABLE' && /max payload/i.test(r.message), JSON.stringify(r));
  });

  test('refused with 503, nothing listening, an abandoned probe: not reachable, never a throw', async () => {
    const refusing = await listener(() => undefined, true);
    const r1 = await probe(refusing.url, 'alice', signal());
    assert.equal(r1.ok || r1.code, 'PROBE_UNREACHABLE');
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    await new Promise((r) => server.close(r));
    const r2 = await probe(`ws://127.0.0.1:${port}/peer`, 'alice', signal());
    assert.equal(r2.ok || r2.code, 'PROBE_UNREACHABLE');
    const silent = await listener(() => undefined);
    const abort = new AbortController();
    const pending = probe(silent.url, 'alice', abort.signal);
    setTimeout(() => abort.abort(), 100);
    const t0 = Date.now();
    assert.equal((await pending).ok, false);
    assert.ok(Date.now() - t0 < 1000, 'an abandoned probe ends at once');
  });
});
