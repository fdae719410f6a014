import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { LiveWindow, type StoredSegment } from '../../origin/live-window.ts';
import { type PeerConfig, peerConfig } from '../../peer-node/config.ts';
import { LinkShaper } from '../../peer-node/link.ts';
import { type MemoryLink, memoryLinkPair } from '../../peer-node/memory-link.ts';
import { SegmentStore } from '../../peer-node/segment-store.ts';
import { type SwarmCounters, newCounters } from '../../peer-node/swarm-counters.ts';
import { Swarm } from '../../peer-node/swarm.ts';
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
  readonly clock = new ManualClock(1_000_000);
  readonly nodes: Node[] = [];
  /** The origin's window: it makes each segment's announcement and its piece hashes. */
  readonly origin = new LiveWindow(100, PIECE);
  readonly published: StoredSegment[] = [];

  constructor(private readonly rngSeed: number) {}

  node(id: string, config: Partial<PeerConfig> = {}, uploadKbps = -1): Node {
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
      shaper: new LinkShaper({ uploadKbps, downloadKbps: 0, latencyMs: 0 }, clock),
      counters,
      fetchFromOrigin: () => Promise.resolve(null),
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
  return segments.every((s) => n.store.get(s.info.seq)?.complete?.equals(s.data) === true);
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

  test('the same seed gives the same run, counter for counter', () => {
    const counters = () => {
      const { net } = spread(7);
      net.close();
      return net.nodes.map((n) => n.counters);
    };
    assert.deepEqual(counters(), counters());
  });

  test('a newcomer is unchoked, and once it has given nothing past the snub timeout a rechoke round chokes it', () => {
    const net = new Net(2);
    const seed = net.node('seed', { regularSlots: 1, optimisticSlots: 0 });
    net.live(1, seed);
    const newcomer = new Hand(net, 'newcomer', seed);
    newcomer.send({ type: 'interested' });
    net.clock.advance(500);
    assert.deepEqual(
      newcomer.got.map((m) => m.type),
      ['handshake', 'bitfield', 'unchoke'],
    );
    // Snubbed after two rounds without a piece from it (snubTimeoutMs = 2 x rechokeIntervalMs); the next round acts on it.
    net.clock.advance(2500 + LATENCY_MS);
    assert.equal(newcomer.choked, true);
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
});
