import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { memoryTrackerConnect } from '../../harness/memory-tracker.ts';
import { originConfig } from '../../origin/config.ts';
import { Egress } from '../../origin/egress.ts';
import { UPLOAD_PROOF_MS } from '../../origin/egress-class.ts';
import { LiveWindow, type StoredSegment } from '../../origin/live-window.ts';
import { generateSigner, verifyAnnouncement } from '../../shared/announcement-signature.ts';
import { createOriginMetrics } from '../../origin/metrics.ts';
import { OriginSeeding } from '../../origin/seeding.ts';
import type { TrackerConn } from '../../origin/tracker-conn.ts';
import { TrackerServer } from '../../origin/tracker-server.ts';
import { newCounters } from '../../peer-node/swarm-counters.ts';
import { TrackerClient } from '../../peer-node/tracker-client.ts';
import type { TrackerConnect, TrackerSocket } from '../../peer-node/tracker-socket.ts';
import { ManualClock } from '../../shared/clock.ts';
import { FETCH_TOKEN_PATTERN } from '../../shared/fetch-token.ts';
import { MAX_UNJOINED_TRACKER_CONNECTIONS_PER_ADDRESS, PROTOCOL_VERSION, TRACKER_JOIN_TIMEOUT_MS } from '../../shared/limits.ts';
import { seededRng } from '../../shared/rng.ts';
import { type PeerToTracker, type TrackerToPeer, decodeTrackerToPeer, encodePeerToTracker } from '../../shared/tracker-protocol.ts';

/**
 * The real TrackerServer and real TrackerClients over in-memory connections
 * on a manual clock: joins, announcements, refusals, reconnects and seeding
 * run in virtual time, with no socket and no sleep.
 */

const START_MS = 1_000_000;
const LATENCY_MS = 20;
const PIECE = 16 * 1024;
const URL = 'ws://origin.test/tracker';
const silent = pino({ level: 'silent' });
const ZERO_STATS = { p2pBytes: 0, originBytes: 0, uploadedBytes: 0, stalls: 0, stallMs: 0, neighbours: 0, hashFailures: 0 };

/** What one TrackerClient was told. */
interface Peer {
  id: string;
  client: TrackerClient;
  welcomes: Extract<TrackerToPeer, { type: 'welcome' }>[];
  segments: number[];
  peers: string[];
  seeds: { seq: number; piece: number; data: Uint8Array }[];
}

/** A raw connection, as a hostile or broken client would hold it. */
interface Raw {
  socket: TrackerSocket;
  opened: boolean;
  received: TrackerToPeer[];
  /** How each message came: `text welcome`, `binary segment`, … */
  framing: string[];
  closed: { code: number; reason: string } | null;
  send(msg: PeerToTracker): void;
}

class Rig {
  readonly clock = new ManualClock(START_MS);
  readonly signer = generateSigner();
  readonly window = new LiveWindow(10, PIECE, this.signer);
  readonly left: string[] = [];
  readonly tracker: TrackerServer;
  readonly seeding: OriginSeeding;

  constructor() {
    const config = originConfig({ pieceSize: PIECE, peersPerList: 4, announceIntervalMs: 1000, peerTimeoutMs: 5000, seedCopies: 1 });
    this.tracker = new TrackerServer({
      config,
      clock: this.clock,
      rng: seededRng(1),
      log: silent,
      metrics: createOriginMetrics(),
      window: () => this.window.signedAnnouncements(),
      originKey: this.signer.publicKeyBase64,
      probe: async () => ({ ok: true }),
      onPeerLeft: (peerId) => {
        this.left.push(peerId);
        this.seeding.reseed(peerId);
      },
    });
    const egress = new Egress(0, this.clock, () => Number.POSITIVE_INFINITY);
    this.seeding = new OriginSeeding({ config, window: this.window, tracker: this.tracker, egress, clock: this.clock, countEgress: () => {} });
    this.tracker.start();
  }

  connect(address: string): TrackerConnect {
    return memoryTrackerConnect(this.clock, LATENCY_MS, this.tracker, address);
  }

  /** A TrackerClient that announces its stats as a peer node does, from `address`. */
  peer(id: string, address = '10.0.0.1', connect = this.connect(address)): Peer {
    const p: Peer = { id, client: undefined as unknown as TrackerClient, welcomes: [], segments: [], peers: [], seeds: [] };
    let announcing: { cancel(): void } | null = null;
    p.client = new TrackerClient({
      url: URL,
      connect,
      clock: this.clock,
      log: silent,
      counters: newCounters(),
      joinMessage: () => ({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId: id, url: 'ws://self:7000/peer', uploadKbps: 1000 }),
      onWelcome: (w) => {
        p.welcomes.push(w);
        p.peers.push(...w.peers.map((x) => x.peerId));
        announcing?.cancel();
        announcing = this.clock.setInterval(() => p.client.send({ type: 'announce', stats: ZERO_STATS }), w.announceIntervalMs);
      },
      onSegment: (a) => p.segments.push(a.segment.seq),
      onPartial: () => {},
      onPeers: (peers) => p.peers.push(...peers.map((x) => x.peerId)),
      onSeed: (seq, piece, data) => p.seeds.push({ seq, piece, data }),
    });
    p.client.start();
    return p;
  }

  raw(address = '10.0.0.9'): Raw {
    const r: Raw = {
      socket: undefined as unknown as TrackerSocket,
      opened: false,
      received: [],
      framing: [],
      closed: null,
      send: (msg) => r.socket.send(encodePeerToTracker(msg)),
    };
    r.socket = this.connect(address)(URL, {
      onOpen: () => void (r.opened = true),
      onMessage: (frame) => {
        const d = decodeTrackerToPeer(frame);
        if (!d.ok) return;
        r.received.push(d.value);
        r.framing.push(`${typeof frame === 'string' ? 'text' : 'binary'} ${d.value.type}`);
      },
      onClose: (code, reason) => void (r.closed = { code, reason }),
      onError: () => {},
    });
    return r;
  }

  publish(bytes: number): StoredSegment {
    const data = Buffer.alloc(bytes, this.window.published + 1);
    const stored = this.window.publish(data, 1000, false, this.clock.nowMs());
    this.tracker.announce(stored.signed);
    this.seeding.seed(stored);
    return stored;
  }

  /** Moves virtual time on in steps of one latency, letting the probes' promises settle between steps. */
  async run(ms: number): Promise<void> {
    for (let done = 0; done < ms; done += LATENCY_MS) {
      this.clock.advance(Math.min(LATENCY_MS, ms - done));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}

const joined = (r: Raw, id: string) =>
  r.send({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId: id, url: 'ws://self:7000/peer', uploadKbps: 0 });

describe('the tracker over in-memory connections', () => {
  test('a join is welcomed with the window and the listed peers, under the address it came from', async () => {
    const rig = new Rig();
    rig.publish(40_000);
    rig.publish(40_000);
    const a = rig.peer('a', '10.0.0.1');
    await rig.run(200);
    const b = rig.peer('b', '10.0.0.2');
    await rig.run(200);
    assert.equal(a.welcomes.length, 1);
    assert.deepEqual(a.welcomes[0]?.segments.map((s) => s.segment.seq), [0, 1]);
    assert.deepEqual(a.welcomes[0]?.peers, []);
    assert.deepEqual(b.welcomes[0]?.peers, [{ peerId: 'a', url: 'ws://10.0.0.1:7000/peer' }]);
    // a was welcomed with a short list, so it hears of b once b's probe passes.
    assert.deepEqual(a.peers, ['b']);
    assert.ok(a.client.joined && b.client.joined);
    assert.equal(rig.tracker.registry.size, 2);
  });

  test('a new segment reaches every joined client, one latency later', async () => {
    const rig = new Rig();
    const peers = ['a', 'b', 'c'].map((id) => rig.peer(id));
    await rig.run(200);
    rig.publish(1000);
    rig.clock.advance(LATENCY_MS - 1);
    assert.deepEqual(peers.map((p) => p.segments), [[], [], []]);
    rig.clock.advance(1);
    assert.deepEqual(peers.map((p) => p.segments), [[0], [0], [0]]);
  });

  test('the welcome crosses the line as text, each announcement and seeded piece as bytes', async () => {
    const rig = new Rig();
    const r = rig.raw();
    await rig.run(2 * LATENCY_MS);
    r.send({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'seeded', url: null, uploadKbps: 1000 });
    await rig.run(2 * LATENCY_MS);
    rig.publish(PIECE);
    await rig.run(2 * LATENCY_MS);
    assert.deepEqual(r.framing, ['text welcome', 'binary segment', 'binary seed']);
  });

  test("the origin's signed bytes reach the peer untouched, in the welcome's window and in each pushed announcement, with its key", async () => {
    const rig = new Rig();
    const early = rig.publish(PIECE * 2);
    const r = rig.raw();
    await rig.run(2 * LATENCY_MS);
    joined(r, 'checker');
    await rig.run(2 * LATENCY_MS);
    const late = rig.publish(PIECE);
    await rig.run(2 * LATENCY_MS);
    const welcome = r.received.find((m) => m.type === 'welcome');
    const pushed = r.received.find((m) => m.type === 'segment');
    assert.ok(welcome?.type === 'welcome' && pushed?.type === 'segment');
    assert.equal(welcome.originKey, rig.signer.publicKeyBase64);
    for (const [got, sent] of [
      [welcome.segments[0], early.signed],
      [pushed.announcement, late.signed],
    ] as const) {
      assert.ok(got);
      assert.deepEqual(got.record, sent.record, 'the record as the origin encoded it');
      assert.deepEqual(got.signature, sent.signature, "the origin's signature, not another");
      assert.equal(verifyAnnouncement(rig.signer.publicKey, 'main', got), true);
    }
  });

  test('each welcome carries a token of its own, and a fallback fetch is classed by the peer its token names', async () => {
    const rig = new Rig();
    const rider = rig.raw('10.0.0.1');
    const giver = rig.raw('10.0.0.2');
    await rig.run(2 * LATENCY_MS);
    joined(rider, 'rider');
    giver.send({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'giver', url: null, uploadKbps: 1000 });
    let uploaded = 0;
    // Reports keep both joined past the peer timeout, as a node's do.
    rig.clock.setInterval(() => {
      for (const r of [rider, giver]) if (!r.closed) r.send({ type: 'announce', stats: { ...ZERO_STATS, uploadedBytes: r === giver ? uploaded : 0 } });
    }, 1000);
    await rig.run(2 * LATENCY_MS);
    const tokenOf = (r: Raw) => (r.received.find((m) => m.type === 'welcome') as Extract<TrackerToPeer, { type: 'welcome' }>).fetchToken;
    const [riderToken, giverToken] = [tokenOf(rider), tokenOf(giver)];
    assert.match(riderToken, FETCH_TOKEN_PATTERN);
    assert.notEqual(riderToken, giverToken);
    const classed = (token: string | null) => {
      const c = rig.tracker.fetchClass(token);
      return `${c.cls} ${c.reason}`;
    };
    assert.equal(classed(riderToken), 'spare declared-no-upload');
    assert.equal(classed(giverToken), 'http newcomer');
    assert.equal(classed(null), 'http not-a-peer');
    assert.equal(classed('rider'), 'http not-a-peer', 'a peer id is not its token');
    await rig.run(UPLOAD_PROOF_MS);
    assert.equal(classed(giverToken), 'spare uploaded-nothing');
    uploaded = 50_000;
    await rig.run(1000);
    assert.equal(classed(giverToken), 'http uploads');
    rider.send({ type: 'leave' });
    await rig.run(4 * LATENCY_MS);
    assert.deepEqual(rig.left, ['rider']);
    assert.equal(classed(riderToken), 'http not-a-peer', 'the token of a peer that left names nobody');
  });

  test('get-peers is answered with the others', async () => {
    const rig = new Rig();
    const [a] = ['a', 'b', 'c'].map((id) => rig.peer(id));
    await rig.run(200);
    a?.peers.splice(0);
    a?.client.send({ type: 'get-peers', max: 10 });
    await rig.run(2 * LATENCY_MS);
    assert.deepEqual(a?.peers.sort(), ['b', 'c']);
  });

  test('a client flooding messages is refused RATE_LIMITED and dropped', async () => {
    const rig = new Rig();
    const r = rig.raw();
    await rig.run(2 * LATENCY_MS);
    assert.ok(r.opened);
    joined(r, 'flood');
    for (let i = 0; i < 60; i++) r.send({ type: 'get-peers', max: 1 });
    await rig.run(200);
    assert.equal(r.received.at(-1)?.type, 'error');
    assert.equal((r.received.at(-1) as { code: string }).code, 'RATE_LIMITED');
    assert.equal(r.closed?.code, 1008);
    assert.match(r.closed?.reason ?? '', /^RATE_LIMITED: /);
    assert.deepEqual(rig.left, ['flood']);
    assert.equal(rig.tracker.registry.size, 0);
  });

  test('a connection that never joins is closed after the join timeout', async () => {
    const rig = new Rig();
    const r = rig.raw();
    await rig.run(TRACKER_JOIN_TIMEOUT_MS);
    assert.equal(r.closed?.code, undefined);
    await rig.run(2 * LATENCY_MS);
    assert.equal(r.closed?.code, 1008);
    assert.match(r.closed?.reason ?? '', /^JOIN_TIMEOUT: /);
  });

  test('unjoined connections from one address are capped, and a refused one never opens', async () => {
    const rig = new Rig();
    const held = Array.from({ length: MAX_UNJOINED_TRACKER_CONNECTIONS_PER_ADDRESS }, () => rig.raw('10.0.0.7'));
    const refused = rig.raw('10.0.0.7');
    const elsewhere = rig.raw('10.0.0.8');
    await rig.run(4 * LATENCY_MS);
    assert.ok(held.every((r) => r.opened && r.closed === null));
    assert.equal(refused.opened, false);
    assert.equal(refused.closed?.code, 1013);
    assert.match(refused.closed?.reason ?? '', /^UNJOINED_LIMIT_PER_ADDRESS: /);
    assert.ok(elsewhere.opened && elsewhere.closed === null);
  });

  test('a client whose connection drops reconnects with backoff and joins again', async () => {
    const rig = new Rig();
    let down = false;
    const dials: number[] = [];
    const sockets: TrackerSocket[] = [];
    const up = rig.connect('10.0.0.1');
    const refusing = memoryTrackerConnect(rig.clock, LATENCY_MS, {
      attach: (conn) => {
        conn.close(1013, 'down');
        return null;
      },
    });
    const a = rig.peer('a', '10.0.0.1', (url, events) => {
      dials.push(rig.clock.nowMs());
      const s = (down ? refusing : up)(url, events);
      sockets.push(s);
      return s;
    });
    await rig.run(200);
    assert.equal(a.welcomes.length, 1);

    down = true;
    const droppedMs = rig.clock.nowMs();
    sockets[0]?.terminate();
    assert.equal(a.client.joined, false);
    await rig.run(LATENCY_MS);
    assert.deepEqual(rig.left, ['a'], 'the tracker hears of the drop one latency later');
    await rig.run(4000);
    down = false;
    await rig.run(5000);
    // 500 ms, then 1 s and 2 s after each refusal (which takes a round trip), then the tracker is back.
    const gaps = dials.slice(1).map((t, i) => t - (i === 0 ? droppedMs : (dials[i] as number) + 2 * LATENCY_MS));
    assert.deepEqual(gaps, [500, 1000, 2000, 4000]);
    assert.equal(a.welcomes.length, 2);
    assert.ok(a.client.joined);
    assert.equal(rig.tracker.registry.get('a')?.url, 'ws://10.0.0.1:7000/peer');
  });

  test('the origin seeds each piece to exactly one peer, and reseeds what a leaving peer was given', async () => {
    const rig = new Rig();
    const peers = ['a', 'b', 'c'].map((id) => rig.peer(id));
    await rig.run(200);
    const segment = rig.publish(5 * PIECE);
    await rig.run(2 * LATENCY_MS);
    const got = (p: Peer) => p.seeds.map((s) => s.piece);
    assert.deepEqual(peers.flatMap(got).sort(), [0, 1, 2, 3, 4]);
    for (const s of peers.flatMap((p) => p.seeds)) {
      assert.equal(s.seq, segment.info.seq);
      assert.ok(Buffer.from(s.data).equals(segment.data.subarray(s.piece * PIECE, (s.piece + 1) * PIECE)));
    }

    const [leaver, ...stay] = peers as [Peer, ...Peer[]];
    const given = got(leaver);
    assert.ok(given.length > 0);
    for (const p of stay) p.seeds.splice(0);
    leaver.client.close();
    await rig.run(3 * LATENCY_MS);
    assert.deepEqual(rig.left, ['a']);
    assert.deepEqual(stay.flatMap(got).sort(), given.sort(), 'its pieces went to the others, once each');
  });

  test('close() ends every in-memory connection and resolves', async () => {
    const rig = new Rig();
    const r = rig.raw();
    const a = rig.peer('a');
    await rig.run(200);
    let done = false;
    const closing = rig.tracker.close().then(() => void (done = true));
    await rig.run(2 * LATENCY_MS);
    await closing;
    assert.ok(done);
    assert.equal(r.closed?.code, 1001);
    assert.equal(a.client.joined, false);
    assert.equal(rig.tracker.registry.size, 0);
    a.client.close();
  });
});

describe('the in-memory tracker line', () => {
  test('frames arrive one latency later, in order, binary ones as the same bytes; a close reaches both ends', () => {
    const clock = new ManualClock(0);
    let conn: TrackerConn | null = null;
    const atTracker: (string | Uint8Array)[] = [];
    let trackerClosedMs = -1;
    const connect = memoryTrackerConnect(clock, LATENCY_MS, {
      attach: (c, address) => {
        assert.equal(address, '192.0.2.1');
        conn = c;
        return { onMessage: (f) => atTracker.push(f), onAlive: () => {}, onClose: () => void (trackerClosedMs = clock.nowMs()) };
      },
    }, '192.0.2.1');
    const atPeer: (string | Uint8Array)[] = [];
    let openedMs = -1;
    let peerClosed: [number, string, number] | null = null;
    const socket = connect(URL, {
      onOpen: () => void (openedMs = clock.nowMs()),
      onMessage: (f) => atPeer.push(f),
      onClose: (code, reason) => void (peerClosed = [code, reason, clock.nowMs()]),
      onError: () => {},
    });
    clock.advance(2 * LATENCY_MS);
    assert.equal(openedMs, 2 * LATENCY_MS);
    assert.ok(socket.open && conn !== null);
    const tracker = conn as TrackerConn;
    assert.equal(tracker.bufferedAmount, 0);
    const piece = new Uint8Array([1, 2, 3]);
    tracker.send('first');
    tracker.send(piece);
    socket.send('hello');
    clock.advance(LATENCY_MS);
    assert.deepEqual(atTracker, ['hello']);
    assert.equal(atPeer[0], 'first');
    assert.equal(atPeer[1], piece, 'no copy');
    tracker.close(1008, 'BYE: test');
    assert.equal(tracker.open, false);
    tracker.send('never');
    clock.advance(LATENCY_MS);
    assert.deepEqual(peerClosed, [1008, 'BYE: test', 4 * LATENCY_MS]);
    assert.equal(trackerClosedMs, -1, 'the tracker end closes when the handshake returns');
    clock.advance(LATENCY_MS);
    assert.equal(trackerClosedMs, 5 * LATENCY_MS);
    assert.equal(atPeer.length, 2);
  });
});
