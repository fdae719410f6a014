import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { LiveWindow, type StoredSegment } from '../../origin/live-window.ts';
import { type PeerConfig, peerConfig } from '../../peer-node/config.ts';
import { memoryLinkPair } from '../../peer-node/memory-link.ts';
import { type PeerCore, createPeerCore } from '../../peer-node/peer-core.ts';
import { TrackerClient } from '../../peer-node/tracker-client.ts';
import type { TrackerSocketEvents } from '../../peer-node/tracker-socket.ts';
import { generateSigner } from '../../shared/announcement-signature.ts';
import { ManualClock } from '../../shared/clock.ts';
import { hashPieces } from '../../shared/hashing.ts';
import { PROTOCOL_VERSION } from '../../shared/limits.ts';
import { seededRng } from '../../shared/rng.ts';
import { pieceRange } from '../../shared/segment.ts';
import { type PeerAddress, type SignedPartial, type TrackerToPeer, encodeTrackerToPeer, partialFrame } from '../../shared/tracker-protocol.ts';

/**
 * Progressive announcement in low-latency mode, on the peer's side: real peer
 * cores over memory links on a manual clock, the test playing the origin's
 * tracker (its real LiveWindow and signer). The pieces of a segment the
 * origin is still receiving travel seed -> A -> B before its whole
 * announcement; a partial the origin did not sign is refused and counted.
 */

const PIECE = 16 * 1024;
const SEGMENT_BYTES = 40_000; // 3 pieces
/** The progressive segment: three whole pieces told of one by one as they come in, then a short last one in its whole announcement. */
const OPEN_BYTES = 3 * PIECE + 5000;
const LATENCY_MS = 10;
const STREAM = 'live';
const START_MS = 1_000_000;

class World {
  readonly clock = new ManualClock(START_MS);
  readonly signer = generateSigner();
  readonly origin = new LiveWindow(100, PIECE, this.signer);
  readonly cores: PeerCore[] = [];
  readonly fetches: { by: string; seq: number; piece: number }[] = [];

  add(peerId: string, config: Partial<PeerConfig> = {}): PeerCore {
    const clock = this.clock;
    const core: PeerCore = createPeerCore(peerConfig({ streamId: STREAM, ...config }), {
      peerId,
      clock,
      rng: seededRng(this.cores.length + 1),
      log: pino({ level: 'silent' }),
      advertisedUrl: () => `mem://${peerId}`,
      dial: (remoteId, url) => clock.setTimeout(() => this.open(core, remoteId, url), LATENCY_MS),
      trackerSend: () => {},
      trackerJoined: () => true,
      fetchOrigin: (seq, piece, segmentSize, pieceSize, _token, done) => {
        this.fetches.push({ by: peerId, seq, piece });
        const found = this.origin.lookup(seq);
        const { start, end } = pieceRange(segmentSize, pieceSize, piece);
        clock.setTimeout(() => done(found.state === 'live' ? found.segment.data.subarray(start, end) : null), 50);
      },
    });
    core.start();
    core.onWelcome(this.welcome(peerId));
    this.cores.push(core);
    return core;
  }

  welcome(peerId: string): Extract<TrackerToPeer, { type: 'welcome' }> {
    return {
      type: 'welcome',
      version: PROTOCOL_VERSION,
      streamId: STREAM,
      peerId,
      pieceSize: PIECE,
      announceIntervalMs: 5000,
      originTimeMs: this.clock.nowMs(),
      segments: this.origin.signedAnnouncements(),
      peers: this.cores.map((c): PeerAddress => ({ peerId: c.peerId, url: `mem://${c.peerId}` })),
      fetchToken: `token-of-${peerId}`.padEnd(22, '_'),
      originKey: this.signer.publicKeyBase64,
    };
  }

  private open(from: PeerCore, remoteId: string, url: string): void {
    const to = this.cores.find((c) => c.peerId === remoteId);
    if (!to || to.refusal(from.peerId) !== null) return from.dialFailed(remoteId);
    const [ours, theirs] = memoryLinkPair(this.clock, { latencyMs: LATENCY_MS });
    to.acceptInbound(theirs, from.peerId);
    from.addOutbound(ours, remoteId, url);
  }

  /** Whole segments, one a second, every piece seeded to `seed`. */
  live(seconds: number, seed: PeerCore): StoredSegment[] {
    const out: StoredSegment[] = [];
    for (let n = 0; n < seconds; n++) {
      const segment = this.origin.publish(bytes(SEGMENT_BYTES, this.origin.published + 1), 1000, false, this.clock.nowMs());
      for (const c of this.cores) c.onSegment(segment.signed);
      this.seed(seed, segment.info.seq, segment.data, segment.info.pieceHashes.map((_, i) => i));
      out.push(segment);
      this.clock.advance(1000);
    }
    return out;
  }

  seed(to: PeerCore, seq: number, data: Uint8Array, pieces: readonly number[]): void {
    for (const i of pieces) {
      const { start, end } = pieceRange(data.byteLength, PIECE, i);
      to.onSeed(seq, i, data.subarray(start, end));
    }
  }

  close(): void {
    for (const c of this.cores) c.close();
  }
}

function bytes(n: number, seed: number): Buffer {
  const rng = seededRng(seed);
  return Buffer.from(Array.from({ length: n }, () => Math.floor(rng() * 256)));
}

for (const relay of ['push', 'pull'] as const) {
  describe(`progressive relay (${relay})`, () => {
    test("an open segment's pieces go seed -> A -> B as the origin tells of them, before its whole announcement, and complete it after", () => {
      const w = new World();
      const a = w.add('a', { relay });
      const b = w.add('b', { relay });
      const whole = w.live(2, a);
      w.clock.advance(500);
      assert.ok(whole.every((s) => b.store.segmentData(s.info.seq)?.equals(s.data)), 'the whole segments spread first');
      const seq = (whole.at(-1) as StoredSegment).info.seq + 1;
      const data = bytes(OPEN_BYTES, 99);
      const hashes = hashPieces(data, PIECE);
      const openedAtMs = w.clock.nowMs();
      // The origin tells of each whole piece as its bytes come in, and seeds it to A only.
      for (let i = 0; i < 3; i++) {
        const part = w.signer.signPartial({ seq, first: i, pieceHashes: [hashes[i] as string], openedAtMs, discontinuity: false });
        for (const c of w.cores) c.onPartial(part);
        w.seed(a, seq, data, [i]);
        w.clock.advance(200);
        assert.equal(b.store.getOpen(seq)?.held, i + 1, `piece ${i} reached B while the segment was open`);
      }
      assert.equal(a.counters.earlyPieces, 3);
      assert.equal(b.counters.earlyPieces, 3);
      assert.equal(b.counters.seedBytes, 0, 'B had them from A, not from the origin');
      assert.equal(b.counters.originBytes, 0);
      assert.ok(b.store.get(seq) === undefined && !b.listed().some((s) => s.seq === seq), 'an open segment is never listed');
      assert.deepEqual(w.fetches.filter((f) => f.seq === seq), [], 'nor fetched from the origin');
      const early = b.counters.p2pBytes;

      const published = w.origin.publishAt(seq, data, 1000, false, w.clock.nowMs());
      assert.ok(published);
      for (const c of w.cores) c.onSegment(published.signed);
      w.seed(a, seq, data, [3]);
      w.clock.advance(300);
      assert.ok(b.store.segmentData(seq)?.equals(data), 'B completed it with the last piece');
      assert.equal(b.counters.p2pBytes - early, OPEN_BYTES - 3 * PIECE, 'only the last piece came after the whole announcement');
      const e = b.store.get(seq);
      assert.ok(e && e.firstPieceAtMs !== null && e.firstPieceAtMs < e.announcedAtMs);
      assert.equal(e.localSeq, (b.store.get(seq - 1)?.localSeq ?? Number.NaN) + 1);
      assert.equal(b.counters.hashFailures + a.counters.hashFailures, 0);
      w.close();
    });
  });
}

describe('holdings of an open segment that grows', () => {
  test("a neighbour's bitfield names the pieces it knew of; its haves of later ones, before B knows their hashes, are kept and count once B does", () => {
    const w = new World();
    const a = w.add('a', { relay: 'pull' });
    const whole = w.live(1, a);
    const seq = (whole.at(-1) as StoredSegment).info.seq + 1;
    const data = bytes(OPEN_BYTES, 7);
    const hashes = hashPieces(data, PIECE);
    const part = (first: number, count: number) => w.signer.signPartial({ seq, first, pieceHashes: hashes.slice(first, first + count), openedAtMs: 0, discontinuity: false });
    a.onPartial(part(0, 1));
    w.seed(a, seq, data, [0]);
    // B knows the first piece's hash when it meets A, whose bitfield names one piece of the segment.
    const b = w.add('b', { relay: 'pull' });
    b.onPartial(part(0, 1));
    w.clock.advance(200);
    assert.equal(b.store.getOpen(seq)?.held, 1);
    // A hears of pieces 1 and 2 and holds them; the partial telling B their hashes is late.
    a.onPartial(part(1, 2));
    w.seed(a, seq, data, [1, 2]);
    w.clock.advance(200);
    assert.equal(b.store.getOpen(seq)?.held, 1);
    b.onPartial(part(1, 2));
    w.clock.advance(200);
    assert.equal(b.store.getOpen(seq)?.held, 3, "A's haves were kept, and B asked A for the pieces once it knew their hashes");
    assert.equal(b.counters.earlyPieces, 3);
    w.close();
  });
});

describe('a segment number the origin reuses', () => {
  test("pieces of a dead segment's bytes held by a neighbour cost it nothing once the number stands for other bytes, and the new segment spreads", () => {
    const w = new World();
    const a = w.add('a', { relay: 'pull' });
    const b = w.add('b', { relay: 'pull' });
    const whole = w.live(1, a);
    w.clock.advance(500);
    const seq = (whole.at(-1) as StoredSegment).info.seq + 1;
    const died = bytes(OPEN_BYTES, 11);
    const next = bytes(OPEN_BYTES, 12);
    const part = (data: Uint8Array, first: number, count: number) =>
      w.signer.signPartial({ seq, first, pieceHashes: hashPieces(data, PIECE).slice(first, first + count), openedAtMs: 0, discontinuity: false });
    for (const c of w.cores) c.onPartial(part(died, 0, 3));
    w.seed(a, seq, died, [0, 1, 2]);
    w.clock.advance(300);
    assert.equal(b.store.getOpen(seq)?.held, 3);
    // Its ingest died; the next run's first segment takes the number. B hears of it before A, which still holds the old bytes.
    b.onPartial(part(next, 0, 2));
    w.clock.advance(100);
    a.onPartial(part(next, 0, 2));
    w.seed(a, seq, next, [0, 1]);
    w.clock.advance(300);
    assert.equal(b.store.getOpen(seq)?.held, 2);
    const published = w.origin.publishAt(seq, next, 1000, false, w.clock.nowMs());
    assert.ok(published);
    for (const c of w.cores) c.onSegment(published.signed);
    w.seed(a, seq, next, [2, 3]);
    w.clock.advance(500);
    assert.ok(b.store.segmentData(seq)?.equals(next));
    assert.equal(b.counters.hashFailures, 0, 'B asked A for nothing of the old bytes, and what crossed was not held against it');
    assert.ok(b.swarm.connectedTo('a'));
    w.close();
  });
});

describe('a piece of the old bytes on its way when the number is reused', () => {
  test('is dropped without blame: the neighbour sent what the origin had told it', () => {
    const w = new World();
    const a = w.add('a', { relay: 'pull' });
    const b = w.add('b', { relay: 'pull' });
    const whole = w.live(1, a);
    w.clock.advance(500);
    const seq = (whole.at(-1) as StoredSegment).info.seq + 1;
    const died = bytes(OPEN_BYTES, 21);
    const part = (data: Uint8Array) => w.signer.signPartial({ seq, first: 0, pieceHashes: hashPieces(data, PIECE).slice(0, 1), openedAtMs: 0, discontinuity: false });
    for (const c of w.cores) c.onPartial(part(died));
    w.seed(a, seq, died, [0]);
    const asked = () => b.swarm.handshaken().some((n) => [...n.inFlight.values()].some((r) => r.seq === seq));
    for (let ms = 0; ms < 200 && !asked(); ms++) w.clock.advance(1);
    assert.ok(asked(), 'B asked A for the piece');
    // The number is reused while the piece is on its way to B.
    b.onPartial(part(bytes(OPEN_BYTES, 22)));
    w.clock.advance(100);
    assert.equal(b.store.getOpen(seq)?.held, 0);
    assert.equal(b.counters.hashFailures, 0);
    assert.ok(b.swarm.connectedTo('a'));
    w.close();
  });
});

describe('forged partial announcements', () => {
  test('one not signed by the origin key, through the tracker client, is refused and counted; the genuine one next to it is taken', () => {
    const w = new World();
    const core = w.add('a');
    w.live(1, core);
    const seq = (core.store.newestSeq() as number) + 1;
    let events: TrackerSocketEvents | null = null;
    const client = new TrackerClient({
      url: 'ws://tracker',
      clock: w.clock,
      log: pino({ level: 'silent' }),
      counters: core.counters,
      connect: (_url, e) => {
        events = e;
        return { open: true, send: () => {}, close: () => {}, terminate: () => {} };
      },
      joinMessage: core.joinMessage,
      onWelcome: core.onWelcome,
      onSegment: core.onSegment,
      onPartial: core.onPartial,
      onPeers: core.onPeers,
      onSeed: core.onSeed,
    });
    client.start();
    const tracker = events as TrackerSocketEvents | null;
    assert.ok(tracker);
    tracker.onMessage(encodeTrackerToPeer(w.welcome('a')));
    const data = bytes(OPEN_BYTES, 3);
    const partial = { seq, first: 0, pieceHashes: hashPieces(data, PIECE).slice(0, 2), openedAtMs: 0, discontinuity: false };
    const impostor = generateSigner().signPartial({ ...partial, pieceHashes: hashPieces(bytes(OPEN_BYTES, 4), PIECE).slice(0, 2) });
    const genuine = w.signer.signPartial(partial);
    const tampered: SignedPartial = { ...genuine, record: Uint8Array.from(genuine.record, (x, i) => (i === genuine.record.byteLength - 1 ? x ^ 1 : x)) };
    const before = core.counters.badAnnouncements;
    tracker.onMessage(partialFrame(impostor));
    tracker.onMessage(partialFrame(tampered));
    assert.equal(core.counters.badAnnouncements - before, 2);
    assert.equal(core.store.getOpen(seq), undefined, 'nothing of a forgery is taken');
    tracker.onMessage(partialFrame(genuine));
    assert.deepEqual(core.store.getOpen(seq)?.pieceHashes, partial.pieceHashes);
    assert.equal(core.counters.badAnnouncements - before, 2);
    client.close();
    w.close();
  });
});
