import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import { ManualClock } from '../../shared/clock.ts';
import { WsTrackerEdge } from '../../origin/ws-tracker-edge.ts';

/**
 * The tracker's heartbeat over real WebSockets: a quiet connection is pinged
 * at every beat (its pong is how the tracker sees it alive), one that sent a
 * message since the last beat has been seen already and is not.
 */
describe('tracker heartbeat', () => {
  const clock = new ManualClock(0);
  const edge = new WsTrackerEdge(clock, 1000, pino({ level: 'silent' }));
  const alive = new Map<number, number>();
  let server: Server;
  let url = '';
  let n = 0;

  before(async () => {
    server = createServer();
    server.on('upgrade', (req, socket, head) =>
      edge.handleUpgrade(req, socket, head, () => {
        const id = n++;
        return { onMessage: () => undefined, onAlive: () => alive.set(id, (alive.get(id) ?? 0) + 1), onClose: () => undefined };
      }),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await edge.close();
    server.close();
  });

  /** Lets frames cross loopback both ways. */
  const settle = () => sleep(100);

  test('pings the quiet, not those heard from since the last beat', async () => {
    const open = async () => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.on('error', () => undefined);
      await once(ws, 'open');
      let pings = 0;
      ws.on('ping', () => pings++);
      return { ws, pings: () => pings };
    };
    const talker = await open();
    const quiet = await open();
    try {
      for (let beat = 1; beat <= 3; beat++) {
        talker.ws.send('{"type":"leave"}');
        await settle();
        clock.advance(1000);
        await settle();
        assert.equal(quiet.pings(), beat, `the quiet one is pinged at beat ${beat}`);
        assert.equal(talker.pings(), 0, `the talker was heard from before beat ${beat}`);
      }
      // Silent since the last beat: pinged at this one, and its pong is seen.
      clock.advance(1000);
      await settle();
      assert.equal(talker.pings(), 1, 'the talker, silent for a beat, is pinged');
      assert.equal(alive.get(0), 1, "the talker's pong was seen");
      assert.equal(alive.get(1), 4, "each of the quiet one's pongs was seen");
    } finally {
      talker.ws.terminate();
      quiet.ws.terminate();
    }
  });
});
