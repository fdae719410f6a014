/**
 * Idle and withholding neighbours lose their place. A node under attack by
 * sybils (handshaken connections that then say nothing at all, from one
 * address and from many) still finds and uses honest neighbours, and the
 * sybils are gone within its idle bound; a neighbour that claims every piece
 * and answers no request is cut off after repeated timeouts. Attackers dial
 * from addresses of their own in 127.0.0.0/8, honest nodes from 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Origin } from '../../origin/origin.ts';
import type { PeerNode } from '../../peer-node/node.ts';
import { PlaybackModel } from '../../harness/playback-model.ts';
import type { SegmentAnnouncement } from '../../shared/segment.ts';
import { bitsetBytes, decodeWire, encodeWire } from '../../shared/wire-protocol.ts';
import { type Closed, type RawClient, closedWithin, handshakeFrame, rawClient } from '../helpers/hostile-peer.ts';
import { startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { originSha, startTestPeer } from '../helpers/swarm.ts';
import { waitFor } from '../helpers/wait.ts';

const IDLE_MS = 4000;
const PER_ADDRESS = 4;
const SYBILS = 30;
/** The swarm's tick runs every 100 ms; a loaded machine may run it late. */
const SLACK_MS = 2500;

const bitfieldAccepted = (c: RawClient) => c.frames.some((f) => f.data[0] === 1);
/** The node has decided on it: let in (its bitfield came) or turned away (closed, or refused at the upgrade). */
const settled = (c: RawClient) => bitfieldAccepted(c) || !c.isOpen();

describe('idle and withholding neighbours', () => {
  let origin: Origin;
  let victim: PeerNode;
  const honest: PeerNode[] = [];
  const clients: RawClient[] = [];
  let victimWs = '';

  /** Connects and handshakes, then never sends another byte. */
  async function sybil(id: string, address: string): Promise<RawClient> {
    const c = rawClient(victimWs, { localAddress: address });
    clients.push(c);
    if (await c.opened) c.ws.send(handshakeFrame(id));
    return c;
  }

  before(async () => {
    origin = await startTestOrigin();
    await waitForSegments(origin, 2);
    victim = await startTestPeer(origin, { peerId: 'victim', seed: 7, neighbourIdleMs: IDLE_MS, maxNeighboursPerAddress: PER_ADDRESS });
    victimWs = `${victim.url.replace(/^http/, 'ws')}/peer`;
  });

  after(async () => {
    for (const c of clients) c.ws.terminate();
    await Promise.all(honest.map((p) => p.close()));
    await victim?.close();
    await origin?.close();
  });

  test(`${SYBILS} idle sybils from one address and ${SYBILS} from as many cannot keep the node from honest neighbours, and are gone within the idle bound`, async (t) => {
    const oneAddress: RawClient[] = [];
    // In batches, as the node holds few connections awaiting a handshake from one address.
    for (let i = 0; i < SYBILS; i += 5) {
      const batch = await Promise.all(Array.from({ length: 5 }, (_, k) => sybil(`sybil-a-${i + k}`, '127.0.8.1')));
      oneAddress.push(...batch);
      await waitFor('the batch answered or closed', () => batch.every(settled), 5000, 10);
    }
    const manyAddresses = await Promise.all(Array.from({ length: SYBILS }, (_, i) => sybil(`sybil-b-${i}`, `127.0.9.${i + 1}`)));
    await waitFor('every sybil answered or closed', () => manyAddresses.every(settled), 5000, 10);
    const inFromOne = oneAddress.filter(bitfieldAccepted);
    const inFromMany = manyAddresses.filter(bitfieldAccepted);
    const sybilsAcceptedAt = Date.now();
    t.diagnostic(`accepted: ${inFromOne.length}/${SYBILS} from one address, ${inFromMany.length}/${SYBILS} from ${SYBILS} addresses; the node has ${victim.swarm.size} neighbours`);
    assert.ok(inFromOne.length >= 1 && inFromOne.length <= PER_ADDRESS, `${inFromOne.length} sybils from one address got in`);
    assert.ok(inFromMany.length >= 1, 'no sybil from many addresses got in: the test did not fill the node');

    // Honest nodes join now, with the sybils holding every inbound slot they could take.
    const sha = originSha(origin);
    for (let i = 0; i < 3; i++) honest.push(await startTestPeer(origin, { peerId: `honest-${i}`, seed: i + 1, uploadKbps: 3000, latencyMs: 10 }));
    const model = PlaybackModel.forPeer(victim.url, sha);
    model.start();
    try {
      const honestIds = new Set(honest.map((p) => p.peerId));
      await waitFor('the node to trade with two honest neighbours', () => victim.swarm.handshaken().filter((n) => honestIds.has(n.peerId ?? '')).length >= 2, 15_000);
      const p2pBefore = victim.counters.p2pBytes;
      await waitFor('pieces from honest neighbours', () => victim.counters.p2pBytes > p2pBefore + 100_000, 15_000);

      const closes = await Promise.all([...inFromOne, ...inFromMany].map((c) => closedWithin(c, Math.max(0, sybilsAcceptedAt + IDLE_MS + SLACK_MS - Date.now()))));
      const open = closes.filter((c) => c === null).length;
      const idleCloses = closes.filter((c): c is Closed => c !== null && c.reason.startsWith('idle'));
      const lastMs = Math.max(...idleCloses.map((c) => c.atMs - sybilsAcceptedAt));
      t.diagnostic(`${idleCloses.length} sybils closed as idle, the last ${lastMs} ms after they got in (bound ${IDLE_MS} ms); ${open} still open`);
      assert.equal(open, 0, `${open} idle sybils still connected after ${IDLE_MS + SLACK_MS} ms`);
      assert.equal(idleCloses.length, inFromOne.length + inFromMany.length, 'a sybil was closed for another reason');
      const result = model.current();
      t.diagnostic(`victim player: ${result.segmentsOnTime}/${result.segmentsDue} on time, corrupt ${result.corrupt}`);
      assert.equal(result.corrupt, 0);
      assert.ok(result.segmentsDue >= 3, 'the victim never started playing');
    } finally {
      await model.close();
    }
  });

  test('a neighbour that claims every piece and answers no request is cut off after repeated timeouts', async (t) => {
    const c = rawClient(victimWs, { localAddress: '127.0.10.1' });
    clients.push(c);
    assert.equal(await c.opened, true);
    let requests = 0;
    c.ws.on('message', (data: Buffer) => {
      const m = decodeWire(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      if (m.ok && m.value.type === 'request') requests++;
    });
    const claimed = new Set<number>();
    const claim = (segments: readonly SegmentAnnouncement[]) => {
      const fresh = segments.filter((s) => !claimed.has(s.seq));
      for (const s of fresh) claimed.add(s.seq);
      if (fresh.length > 0) c.ws.send(encodeWire({ type: 'have', pieces: fresh.flatMap((s) => s.pieceHashes.map((_, piece) => ({ seq: s.seq, piece }))) }));
    };
    const startedAt = Date.now();
    c.ws.send(handshakeFrame('withholder'));
    const window = origin.window.announcements();
    c.ws.send(encodeWire({ type: 'bitfield', segments: window.map((s) => ({ seq: s.seq, pieceCount: s.pieceHashes.length, bits: new Uint8Array(bitsetBytes(s.pieceHashes.length)).fill(0xff) })) }));
    for (const s of window) claimed.add(s.seq);
    c.ws.send(encodeWire({ type: 'unchoke' }));
    // It keeps the link alive and keeps claiming each new segment the moment the origin has it.
    const liar = setInterval(() => {
      if (!c.isOpen()) return;
      claim(origin.window.announcements());
      c.ws.send(encodeWire({ type: 'keep-alive' }));
    }, 200);
    const closed = await closedWithin(c, 45_000);
    clearInterval(liar);
    t.diagnostic(`the withholder got ${requests} requests and was closed after ${closed ? closed.atMs - startedAt : 'never'} ms: ${closed?.code} ${closed?.reason}`);
    assert.ok(requests > 0, 'the node never asked the withholder for a piece: the test proves nothing');
    assert.ok(closed !== null, 'the withholder was never cut off');
    assert.match(closed.reason, /requests in a row not answered/);
    assert.equal(victim.swarm.connectedTo('withholder'), false);
  });
});
