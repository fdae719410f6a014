/**
 * Two real TrackerServers sharing one swarm, as replicas do through Redis,
 * with the sharing done in memory (one SwarmMembers for both, as every
 * replica's mirror converges to), and real TrackerClients over in-memory
 * connections on a manual clock: one swarm across trackers, the origin's
 * frames relayed byte for byte, ids kept across the swarm, and a client that
 * loses its tracker rejoining the other with its last fetch token.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { memoryTrackerConnect } from '../../harness/memory-tracker.ts';
import { originConfig } from '../../origin/config.ts';
import { createOriginMetrics } from '../../origin/metrics.ts';
import { SwarmMembers, memberOf } from '../../origin/swarm-members.ts';
import { type SwarmShare, TrackerServer } from '../../origin/tracker-server.ts';
import { newCounters } from '../../peer-node/swarm-counters.ts';
import { TrackerClient } from '../../peer-node/tracker-client.ts';
import { ManualClock } from '../../shared/clock.ts';
import { generateSigner } from '../../shared/announcement-signature.ts';
import { PROTOCOL_VERSION } from '../../shared/limits.ts';
import { seededRng } from '../../shared/rng.ts';
import type { SegmentAnnouncement } from '../../shared/segment.ts';
import { type Welcome, segmentFrame } from '../../shared/tracker-protocol.ts';

const LATENCY_MS = 20;
const silent = pino({ level: 'silent' });
const segment = (seq: number): SegmentAnnouncement => ({
  seq,
  durationMs: 1000,
  size: 20_000,
  sha256: 'cd'.repeat(32),
  pieceHashes: ['A'.repeat(43), 'B'.repeat(43)],
  publishedAtMs: 1_000_000 + seq,
  discontinuity: false,
});

class Swarm {
  readonly clock = new ManualClock(1_000_000);
  readonly members = new SwarmMembers();
  /** The origin's segment frames, as a replica holds them. */
  readonly signer = generateSigner();
  readonly frames = [segmentFrame(this.signer.sign(segment(1))), segmentFrame(this.signer.sign(segment(2)))];
  readonly trackers = new Map<string, TrackerServer>();
  /** Replicas that died: they tell the swarm nothing more. */
  readonly dead = new Set<string>();

  constructor(names: string[]) {
    for (const name of names) {
      const share: SwarmShare = {
        windowFrames: () => this.frames,
        sample: (exclude, max, rng) => this.members.sample(exclude, max, rng),
        takenElsewhere: (peerId, resume) => this.members.takenElsewhere(peerId, resume, name),
        publish: (peer) => {
          if (this.dead.has(name)) return;
          const { newlyListed } = this.members.upsert(memberOf(peer, name));
          if (!newlyListed) return;
          for (const [other, t] of this.trackers) if (other !== name) t.listedElsewhere({ peerId: peer.peerId, url: peer.url as string });
        },
        left: (peer) => {
          if (!this.dead.has(name)) this.members.remove(peer.peerId, name);
        },
      };
      const config = originConfig({ peersPerList: 4, announceIntervalMs: 1000, peerTimeoutMs: 5000 });
      const tracker = new TrackerServer({
        config,
        clock: this.clock,
        rng: seededRng(name.length),
        log: silent,
        metrics: createOriginMetrics(),
        originKey: this.signer.publicKeyBase64,
        probe: async () => ({ ok: true }),
        share,
        onPeerLeft: () => {},
      });
      tracker.start();
      this.trackers.set(name, tracker);
    }
  }

  /** A client given `urls` (tracker names), joining with its last fetch token as a peer node does. */
  client(peerId: string, urls: string[], o: { resume?: boolean } = {}) {
    const seen = { welcomes: [] as Welcome[], peers: [] as string[], dials: [] as string[], errors: [] as string[] };
    let token: string | null = null;
    const client = new TrackerClient({
      url: urls,
      clock: this.clock,
      log: silent,
      counters: newCounters(),
      connect: (url, events) => {
        seen.dials.push(url);
        return memoryTrackerConnect(this.clock, LATENCY_MS, this.trackers.get(url) as TrackerServer, `10.0.0.${peerId.length}`)(url, {
          ...events,
          onClose: (code, reason) => {
            if (code === 1008) seen.errors.push(reason);
            events.onClose(code, reason);
          },
        });
      },
      joinMessage: () => ({
        type: 'join',
        version: PROTOCOL_VERSION,
        streamId: 'live',
        peerId,
        url: `ws://10.0.0.${peerId.length}:7000/peer`,
        uploadKbps: 1000,
        ...(token !== null && o.resume !== false ? { resume: token } : {}),
      }),
      onWelcome: (w) => {
        token = w.fetchToken;
        seen.welcomes.push(w);
        seen.peers.push(...w.peers.map((p) => p.peerId));
      },
      onSegment: () => {},
      onPartial: () => {},
      onPeers: (peers) => seen.peers.push(...peers.map((p) => p.peerId)),
      onSeed: () => {},
    });
    client.start();
    return { client, seen };
  }

  async run(ms: number): Promise<void> {
    const end = this.clock.nowMs() + ms;
    while (this.clock.nowMs() < end) {
      this.clock.advance(Math.min(10, end - this.clock.nowMs()));
      // The probe's promise settles between ticks.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

describe('tracker replicas sharing one swarm', () => {
  test("a joiner of one tracker is listed to the other's joiners, at once and as soon as its probe passes; the welcome carries the origin's frames", async () => {
    const s = new Swarm(['A', 'B']);
    const a = s.client('a', ['A']);
    await s.run(200);
    const b = s.client('bb', ['B']);
    await s.run(200);
    const c = s.client('ccc', ['A']);
    await s.run(200);
    // a was welcomed alone and told of bb when its probe passed on the other tracker.
    assert.deepEqual(a.seen.peers.sort(), ['bb', 'ccc']);
    assert.deepEqual(b.seen.welcomes[0]?.peers.map((p) => p.peerId), ['a']);
    assert.deepEqual(c.seen.welcomes[0]?.peers.map((p) => p.peerId).sort(), ['a', 'bb']);
    // Listed as a tracker of one stream lists: the joiner's address and port, at /peer (a replica serves no rendition).
    assert.deepEqual(c.seen.welcomes[0]?.peers.map((p) => p.url).sort(), ['ws://10.0.0.1:7000/peer', 'ws://10.0.0.2:7000/peer']);
    assert.deepEqual(c.seen.welcomes[0]?.segments.map((x) => x.segment.seq), [1, 2]);
    assert.equal(c.seen.welcomes[0]?.originKey, s.signer.publicKeyBase64);
    assert.equal(s.members.get('bb')?.replica, 'B');
    for (const x of [a, b, c]) x.client.close();
  });

  test('a peer that says it only relays is not seeded, on its tracker or by the origin across replicas, until it fetches again', async () => {
    const s = new Swarm(['A', 'B']);
    const a = s.client('a', ['A']);
    const b = s.client('bb', ['B']);
    await s.run(200);
    const candidates = () => ({
      A: (s.trackers.get('A') as TrackerServer).seedCandidates().map((c) => c.peerId),
      swarm: s.members.seedCandidates().map((c) => c.peerId).sort(),
    });
    assert.deepEqual(candidates(), { A: ['a'], swarm: ['a', 'bb'] });
    a.client.send({ type: 'relay-only', on: true });
    await s.run(100);
    assert.deepEqual(candidates(), { A: [], swarm: ['bb'] });
    a.client.send({ type: 'relay-only', on: false });
    await s.run(100);
    assert.deepEqual(candidates(), { A: ['a'], swarm: ['a', 'bb'] });
    assert.deepEqual(a.seen.errors, []);
    for (const x of [a, b]) x.client.close();
  });

  test('an id live on one tracker is refused on the other; the peer that lost its tracker takes it over with its last fetch token', async () => {
    const s = new Swarm(['A', 'B']);
    const a = s.client('a', ['A', 'B']);
    await s.run(200);
    assert.equal(s.members.get('a')?.replica, 'A');
    const impostor = s.client('a', ['B']);
    await s.run(200);
    assert.match(impostor.seen.errors[0] ?? '', /^PEER_ID_TAKEN/);
    impostor.client.close();

    // A dies: it tells the swarm nothing more, and its connections drop.
    s.dead.add('A');
    const closing = (s.trackers.get('A') as TrackerServer).close();
    await s.run(1500);
    await closing;
    assert.deepEqual(a.seen.dials, ['A', 'B'], 'the client tried the other tracker next');
    assert.equal(a.seen.welcomes.length, 2, 'and was welcomed there');
    assert.equal(s.members.get('a')?.replica, 'B');
    assert.ok(a.client.joined);
    a.client.close();
  });

  test('without its token, a peer whose tracker died is refused elsewhere while the swarm still lists it', async () => {
    const s = new Swarm(['A', 'B']);
    const a = s.client('a', ['A', 'B'], { resume: false });
    await s.run(200);
    s.dead.add('A');
    const closing = (s.trackers.get('A') as TrackerServer).close();
    await s.run(1500);
    await closing;
    assert.match(a.seen.errors[0] ?? '', /^PEER_ID_TAKEN/);
    assert.equal(a.seen.welcomes.length, 1);
    a.client.close();
  });
});
