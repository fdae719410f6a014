import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { LiveWindow, type StoredSegment } from '../../origin/live-window.ts';
import { generateSigner } from '../../shared/announcement-signature.ts';
import { type PeerConfig, peerConfig } from '../../peer-node/config.ts';
import { LinkShaper } from '../../peer-node/link.ts';
import { type MemoryLink, memoryLinkPair } from '../../peer-node/memory-link.ts';
import { SegmentStore } from '../../peer-node/segment-store.ts';
import { type SwarmCounters, newCounters } from '../../peer-node/swarm-counters.ts';
import { Swarm } from '../../peer-node/swarm.ts';
import { INTEREST_LINGER_MS } from '../../peer-node/policy/interest.ts';
import { MIN_IN_FLIGHT } from '../../peer-node/policy/request-budget.ts';
import { DEFAULT_UPLOAD_LIMITS as L } from '../../peer-node/policy/upload.ts';
import { ManualClock } from '../../shared/clock.ts';
import { PROTOCOL_VERSION } from '../../shared/limits.ts';
import { seededRng } from '../../shared/rng.ts';
import { pieceRange } from '../../shared/segment.ts';
import { type WireMessage, bitsetBytes, decodeWire, encodeWire, setBit } from '../../shared/wire-protocol.ts';

/**
 * Real `Swarm`s over in-memory links on a manual clock: the choke rounds, the
 * timeouts and the defences run in virtual time, with no socket and no sleep.
 */

const PIECE = 16 * 1024;
const SEGMENT_BYTES = 40_000; // 3 pieces
const LATENCY_MS = 10;
const STREAM = 'live';
const START_MS = 1_000_000;

/** Small intervals so a few virtual seconds hold several rounds; the origin is never asked. */
const CONFIG: Partial<PeerConfig> = { rechokeIntervalMs: 1000, optimisticIntervalMs: 3000, maxOriginInFlight: 0 };

interface Node {
  id: string;
  swarm: Swarm;
  store: SegmentStore;
  counters: SwarmCounters;
  banned: Set<string>;
}

class Net {
  readonly clock = new ManualClock(START_MS);
  readonly nodes: Node[] = [];
  /** The origin's window: it makes each segment's announcement and its piece hashes. */
  readonly origin = new LiveWindow(100, PIECE, generateSigner());
  readonly published: StoredSegment[] = [];

  constructor(private readonly rngSeed: number) {}

  node(id: string, config: Partial<PeerConfig> = {}, uploadKbps = -1, downloadKbps = 0): Node {
    const clock = this.clock;
    const store = new SegmentStore(30, PIECE, clock);
    const counters = newCounters();
    const banned = new Set<string>();
    const swarm = new Swarm({
      config: peerConfig({ ...CONFIG, ...config }),
      peerId: id,
      streamId: STREAM,
      clock,
      rng: seededRng(this.rngSeed * 1000 + this.nodes.length),
      log: pino({ level: 'silent' }),
      store,
      shaper: new LinkShaper({ uploadKbps, downloadKbps, latencyMs: 0 }, clock),
      counters,
      fetchFromOrigin: (_seq, _piece, done) => done(null),
      onBan: (peerId) => void banned.add(peerId),
      isBanned: (peerId) => banned.has(peerId),
      onNeighboursChanged: () => {},
    });
    swarm.start();
    const node = { id, swarm, store, counters, banned };
    this.nodes.push(node);
    return node;
  }

  connect(from: Node, to: Node): void {
    const [a, b] = memoryLinkPair(this.clock, { latencyMs: LATENCY_MS });
    from.swarm.addLink(a, true, to.id, to.id);
    to.swarm.addLink(b, false, null, from.id);
  }

  /** The origin publishes a segment, every node hears of it, and `seed` gets its pieces as the origin's seeding would. */
  publish(seed: Node | null): StoredSegment {
    const rng = seededRng(this.published.length + 1);
    const data = Buffer.from(Array.from({ length: SEGMENT_BYTES }, () => Math.floor(rng() * 256)));
    const segment = this.origin.publish(data, 1000, false, this.clock.nowMs());
    this.published.push(segment);
    const { seq } = segment.info;
    for (const n of this.nodes) {
      n.store.announce(segment.info, this.clock.nowMs());
      n.swarm.onAnnounced(seq);
    }
    if (seed) this.seed(seed, segment);
    return segment;
  }

  seed(node: Node, segment: StoredSegment): void {
    for (let i = 0; i < segment.info.pieceHashes.length; i++) {
      assert.equal(node.store.putPiece(segment.info.seq, i, piece(segment, i), this.clock.nowMs()), 'stored');
      node.swarm.onPieceStored(segment.info.seq, i);
    }
  }

  /** Publishes one segment a second for `seconds`, as a live stream does. */
  live(seconds: number, seed: Node | null): StoredSegment[] {
    const out: StoredSegment[] = [];
    for (let s = 0; s < seconds; s++) {
      out.push(this.publish(seed));
      this.clock.advance(1000);
    }
    return out;
  }

  close(): void {
    for (const n of this.nodes) n.swarm.close();
  }
}

function piece(segment: StoredSegment, i: number): Uint8Array {
  const { start, end } = pieceRange(segment.info.size, PIECE, i);
  return segment.data.subarray(start, end);
}

function holdsAll(n: Node, segments: readonly StoredSegment[]): boolean {
  return segments.every((s) => n.store.segmentData(s.info.seq)?.equals(s.data) === true);
}

/**
 * A neighbour we play by hand over a memory link: it sees every message the
 * swarm sends it, and says what the test says.
 */
class Hand {
  readonly got: WireMessage[] = [];
  closed: { code: number; reason: string } | null = null;
  readonly link: MemoryLink;

  constructor(
    net: Net,
    readonly id: string,
    to: Node,
    private readonly answer: (h: Hand, msg: WireMessage) => void = () => {},
  ) {
    const [ours, theirs] = memoryLinkPair(net.clock, { latencyMs: LATENCY_MS });
    this.link = ours;
    ours.onMessage((frame) => {
      const d = decodeWire(frame);
      assert.ok(d.ok);
      this.got.push(d.value);
      this.answer(this, d.value);
    });
    ours.onClose((code, reason) => void (this.closed = { code, reason }));
    to.swarm.addLink(theirs, false, null, id);
    this.send({ type: 'handshake', version: PROTOCOL_VERSION, streamId: STREAM, peerId: id });
  }

  send(msg: WireMessage): void {
    this.link.send(encodeWire(msg));
  }

  /** Claims to hold every piece of `segments`. */
  claim(segments: readonly StoredSegment[]): void {
    this.send({
      type: 'bitfield',
      segments: segments.map((s) => {
        const bits = new Uint8Array(bitsetBytes(s.info.pieceHashes.length));
        s.info.pieceHashes.forEach((_, i) => setBit(bits, i));
        return { seq: s.info.seq, pieceCount: s.info.pieceHashes.length, bits };
      }),
    });
  }

  /** The last choke or unchoke it was sent. */
  get choked(): boolean {
    const last = this.got.filter((m) => m.type === 'choke' || m.type === 'unchoke').at(-1);
    return last?.type !== 'unchoke';
  }
}

describe('Swarm over memory links in virtual time', () => {
  /** Three nodes in a mesh, one of them seeded with every piece of a live stream. */
  function spread(seed: number): { net: Net; segments: StoredSegment[] } {
    const net = new Net(seed);
    const [a, b, c] = [net.node('a'), net.node('b'), net.node('c')] as [Node, Node, Node];
    net.connect(a, b);
    net.connect(a, c);
    net.connect(b, c);
    const segments = net.live(6, a);
    net.clock.advance(5000);
    return { net, segments };
  }

  test('pieces spread: every node ends with every segment, verified against the origin\'s bytes', () => {
    const { net, segments } = spread(1);
    for (const n of net.nodes) assert.ok(holdsAll(n, segments), `${n.id} is missing segments`);
    const [, b, c] = net.nodes as [Node, Node, Node];
    // The leechers traded between themselves too, not only with the seed.
    assert.ok(b.counters.uploadedBytes + c.counters.uploadedBytes > 0);
    for (const n of net.nodes) assert.equal(n.counters.hashFailures, 0);
    net.close();
  });

  test('the same seed gives the same run, counter for counter, and other seeds other runs', () => {
    const counters = (seed = 7) => {
      const { net } = spread(seed);
      net.close();
      return net.nodes.map((n) => n.counters);
    };
    const first = counters();
    assert.ok(first.every((c) => c.p2pBytes + c.uploadedBytes > 0), 'every node took part');
    assert.deepEqual(counters(), first);
    // Three nodes have few ways to trade six segments, so some seeds share a run: a few of them must not all.
    const runs = new Set([7, 8, 9, 10].map((seed) => JSON.stringify(counters(seed))));
    assert.ok(runs.size > 1, 'every seed gave the same run');
  });

  test('a newcomer is unchoked, and once it has given nothing past the snub timeout a rechoke round chokes it', () => {
    const net = new Net(2);
    const seed = net.node('seed', { regularSlots: 1, optimisticSlots: 0 });
    net.live(1, seed);
    const newcomer = new Hand(net, 'newcomer', seed);
    newcomer.send({ type: 'interested' });
    // Rounds every second; snubbed once it has given nothing for two (snubTimeoutMs = 2 x rechokeIntervalMs),
    // and the round after that takes its slot. Between rounds nobody interested is choked.
    const rows = [
      { atMs: 500, choked: false },
      { atMs: 2500, choked: false },
      { atMs: 3000 + LATENCY_MS, choked: true },
    ];
    const since = net.clock.nowMs();
    for (const row of rows) {
      net.clock.advance(since + row.atMs - net.clock.nowMs());
      assert.deepEqual({ atMs: row.atMs, choked: newcomer.choked }, row);
    }
    assert.deepEqual(newcomer.got.slice(0, 3).map((m) => m.type), ['handshake', 'bitfield', 'unchoke']);
    assert.equal(newcomer.closed, null);
    net.close();
  });

  test('a neighbour that claims pieces and never answers is cut off, and the honest nodes still complete', () => {
    const net = new Net(3);
    // The seed unchokes whoever asks: this is not about tit-for-tat, and a leech has nothing to give it back.
    const seed = net.node('seed', { choker: 'all-unchoked' });
    const leech = net.node('leech');
    net.connect(leech, seed);
    const silent = new Hand(net, 'silent', leech, (h, msg) => {
      if (msg.type === 'interested') h.send({ type: 'unchoke' });
    });
    // Each segment is claimed by the silent one at once and reaches the seed a second later
    // (as the origin's seeding may), so the leech asks the silent one first.
    for (let s = 0; s < 10 && !silent.closed; s++) {
      const segment = net.publish(null);
      silent.claim([segment]);
      net.clock.advance(1000);
      net.seed(seed, segment);
    }
    assert.match(silent.closed?.reason ?? 'still connected', /requests in a row not answered/);
    net.clock.advance(2000);
    assert.ok(holdsAll(leech, net.published));
    net.close();
  });

  test('a liar that answers with wrong bytes is banned after maxHashFailures, and cannot come back', () => {
    const net = new Net(4);
    const leech = net.node('leech', { maxHashFailures: 3 });
    const segments = net.live(2, null);
    const liar = new Hand(net, 'liar', leech, (h, msg) => {
      if (msg.type === 'interested') h.send({ type: 'unchoke' });
      const asked = msg.type === 'request' ? segments.find((s) => s.info.seq === msg.seq) : undefined;
      // The right piece with every bit flipped: the right length, the wrong bytes.
      if (asked && msg.type === 'request') h.send({ ...msg, type: 'piece', data: piece(asked, msg.piece).map((b) => b ^ 0xff) });
    });
    liar.claim(segments);
    net.clock.advance(1000);
    assert.equal(leech.counters.hashFailures, 3);
    assert.deepEqual([...leech.banned], ['liar']);
    assert.match(liar.closed?.reason ?? 'still connected', /too many bad pieces/);
    const again = new Hand(net, 'liar', leech);
    net.clock.advance(100);
    assert.equal(again.closed?.reason, 'banned');
    net.close();
  });

  test('interest lingers: a neighbour with nothing we lack hears not-interested only INTEREST_LINGER_MS on, and not at all if it gains a piece meanwhile', () => {
    const net = new Net(7);
    const viewer = net.node('viewer');
    const [first, second] = [net.publish(null), net.publish(null)];
    const source = new Hand(net, 'source', viewer, (h, msg) => {
      if (msg.type === 'interested') h.send({ type: 'unchoke' });
      const asked = msg.type === 'request' ? net.published.find((s) => s.info.seq === msg.seq) : undefined;
      if (asked && msg.type === 'request') h.send({ ...msg, type: 'piece', data: piece(asked, msg.piece) });
    });
    source.claim([first]);
    const said = (type: 'interested' | 'not-interested') => source.got.filter((m) => m.type === type).length;
    const STEP_MS = 5;
    const stepUntil = (done: () => boolean) => {
      while (!done()) {
        assert.ok(net.clock.nowMs() < START_MS + 10_000, 'timed out');
        net.clock.advance(STEP_MS);
      }
      return net.clock.nowMs();
    };
    const whole = (s: StoredSegment) => () => viewer.store.segmentData(s.info.seq) !== null;

    // Fetches all it holds, then stays interested through most of the linger, and it offers a new piece in time.
    stepUntil(whole(first));
    net.clock.advance(INTEREST_LINGER_MS - 100);
    source.send({ type: 'have', pieces: [{ seq: second.info.seq, piece: 0 }] });
    assert.equal(said('not-interested'), 0);
    const secondDone = stepUntil(() => viewer.store.hasPiece(second.info.seq, 0));
    // Holding all it has again: told so once the linger is over, within a plan's tick and the link's latency.
    const told = stepUntil(() => said('not-interested') === 1);
    assert.ok(told - secondDone >= INTEREST_LINGER_MS, `told after ${told - secondDone} ms`);
    assert.ok(told - secondDone <= INTEREST_LINGER_MS + 100 + LATENCY_MS + STEP_MS, `told after ${told - secondDone} ms`);
    assert.equal(said('interested'), 1);
    net.close();
  });

  test('a node whose download nears its known rate says pushes-off, and pushes-on once it has room again; one of unknown rate says neither', () => {
    const net = new Net(1);
    // 400 kbit/s: 50 KB/s, and the neighbour pushes 40 KB a second.
    const limited = net.node('limited', {}, -1, 400);
    const unlimited = net.node('unlimited');
    const hands = [new Hand(net, 'h1', limited), new Hand(net, 'h2', unlimited)] as const;
    net.clock.advance(100);
    const said = (h: Hand) => h.got.filter((m) => m.type === 'pushes-on' || m.type === 'pushes-off').map((m) => m.type);
    for (let s = 0; s < 3; s++) {
      const segment = net.publish(null);
      for (const h of hands) {
        for (let i = 0; i < segment.info.pieceHashes.length; i++) h.send({ type: 'piece', seq: segment.info.seq, piece: i, data: piece(segment, i) });
      }
      net.clock.advance(1000);
    }
    assert.deepEqual(said(hands[0]), ['pushes-off']);
    net.clock.advance(2000);
    assert.deepEqual(said(hands[0]), ['pushes-off', 'pushes-on']);
    assert.deepEqual(said(hands[1]), []);
    // Pushes were kept all the while: they are verified pieces it lacked.
    for (const n of [limited, unlimited]) assert.ok(holdsAll(n, net.published), n.id);
    net.close();
  });

  test('on a download of known rate, no more requests are out than it carries in the horizon', () => {
    const net = new Net(1);
    const limited = net.node('limited', {}, -1, 400);
    const unlimited = net.node('unlimited');
    const segments = net.live(4, null);
    const hands = [new Hand(net, 'h1', limited), new Hand(net, 'h2', unlimited)];
    for (const h of hands) {
      h.claim(segments);
      h.send({ type: 'unchoke' });
    }
    net.clock.advance(500);
    const asked = hands.map((h) => h.got.filter((m) => m.type === 'request').length);
    // 50 KB/s carries one 16 KiB piece in 500 ms: the floor of 4; unlimited, the per-neighbour bound of 6.
    assert.deepEqual(asked, [MIN_IN_FLIGHT, 6]);
    net.close();
  });

  test('a fresh piece is pushed to a neighbour that welcomes pushes, never to one that said pushes-off', () => {
    const net = new Net(1);
    const seed = net.node('seed');
    const open = new Hand(net, 'open', seed);
    const full = new Hand(net, 'full', seed);
    full.send({ type: 'pushes-off' });
    for (const h of [open, full]) h.send({ type: 'interested' });
    net.clock.advance(100);
    net.live(3, seed);
    const pieces = (h: Hand) => h.got.filter((m) => m.type === 'piece').length;
    assert.ok(pieces(open) > 0, 'the neighbour that welcomes pushes got pieces unasked');
    assert.equal(pieces(full), 0);
    full.send({ type: 'pushes-on' });
    net.clock.advance(100);
    net.live(1, seed);
    assert.ok(pieces(full) > 0, 'pushed to again once it said pushes-on');
    net.close();
  });

  test('a neighbour silent after its handshake is dropped at neighbourIdleMs; a quiet honest one is kept by keep-alives', () => {
    const net = new Net(5);
    const IDLE_MS = 3000;
    const [a, b] = [net.node('a', { neighbourIdleMs: IDLE_MS }), net.node('b', { neighbourIdleMs: IDLE_MS })];
    net.connect(a, b);
    const mute = new Hand(net, 'mute', a);
    const elapsed = () => net.clock.nowMs() - START_MS;
    const dropped = 'idle: nothing received for 3 s';
    const rows = [
      { atMs: IDLE_MS - 200, mute: 'open', honest: true },
      { atMs: IDLE_MS + 200, mute: dropped, honest: true },
      { atMs: 5 * IDLE_MS, mute: dropped, honest: true },
    ];
    for (const row of rows) {
      net.clock.advance(row.atMs - elapsed());
      assert.deepEqual({ atMs: row.atMs, mute: mute.closed?.reason ?? 'open', honest: a.swarm.connectedTo('b') }, row);
    }
    net.close();
  });

  test('a neighbour that stops reading is choked, then dropped, and what we queue for it stays bounded', () => {
    const net = new Net(6);
    const seed = net.node('seed', { choker: 'all-unchoked' });
    const segments = net.live(12, seed);
    const stuck = new Hand(net, 'stuck', seed);
    // It unchokes the seed as an uploading node does, so it is not held to a free-rider's allowance: this is about reading.
    stuck.send({ type: 'unchoke' });
    stuck.send({ type: 'interested' });
    net.clock.advance(300);
    assert.equal(stuck.choked, false);
    stuck.link.stopReading();
    // It keeps asking, for every piece there is, as fast as it likes.
    for (const s of segments) s.info.pieceHashes.forEach((_, i) => stuck.send({ type: 'request', seq: s.info.seq, piece: i }));
    const STEP_MS = 500;
    const seen: { ms: number; choking: boolean; queuedPieces: number; queuedBytes: number; buffered: number }[] = [];
    for (let ms = STEP_MS; ms <= 2 * L.dropAfterNoDrainMs && !stuck.closed; ms += STEP_MS) {
      net.clock.advance(STEP_MS);
      const n = seed.swarm.handshaken().find((h) => h.peerId === 'stuck');
      if (n) seen.push({ ms, choking: n.amChoking, queuedPieces: n.queuedPieces, queuedBytes: n.queuedBytes, buffered: n.link.bufferedAmount });
    }
    assert.match(stuck.closed?.reason ?? 'still connected', /not reading what we send/);
    const chokedAt = seen.find((s) => s.choking)?.ms ?? Infinity;
    assert.ok(chokedAt > L.chokeAfterNoDrainMs && chokedAt <= L.chokeAfterNoDrainMs + STEP_MS, `choked at ${chokedAt} ms`);
    const lastSeen = seen.at(-1)?.ms ?? 0;
    assert.ok(lastSeen >= L.dropAfterNoDrainMs && lastSeen < L.dropAfterNoDrainMs + STEP_MS, `dropped after ${lastSeen} ms`);
    // It asked for 36 pieces; we took on no more than the queue allows, and the link holds little besides.
    for (const s of seen) {
      assert.ok(s.queuedPieces <= L.maxQueuedPieces && s.queuedBytes <= L.maxQueuedBytes, `queue at ${s.ms} ms: ${JSON.stringify(s)}`);
      assert.ok(s.buffered <= s.queuedBytes + 1024, `link buffer at ${s.ms} ms: ${JSON.stringify(s)}`);
    }
    net.close();
  });
});
