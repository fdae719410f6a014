/**
 * A hostile tracker cannot make peers take bytes the origin did not publish.
 * A relay sits between the origin's tracker and three peer nodes and passes
 * everything on, but after each genuine announcement it sends one of its own
 * for the same segment (right format, hashes of bytes it made up, a signature
 * that is not the origin's) and seeds the made-up bytes; its welcomes carry
 * such forgeries too. A peer that believed one would drop the genuine record
 * for that number and play the relay's bytes. Every peer refuses every
 * forgery, says so in its log and its metrics, and plays the origin's stream.
 * A peer started with --origin-key of another key refuses the origin's own.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket, WebSocketServer } from 'ws';
import { PlaybackModel } from '../../harness/playback-model.ts';
import type { Origin } from '../../origin/origin.ts';
import { peerConfig } from '../../peer-node/config.ts';
import { type PeerNode, createPeerNode } from '../../peer-node/node.ts';
import { generateSigner } from '../../shared/announcement-signature.ts';
import { hashPieces, sha256Hex } from '../../shared/hashing.ts';
import { pieceRange } from '../../shared/segment.ts';
import { type SignedAnnouncement, decodeTrackerToPeer, encodeSegmentRecord, encodeTrackerToPeer } from '../../shared/tracker-protocol.ts';
import { capturingLog, startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { originSha, trackerUrl } from '../helpers/swarm.ts';
import { waitFor } from '../helpers/wait.ts';

const PLAY_MS = 15_000;
const INVALID = 'announcement signature invalid';

/**
 * Forges an announcement of `genuine`'s segment number and size, for bytes of
 * its own: every other one signed by a key of its own (a valid signature, of
 * the wrong key), the rest with 64 random bytes as the signature.
 */
function forge(genuine: SignedAnnouncement, pieceSize: number, n: number): { announcement: SignedAnnouncement; data: Buffer } {
  const data = randomBytes(genuine.segment.size);
  const segment = { ...genuine.segment, sha256: sha256Hex(data), pieceHashes: hashPieces(data, pieceSize) };
  const announcement = n % 2 === 0 ? impostor.sign(segment) : { segment, record: encodeSegmentRecord(segment), signature: new Uint8Array(randomBytes(64)) };
  return { announcement, data };
}
const impostor = generateSigner();

/** A tracker in the middle: relays both ways, and adds forgeries on the way to the peers. */
class LyingRelay {
  private readonly server: Server = createServer((_req, res) => res.writeHead(404).end());
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  private readonly sockets = new Set<WebSocket>();
  /** Forged announcements sent, by the peer id each connection joined with. */
  readonly forged = new Map<string, number>();
  forging = true;
  port = 0;

  constructor(private readonly upstream: string) {
    this.server.on('upgrade', (req, socket, head) => {
      socket.on('error', () => socket.destroy());
      this.wss.handleUpgrade(req, socket, head, (down) => this.relay(down));
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/tracker`;
  }

  private relay(down: WebSocket): void {
    const up = new WebSocket(this.upstream, { perMessageDeflate: false });
    for (const s of [up, down]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        up.close();
        down.close();
      });
    }
    let peerId = '';
    let pieceSize = 0;
    const pending: string[] = [];
    up.on('open', () => pending.splice(0).forEach((m) => up.send(m)));
    down.on('message', (data) => {
      const text = String(data);
      const m = JSON.parse(text) as { type: string; peerId?: string };
      if (m.type === 'join') peerId = m.peerId as string;
      if (up.readyState === WebSocket.OPEN) up.send(text);
      else pending.push(text);
    });
    const lie = (genuine: SignedAnnouncement) => {
      const n = this.forged.get(peerId) ?? 0;
      this.forged.set(peerId, n + 1);
      const { announcement, data } = forge(genuine, pieceSize, n);
      down.send(encodeTrackerToPeer({ type: 'segment', announcement }));
      genuine.segment.pieceHashes.forEach((_, piece) => {
        const { start, end } = pieceRange(data.byteLength, pieceSize, piece);
        down.send(encodeTrackerToPeer({ type: 'seed', seq: genuine.segment.seq, piece, data: data.subarray(start, end) }));
      });
    };
    up.on('message', (data, isBinary) => {
      const frame = isBinary ? new Uint8Array(data as Buffer) : String(data);
      const d = decodeTrackerToPeer(frame);
      if (!d.ok || !this.forging) return down.send(frame);
      const m = d.value;
      if (m.type === 'welcome') {
        pieceSize = m.pieceSize;
        // The origin's window, its records untouched, then forgeries of its last two segments.
        const fakes = m.segments.slice(-2).map((a, i) => forge(a, pieceSize, i).announcement);
        this.forged.set(peerId, (this.forged.get(peerId) ?? 0) + fakes.length);
        down.send(encodeTrackerToPeer({ ...m, segments: [...m.segments, ...fakes] }));
        return;
      }
      down.send(frame);
      if (m.type === 'segment') lie(m.announcement);
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface Viewer {
  node: PeerNode;
  entries: () => Record<string, unknown>[];
  player: PlaybackModel | null;
}

async function startPeer(tracker: string, origin: Origin, peerId: string, originKey: string | null): Promise<Viewer> {
  const { log, entries } = capturingLog('warn');
  const node = createPeerNode(peerConfig({ tracker, edge: origin.url, port: 0, maxNeighboursPerAddress: 0, peerId, seed: peerId.length, originKey }), { log });
  await node.start();
  return { node, entries, player: null };
}

const metric = async (v: Viewer, name: string) => {
  const text = await (await fetch(`${v.node.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
};

describe('forged announcements', () => {
  let origin: Origin;
  let relay: LyingRelay;
  const viewers: Viewer[] = [];

  before(async () => {
    origin = await startTestOrigin();
    await waitForSegments(origin, 3);
    relay = new LyingRelay(trackerUrl(origin));
    await relay.start();
  });

  after(async () => {
    await Promise.all(viewers.map((v) => v.player?.close()));
    await Promise.all(viewers.map((v) => v.node.close()));
    await relay?.close();
    await origin?.close();
  });

  test('injected through a tracker: refused by every peer, which says why, while the genuine stream plays on', { timeout: 60_000 }, async (t) => {
    const sha = originSha(origin);
    // One is given the key, the others pin the welcome's: the relay passes the origin's key on, as a tracker would.
    for (const [i, id] of ['alpha', 'beta', 'gamma'].entries()) viewers.push(await startPeer(relay.url, origin, id, i === 0 ? origin.originKey : null));
    for (const v of viewers) {
      v.player = PlaybackModel.forPeer(v.node.url, sha);
      v.player.start();
    }
    await sleep(PLAY_MS);
    // Forgeries still on the wire would land after the counts are read.
    relay.forging = false;
    await sleep(500);

    const results = await Promise.all(viewers.map((v) => (v.player as PlaybackModel).close()));
    for (const [i, v] of viewers.entries()) {
      const id = v.node.peerId;
      const forged = relay.forged.get(id) ?? 0;
      const said = v.entries().filter((e) => e.msg === INVALID);
      const r = results[i];
      assert.ok(r);
      t.diagnostic(`${id}: ${forged} forgeries sent, ${v.node.counters.badAnnouncements} refused, ${said.length} warnings; played ${r.segmentsOnTime}/${r.segmentsDue} on time, ${r.corrupt} corrupt`);
      assert.ok(forged >= 10, `${id}: only ${forged} forgeries`);
      assert.equal(v.node.counters.badAnnouncements, forged, `${id} refused every forgery`);
      assert.equal(await metric(v, 'peer_announcement_signature_failures_total'), forged);
      assert.equal(said.length, forged, `${id} says why for each`);
      assert.ok(said.every((e) => typeof e.seq === 'number' && e.reason === 'not signed by the pinned origin key'));
      assert.equal(r.corrupt, 0, `${id} played bytes the origin did not publish`);
      assert.equal(r.failed, 0, `${id} was refused segments`);
      assert.ok(r.segmentsDue >= 8, `${id} played only ${r.segmentsDue} segments`);
      assert.ok(r.segmentsOnTime / r.segmentsDue >= 0.9, `${id} continuity ${r.segmentsOnTime}/${r.segmentsDue}`);
      // What it holds is what the origin published, number for number.
      for (const e of v.node.store.all()) {
        const expected = sha(e.info.seq);
        if (expected !== null) assert.equal(e.info.sha256, expected, `${id} holds a forged record for ${e.info.seq}`);
      }
    }
  });

  test('a peer given --origin-key of another key refuses the origin itself', { timeout: 30_000 }, async () => {
    // Every segment of the window now, and each published from now on, reaches it in its welcome or pushed.
    const inWindow = origin.window.size;
    const published = origin.window.published;
    const v = await startPeer(trackerUrl(origin), origin, 'pinned-elsewhere', generateSigner().publicKeyBase64);
    viewers.push(v);
    await waitForSegments(origin, published + 3);
    await waitFor('the window and three pushed announcements refused', () => v.node.counters.badAnnouncements >= inWindow + 3, 5000);
    assert.equal(v.node.store.size, 0, 'it knows no segment');
    assert.equal(v.node.counters.originBytes + v.node.counters.p2pBytes, 0, 'nor takes a byte');
    const refused = v.entries().filter((e) => typeof e.msg === 'string' && e.msg.startsWith('origin key in the welcome differs from the pinned key'));
    assert.equal(refused.length, 1);
    assert.equal(refused[0]?.offered, origin.originKey);
    assert.ok(v.entries().filter((e) => e.msg === INVALID).length >= 3);
    // The key it should have been given: what the origin serves for operators to hand out.
    const health = (await (await fetch(`${origin.url}/healthz`)).json()) as { originKey: string };
    assert.equal(health.originKey, origin.originKey);
  });
});
