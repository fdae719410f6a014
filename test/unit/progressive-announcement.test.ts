/**
 * Progressive announcement in low-latency mode, origin side: a real
 * StreamSwarm (its window, signer, tracker and seeding) on a manual clock,
 * peers on in-memory tracker connections. Growth comes as IngestReceiver
 * hands it on (`grow`), the publication as ffmpeg's PUTs of the segment and
 * of the playlist naming it.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { memoryTrackerConnect } from '../../harness/memory-tracker.ts';
import { type OriginConfig, originConfig, progressiveAnnouncement } from '../../origin/config.ts';
import { Egress } from '../../origin/egress.ts';
import { channelMetrics, createOriginMetrics } from '../../origin/metrics.ts';
import { StreamSwarm } from '../../origin/stream-swarm.ts';
import { publicKeyFromBase64, verifyAnnouncement, verifyPartial } from '../../shared/announcement-signature.ts';
import { ManualClock } from '../../shared/clock.ts';
import { hashPieces } from '../../shared/hashing.ts';
import { PROTOCOL_VERSION } from '../../shared/limits.ts';
import { seededRng } from '../../shared/rng.ts';
import { type TrackerToPeer, decodeTrackerToPeer, encodePeerToTracker } from '../../shared/tracker-protocol.ts';

const PIECE = 16 * 1024;
const LATENCY_MS = 20;
const START_MS = 1_764_000_000_000;
const silent = pino({ level: 'silent' });

/** One peer's tracker connection: every frame it got, decoded, in order. */
interface Listener {
  received: TrackerToPeer[];
  leave(): void;
}

class Rig {
  readonly clock = new ManualClock(START_MS);
  readonly swarm: StreamSwarm;
  readonly config: OriginConfig;
  egressBytes = 0;

  constructor(progressive: boolean, more: Partial<OriginConfig> = {}) {
    this.config = originConfig({ lowLatency: true, wholeSegments: !progressive, pieceSize: PIECE, seedCopies: 1, ...more });
    this.swarm = new StreamSwarm({
      signedName: 'main',
      streamId: 'live',
      peerPath: '/peer',
      redis: null,
      firstSeq: 100,
      filePrefix: '',
      progressive: progressiveAnnouncement(this.config),
      config: this.config,
      signingKey: generateKeyPairSync('ed25519').privateKey,
      metrics: channelMetrics(createOriginMetrics(), 'main'),
      clock: this.clock,
      rng: seededRng(1),
      log: silent,
      egress: new Egress(0, this.clock, () => Number.POSITIVE_INFINITY),
      probe: async () => ({ ok: true }),
    });
    this.swarm.tracker.start();
  }

  /** A joined peer that reads what the tracker sends it; `uploadKbps` 0 is never seeded. */
  async listener(id: string, uploadKbps = 1000): Promise<Listener> {
    const l: Listener = { received: [], leave: () => socket.close(1000, 'bye') };
    const socket = memoryTrackerConnect(this.clock, LATENCY_MS, this.swarm.tracker, '10.0.0.1')('ws://origin/tracker', {
      onOpen: () => socket.send(encodePeerToTracker({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId: id, url: null, uploadKbps })),
      onMessage: (frame) => {
        const d = decodeTrackerToPeer(frame);
        assert.ok(d.ok, d.ok ? '' : d.error.message);
        l.received.push(d.value);
      },
      onClose: () => {},
      onError: () => {},
    });
    await this.run(5 * LATENCY_MS);
    return l;
  }

  /** Moves virtual time on in steps of one latency, letting promises settle between steps. */
  async run(ms: number): Promise<void> {
    for (let done = 0; done < ms; done += LATENCY_MS) {
      this.clock.advance(Math.min(LATENCY_MS, ms - done));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** ffmpeg's segment PUT ending, then its playlist naming the segment: the publication. */
  publish(run: string, index: number, data: Buffer): void {
    assert.equal(this.swarm.put(run, `s${index}.ts`, data, this.clock.nowMs()).status, 'accepted');
    const put = this.swarm.put(run, 'stream.m3u8', Buffer.from(`#EXTM3U\n#EXTINF:0.500000,\ns${index}.ts\n`), this.clock.nowMs());
    assert.deepEqual(put, { status: 'accepted', published: 1 });
  }
}

const bytes = (n: number, fill: number) => Buffer.alloc(n, fill);
const kinds = (l: Listener) => l.received.filter((m) => m.type !== 'welcome').map((m) => (m.type === 'seed' ? `seed ${m.seq}/${m.piece}` : m.type === 'segment-part' ? `part ${m.announcement.partial.seq}@${m.announcement.partial.first}+${m.announcement.partial.pieceHashes.length}` : m.type === 'segment' ? `segment ${m.announcement.segment.seq}` : m.type));
const parts = (l: Listener) => l.received.flatMap((m) => (m.type === 'segment-part' ? [m.announcement] : []));

describe('progressive announcement: the origin announces and seeds whole pieces as a segment arrives', () => {
  test('only with --low-latency, and not with --whole-segments, a ladder or Redis', () => {
    assert.equal(progressiveAnnouncement(originConfig({ lowLatency: true })), true);
    assert.equal(progressiveAnnouncement(originConfig({ lowLatency: true, wholeSegments: true })), false);
    assert.equal(progressiveAnnouncement(originConfig({ lowLatency: false })), false);
  });

  test("a peer gets partials in order, each with the next pieces' hashes, then the whole announcement under the same seq", async () => {
    const rig = new Rig(true);
    const peer = await rig.listener('p', 0);
    const data = Buffer.concat([bytes(PIECE, 1), bytes(PIECE, 2), bytes(PIECE, 3), bytes(PIECE, 4), bytes(5000, 5)]);
    const opened = rig.clock.nowMs();
    // Less than a piece: nothing to announce yet.
    rig.swarm.grow({ run: 'r', index: 0, bytes: data.subarray(0, PIECE - 1) });
    rig.clock.advance(100);
    rig.swarm.grow({ run: 'r', index: 0, bytes: data.subarray(0, PIECE + 10) });
    rig.clock.advance(100);
    // Two more pieces whole at once: one partial carries both.
    rig.swarm.grow({ run: 'r', index: 0, bytes: data.subarray(0, 3 * PIECE + 1) });
    rig.clock.advance(100);
    rig.swarm.grow({ run: 'r', index: 0, bytes: data.subarray(0, 4 * PIECE + 4000) });
    rig.publish('r', 0, data);
    await rig.run(5 * LATENCY_MS);
    assert.deepEqual(kinds(peer), ['part 100@0+1', 'part 100@1+2', 'part 100@3+1', 'segment 100']);
    const hashes = hashPieces(data, PIECE);
    const key = publicKeyFromBase64(rig.swarm.signer.publicKeyBase64);
    for (const p of parts(peer)) {
      assert.deepEqual(p.partial.pieceHashes, hashes.slice(p.partial.first, p.partial.first + p.partial.pieceHashes.length));
      assert.equal(p.partial.openedAtMs, opened, 'the time of the first bytes, the same in every partial');
      assert.equal(p.partial.discontinuity, false);
      assert.equal(verifyPartial(key, 'main', p), true);
    }
    const whole = peer.received.find((m) => m.type === 'segment');
    assert.ok(whole?.type === 'segment');
    assert.deepEqual(whole.announcement.segment.pieceHashes, hashes);
    assert.equal(verifyAnnouncement(key, 'main', whole.announcement), true);
    assert.equal(rig.swarm.window.lookup(100).state, 'live');
  });

  test('seeded pieces of an open segment arrive before its whole announcement, and only the rest is seeded at publication', async () => {
    const rig = new Rig(true);
    const peer = await rig.listener('p', 1000);
    const data = Buffer.concat([bytes(PIECE, 1), bytes(PIECE, 2), bytes(3000, 3)]);
    rig.swarm.grow({ run: 'r', index: 0, bytes: data.subarray(0, PIECE) });
    await rig.run(2 * LATENCY_MS);
    assert.deepEqual(kinds(peer), ['part 100@0+1', 'seed 100/0'], 'announced and seeded while the segment is still arriving');
    rig.swarm.grow({ run: 'r', index: 0, bytes: data.subarray(0, 2 * PIECE + 1000) });
    rig.publish('r', 0, data);
    await rig.run(2 * LATENCY_MS);
    assert.deepEqual(kinds(peer), ['part 100@0+1', 'seed 100/0', 'part 100@1+1', 'seed 100/1', 'segment 100', 'seed 100/2']);
    const seeds = peer.received.flatMap((m) => (m.type === 'seed' ? [m] : []));
    assert.deepEqual(seeds.map((s) => Buffer.from(s.data)), [data.subarray(0, PIECE), data.subarray(PIECE, 2 * PIECE), data.subarray(2 * PIECE)]);
    assert.equal(rig.swarm.measured.egressBytes, data.byteLength, 'each piece counted once as origin egress');
  });

  test('the next segment takes the next number, even when it opens before the previous one is named by the playlist', async () => {
    const rig = new Rig(true);
    const peer = await rig.listener('p', 0);
    const a = bytes(PIECE + 10, 1);
    const b = bytes(PIECE + 20, 2);
    rig.swarm.grow({ run: 'r', index: 0, bytes: a });
    assert.equal(rig.swarm.put('r', 's0.ts', a, rig.clock.nowMs()).status, 'accepted');
    // Segment 1's first bytes come before the playlist PUT that names segment 0.
    rig.swarm.grow({ run: 'r', index: 1, bytes: b.subarray(0, PIECE) });
    rig.swarm.put('r', 'stream.m3u8', Buffer.from('#EXTM3U\n#EXTINF:0.500000,\ns0.ts\n'), rig.clock.nowMs());
    rig.publish('r', 1, b);
    await rig.run(2 * LATENCY_MS);
    assert.deepEqual(kinds(peer), ['part 100@0+1', 'part 101@0+1', 'segment 100', 'segment 101']);
  });

  test("a segment whose PUT died is never published, and a new run's first segment takes its number, flagged a discontinuity", async () => {
    const rig = new Rig(true);
    const peer = await rig.listener('p', 0);
    rig.publish('r1', 0, bytes(PIECE + 1, 1));
    // ffmpeg dies one piece into segment 1.
    rig.swarm.grow({ run: 'r1', index: 1, bytes: bytes(PIECE, 2) });
    rig.swarm.grow({ run: 'r2', index: 0, bytes: bytes(PIECE, 3) });
    rig.publish('r2', 0, bytes(PIECE + 3, 3));
    await rig.run(2 * LATENCY_MS);
    assert.deepEqual(kinds(peer), ['part 100@0+1', 'segment 100', 'part 101@0+1', 'part 101@0+1', 'segment 101']);
    const [, died, restarted] = parts(peer);
    assert.notDeepEqual(died?.partial.pieceHashes, restarted?.partial.pieceHashes, 'the same number, other bytes');
    assert.equal(died?.partial.discontinuity, false);
    assert.equal(restarted?.partial.discontinuity, true);
    const whole = peer.received.at(-1);
    assert.ok(whole?.type === 'segment' && whole.announcement.segment.discontinuity);
    assert.equal(rig.swarm.window.published, 2);
  });

  test('a peer that leaves right after being seeded a piece of an open segment: the piece is seeded again to another, from the bytes so far', async () => {
    const rig = new Rig(true);
    const a = await rig.listener('a', 1000);
    const b = await rig.listener('b', 1000);
    const data = Buffer.concat([bytes(PIECE, 1), bytes(PIECE, 2)]);
    rig.swarm.grow({ run: 'r', index: 0, bytes: data.subarray(0, PIECE + 100) });
    await rig.run(2 * LATENCY_MS);
    const [gone, stays] = kinds(a).includes('seed 100/0') ? [a, b] : [b, a];
    assert.deepEqual(kinds(gone), ['part 100@0+1', 'seed 100/0']);
    assert.deepEqual(kinds(stays), ['part 100@0+1']);
    gone.leave();
    await rig.run(5 * LATENCY_MS);
    assert.deepEqual(kinds(stays), ['part 100@0+1', 'seed 100/0']);
    const reseeded = stays.received.at(-1);
    assert.ok(reseeded?.type === 'seed');
    assert.deepEqual(Buffer.from(reseeded.data), data.subarray(0, PIECE));
  });

  test('growth of a segment already published, or told twice, announces nothing more', async () => {
    const rig = new Rig(true);
    const peer = await rig.listener('p', 0);
    const data = bytes(2 * PIECE, 1);
    rig.swarm.grow({ run: 'r', index: 0, bytes: data });
    rig.swarm.grow({ run: 'r', index: 0, bytes: data });
    rig.publish('r', 0, data);
    rig.swarm.grow({ run: 'r', index: 0, bytes: data });
    await rig.run(2 * LATENCY_MS);
    assert.deepEqual(kinds(peer), ['part 100@0+2', 'segment 100']);
  });

  test('a joiner is welcomed with whole announcements, then told the partials of the segment still arriving, then the rest as it comes', async () => {
    const rig = new Rig(true);
    rig.publish('r', 0, bytes(PIECE + 1, 1));
    rig.swarm.grow({ run: 'r', index: 1, bytes: bytes(PIECE, 2) });
    const early = await rig.listener('early', 0);
    const late = await rig.listener('late', 0);
    rig.swarm.grow({ run: 'r', index: 1, bytes: bytes(2 * PIECE, 2) });
    await rig.run(2 * LATENCY_MS);
    const welcome = late.received[0];
    assert.ok(welcome?.type === 'welcome');
    assert.deepEqual(welcome.segments.map((s) => s.segment.seq), [100]);
    assert.deepEqual(kinds(late), ['part 101@0+1', 'part 101@1+1']);
    // The very partials the others got, signed once.
    assert.deepEqual(parts(late), parts(early));
    // Once published, a segment is in the welcome's window and its partials are told to nobody.
    rig.publish('r', 1, bytes(2 * PIECE + 5, 2));
    const last = await rig.listener('last', 0);
    const lastWelcome = last.received[0];
    assert.ok(lastWelcome?.type === 'welcome');
    assert.deepEqual(lastWelcome.segments.map((s) => s.segment.seq), [100, 101]);
    assert.deepEqual(kinds(last), []);
  });

  test('with progressive off nothing changes: growth is ignored, the whole segment is announced and seeded at publication', async () => {
    const rig = new Rig(false);
    const peer = await rig.listener('p', 1000);
    const data = bytes(PIECE + 7, 1);
    rig.swarm.grow({ run: 'r', index: 0, bytes: data.subarray(0, PIECE) });
    await rig.run(2 * LATENCY_MS);
    assert.deepEqual(kinds(peer), []);
    rig.publish('r', 0, data);
    await rig.run(2 * LATENCY_MS);
    assert.deepEqual(kinds(peer), ['segment 100', 'seed 100/0', 'seed 100/1']);
  });
});
