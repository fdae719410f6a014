import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { LiveWindow, type StoredSegment } from '../../origin/live-window.ts';
import { type PeerConfig, peerConfig } from '../../peer-node/config.ts';
import { memoryLinkPair } from '../../peer-node/memory-link.ts';
import { type PeerCore, createPeerCore } from '../../peer-node/peer-core.ts';
import { generateSigner } from '../../shared/announcement-signature.ts';
import { ManualClock } from '../../shared/clock.ts';
import { PROTOCOL_VERSION } from '../../shared/limits.ts';
import { seededRng } from '../../shared/rng.ts';
import { pieceRange } from '../../shared/segment.ts';
import type { PeerAddress, PeerToTracker } from '../../shared/tracker-protocol.ts';

/**
 * Real peer cores, the logic of `node.ts` without its sockets, wired by hand
 * on a manual clock: dials open memory links, the test plays the tracker
 * with the origin's real `LiveWindow`, and origin fetches answer from that
 * window after a delay. This is the seam the simulator runs on.
 */

const PIECE = 16 * 1024;
const SEGMENT_BYTES = 40_000; // 3 pieces
const LATENCY_MS = 10;
const ORIGIN_MS = 50;
const STREAM = 'live';
const START_MS = 1_000_000;

/** A welcome's fetch token: 22 base64url characters, one per peer. */
const tokenOf = (peerId: string) => `token-of-${peerId}`.padEnd(22, '_');

class World {
  readonly clock = new ManualClock(START_MS);
  readonly signer = generateSigner();
  readonly origin = new LiveWindow(100, PIECE, this.signer);
  readonly cores: PeerCore[] = [];
  readonly dials: { from: string; to: string }[] = [];
  readonly fetches: { by: string; seq: number; piece: number; fetchToken: string | null }[] = [];
  readonly trackerSent: { by: string; msg: PeerToTracker }[] = [];

  add(peerId: string, config: Partial<PeerConfig> = {}, listsWholeSegments = false, welcomed = true): PeerCore {
    const clock = this.clock;
    const core: PeerCore = createPeerCore(peerConfig({ streamId: STREAM, ...config }), {
      peerId,
      listsWholeSegments,
      clock,
      rng: seededRng(this.cores.length + 1),
      log: pino({ level: 'silent' }),
      advertisedUrl: () => `mem://${peerId}`,
      dial: (remoteId, url) => {
        this.dials.push({ from: peerId, to: remoteId });
        clock.setTimeout(() => this.open(core, remoteId, url), LATENCY_MS);
      },
      trackerSend: (msg) => this.trackerSent.push({ by: peerId, msg }),
      trackerJoined: () => true,
      fetchOrigin: (seq, piece, segmentSize, pieceSize, fetchToken, done) => {
        this.fetches.push({ by: peerId, seq, piece, fetchToken });
        const found = this.origin.lookup(seq);
        const { start, end } = pieceRange(segmentSize, pieceSize, piece);
        clock.setTimeout(() => done(found.state === 'live' ? found.segment.data.subarray(start, end) : null), ORIGIN_MS);
      },
    });
    core.start();
    if (welcomed) this.welcome(core);
    this.cores.push(core);
    return core;
  }

  /** The tracker's welcome: the window so far, and the peers that joined before. */
  welcome(core: PeerCore): void {
    core.onWelcome({
      type: 'welcome',
      version: PROTOCOL_VERSION,
      streamId: STREAM,
      peerId: core.peerId,
      pieceSize: PIECE,
      announceIntervalMs: 5000,
      originTimeMs: this.clock.nowMs(),
      segments: this.origin.signedAnnouncements(),
      peers: this.cores.filter((c) => c !== core).map((c): PeerAddress => ({ peerId: c.peerId, url: `mem://${c.peerId}` })),
      fetchToken: tokenOf(core.peerId),
      originKey: this.signer.publicKeyBase64,
    });
  }

  /** What a listening socket does: the far core lets the connection in, or it is refused. */
  private open(from: PeerCore, remoteId: string, url: string): void {
    const to = this.cores.find((c) => c.peerId === remoteId);
    if (!to || to.refusal(from.peerId) !== null) return from.dialFailed(remoteId);
    const [ours, theirs] = memoryLinkPair(this.clock, { latencyMs: LATENCY_MS });
    to.acceptInbound(theirs, from.peerId);
    from.addOutbound(ours, remoteId, url);
  }

  /** One segment a second for `seconds`; the tracker seeds `seed` with every piece, except of the segments `withheld` names. */
  live(seconds: number, seed: PeerCore | null, withheld: (n: number) => boolean = () => false): StoredSegment[] {
    const out: StoredSegment[] = [];
    for (let n = 0; n < seconds; n++) {
      const rng = seededRng(this.origin.published + 1);
      const data = Buffer.from(Array.from({ length: SEGMENT_BYTES }, () => Math.floor(rng() * 256)));
      const segment = this.origin.publish(data, 1000, false, this.clock.nowMs());
      for (const c of this.cores) c.onSegment(segment.signed);
      if (seed && !withheld(n)) {
        segment.info.pieceHashes.forEach((_, i) => {
          const { start, end } = pieceRange(segment.info.size, PIECE, i);
          seed.onSeed(segment.info.seq, i, data.subarray(start, end));
        });
      }
      out.push(segment);
      this.clock.advance(1000);
    }
    return out;
  }

  close(): void {
    for (const c of this.cores) c.close();
  }
}

function holdsAll(core: PeerCore, segments: readonly StoredSegment[]): boolean {
  return segments.every((s) => core.store.segmentData(s.info.seq)?.equals(s.data) === true);
}

const bytesOf = (segments: readonly StoredSegment[]) => segments.reduce((sum, s) => sum + s.info.size, 0);

describe('peer cores over memory links in virtual time', () => {
  test('a core dials the peer the tracker named and gets every piece from it over the swarm', () => {
    const world = new World();
    // The origin is never asked: what b holds came from a.
    const a = world.add('a', { maxOriginInFlight: 0 });
    const b = world.add('b', { maxOriginInFlight: 0 });
    world.clock.advance(1000);
    assert.deepEqual(world.dials, [{ from: 'b', to: 'a' }]);
    assert.deepEqual([a, b].map((c) => c.stats().neighbours), [1, 1]);

    const segments = world.live(6, a);
    world.clock.advance(3000);
    assert.ok(holdsAll(a, segments) && holdsAll(b, segments));
    assert.equal(a.counters.seedBytes, bytesOf(segments));
    assert.equal(b.counters.p2pBytes, bytesOf(segments));
    assert.equal(a.counters.uploadedBytes, bytesOf(segments));
    assert.equal(b.counters.originBytes, 0);
    assert.deepEqual(world.fetches, []);
    world.close();
  });

  test('the playlist stays empty until it can list the hold-back, then grows by a segment a second', () => {
    const world = new World();
    const a = world.add('a');
    const b = world.add('b');
    const holdBack = peerConfig().holdBackSegments;
    assert.equal(holdBack, 3);
    const rows = [
      { published: 0, a: [], b: [] },
      { published: 1, a: [], b: [] },
      { published: 2, a: [], b: [] },
      { published: 3, a: [0, 1, 2], b: [0, 1, 2] },
      { published: 4, a: [0, 1, 2, 3], b: [0, 1, 2, 3] },
    ];
    for (const row of rows) {
      if (row.published > 0) world.live(1, a);
      const listed = (c: PeerCore) => c.listed().map((s) => s.seq);
      assert.deepEqual({ published: row.published, a: listed(a), b: listed(b) }, row);
    }
    world.close();
  });

  test('a lone core whose player asked before the welcome starts the hold-back behind the live edge', async () => {
    const world = new World();
    const segments = world.live(6, null);
    const a = world.add('a', {}, false, false);
    // The player's first request waits; the welcome's segments come one by one, each a change it looks at.
    const first = a.waitListed(10_000, () => false);
    world.welcome(a);
    world.clock.advance(1000);
    const newest = (segments.at(-1) as StoredSegment).info.seq;
    assert.deepEqual((await first).map((s) => s.seq), [newest - 2, newest - 1, newest]);
    world.close();
  });

  test("a ladder's core lists a segment once whole, or once it has known it for the hold-back; a single stream's once known 1 s", () => {
    const world = new World();
    // Nobody may ask the origin: the segment the tracker withholds from the seed stays unfinished everywhere.
    const noOrigin = { maxOriginInFlight: 0 };
    const seed = world.add('seed', noOrigin);
    const single = world.add('single', noOrigin);
    const rung = world.add('rung', noOrigin, true);
    world.clock.advance(1000);
    const segments = world.live(4, seed, (n) => n === 3);
    const stuck = segments[3]?.info.seq as number;
    const listed = (c: PeerCore) => c.listed().map((s) => s.seq);
    // live() leaves the clock 1 s after the stuck segment was published.
    assert.ok(listed(single).includes(stuck), 'known 1 s: listed, so a player waits for it');
    assert.ok(!listed(rung).includes(stuck), 'not whole: not listed yet');
    assert.deepEqual(listed(rung), listed(single).filter((seq) => seq < stuck));
    world.clock.advance(1500);
    assert.ok(!listed(rung).includes(stuck), '2.5 s old');
    world.clock.advance(500);
    assert.ok(listed(rung).includes(stuck), 'as old as the hold-back (3 segments): due now, listed whole or not');
    // A node that joins the rung now learns of the stuck segment now, and counts its hold-back from here:
    // it fetches two older segments whole, and lists nothing until it can list three.
    const late = world.add('late', noOrigin, true);
    world.clock.advance(2500);
    assert.deepEqual(late.store.all().filter((e) => e.complete !== null).map((e) => e.info.seq), [stuck - 2, stuck - 1]);
    assert.deepEqual(listed(late), [], 'the stuck segment, 5.5 s old, was learned of 2.5 s ago');
    world.clock.advance(500);
    assert.deepEqual(listed(late), [stuck - 2, stuck - 1, stuck], 'known here for the hold-back');
    world.close();
  });

  test("a ladder's core relaying a rung ahead of its player lists none of that rung's unfinished segments when it starts fetching it", () => {
    const world = new World();
    const seed = world.add('seed');
    const ahead = world.add('ahead', {}, true);
    ahead.setRelayOnly(true);
    world.clock.advance(1000);
    const segments = world.live(6, seed);
    const whole = (c: PeerCore) => c.store.all().filter((e) => e.complete !== null).map((e) => e.info.seq);
    assert.deepEqual(whole(ahead), [], 'relaying, it fetched nothing');
    // The player climbs to this rung: the node fetches it from now, and lists each segment once whole.
    ahead.setRelayOnly(false);
    assert.deepEqual(ahead.listed(), [], 'segments it has known for 6 s, none whole yet');
    world.clock.advance(1000);
    const listed = ahead.listed().map((s) => s.seq);
    assert.ok(listed.length >= 3, `listed ${listed.join(' ')}`);
    assert.ok(listed.every((seq) => whole(ahead).includes(seq)), `listed ${listed.join(' ')}, whole ${whole(ahead).join(' ')}`);
    assert.ok(holdsAll(ahead, segments.filter((s) => listed.includes(s.info.seq))));
    world.close();
  });

  test('a core that stops fetching tells its tracker, once per change and again after each welcome, so the origin seeds only peers that fetch', () => {
    const world = new World();
    const core = world.add('relay', {}, true);
    const said = () => world.trackerSent.filter((s) => s.msg.type === 'relay-only').map((s) => (s.msg as { on: boolean }).on);
    assert.deepEqual(said(), [], 'a joiner fetches: nothing to say');
    core.setRelayOnly(true);
    core.setRelayOnly(true);
    assert.deepEqual(said(), [true]);
    // A new tracker (a reconnect) takes every joiner for one that fetches.
    world.welcome(core);
    assert.deepEqual(said(), [true, true]);
    core.setRelayOnly(false);
    world.welcome(core);
    assert.deepEqual(said(), [true, true, false]);
    world.close();
  });

  test("a rung the ladder's player switches to fetches and lists from the segment it needs next, once that is whole, with no hold-back of three", () => {
    const run = (switched: boolean) => {
      const world = new World();
      const seed = world.add('seed');
      const rung = world.add('rung', {}, true);
      rung.setRelayOnly(true);
      world.clock.advance(1000);
      const segments = world.live(6, seed);
      // The player, on another rung, plays segment 2 of the 6 and has asked that rung for 3 and 4 already.
      const playing = (segments[2] as StoredSegment).info.seq;
      const next = (segments[5] as StoredSegment).info.seq;
      rung.onPlayerReport({ seq: rung.store.get(playing)?.localSeq as number, offsetMs: 0, stalls: 0, stallMs: 0 });
      rung.setRelayOnly(false);
      if (switched) rung.switchedHere(next);
      let listed: number[] = [];
      while (listed.length === 0) {
        world.clock.advance(5);
        listed = rung.listed().map((s) => s.seq);
      }
      const whole = rung.store.all().filter((e) => e.complete !== null && e.info.seq >= playing).map((e) => e.info.seq);
      world.close();
      return { listed, whole, next };
    };
    const switched = run(true);
    assert.deepEqual(switched.listed, [switched.next], 'the segment it needs, as soon as it is whole');
    assert.deepEqual(switched.whole, [switched.next], 'and none of those in its buffer was fetched');
    const starting = run(false);
    assert.ok(starting.listed.length >= 3, `a player starting here waits for the hold-back: ${JSON.stringify(starting)}`);
  });

  test('a piece no neighbour holds comes from the origin, through the fetch callback, with the token of its welcome', () => {
    const world = new World();
    const a = world.add('a');
    const b = world.add('b');
    world.clock.advance(1000);
    // The tracker seeds a with every segment but the third.
    const segments = world.live(6, a, (n) => n === 2);
    const withheld = segments[2]?.info.seq;
    world.clock.advance(3000);
    assert.ok(holdsAll(a, segments) && holdsAll(b, segments));
    // Neither held it, so each fetched every piece of it once, and only those.
    const pieces = segments[2]?.info.pieceHashes.map((_, piece) => piece) ?? [];
    for (const c of [a, b]) {
      const mine = world.fetches.filter((f) => f.by === c.peerId);
      assert.deepEqual(mine.map((f) => [f.seq, f.piece]).sort(), pieces.map((p) => [withheld, p]));
      assert.ok(mine.every((f) => f.fetchToken === tokenOf(c.peerId)), 'the origin is told whose fetch it is');
      assert.equal(c.counters.originBytes - c.counters.seedBytes, SEGMENT_BYTES);
    }
    // The rest b had from a.
    assert.equal(b.counters.p2pBytes, bytesOf(segments) - SEGMENT_BYTES);
    world.close();
  });
});
