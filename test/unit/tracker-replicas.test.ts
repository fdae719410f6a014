/**
 * The pure parts of tracker replicas: the mirror of the whole swarm each
 * replica and the origin keep (swarm-members.ts), the origin's choice of seed
 * targets across replicas, what goes through Redis (redis-schema.ts), and a
 * peer's choice of the next tracker (tracker-failover.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { channelKeys, decodeMemberEvent, decodeSeedMessage, encodeMemberEvent, encodeSeedMessage } from '../../origin/redis-schema.ts';
import { redisReconnectDelayMs, redisWhere } from '../../origin/redis-link.ts';
import { channelOfTrackerPath } from '../../shared/channel.ts';
import { initialSeederState, planSeeding } from '../../origin/seeder.ts';
import { type Member, SwarmMembers, decodeMember, encodeMember, hashToken } from '../../origin/swarm-members.ts';
import { parsePeerConfig, trackerUrls } from '../../peer-node/config.ts';
import { nextTracker } from '../../peer-node/policy/tracker-failover.ts';
import { ConfigError } from '../../shared/cli.ts';
import { seededRng } from '../../shared/rng.ts';
import { PROTOCOL_VERSION } from '../../shared/limits.ts';
import { generateSigner } from '../../shared/announcement-signature.ts';
import { type PeerAddress, decodePeerToTracker, decodeTrackerToPeer, encodeTrackerToPeer, encodeWelcome, segmentFrame } from '../../shared/tracker-protocol.ts';

const TOKEN = 'AAAAAAAAAAAAAAAAAAAAAA';

/** The `resume` of a join message as the tracker decodes it; throws the decoder's error. */
function resumeOf(msg: object): string | undefined {
  const d = decodePeerToTracker(JSON.stringify(msg));
  if (!d.ok) throw new Error(d.error.message);
  return d.value.type === 'join' ? d.value.resume : undefined;
}
const member = (peerId: string, replica: string, o: Partial<Member> = {}): Member => ({
  peerId,
  url: `ws://127.0.0.1:${7000 + peerId.length}/peer`,
  listed: true,
  uploadKbps: 1000,
  relayOnly: false,
  replica,
  tokenHash: hashToken(`${TOKEN.slice(0, 21)}${peerId.slice(-1)}`),
  joinedAtMs: 1000,
  uploads: false,
  ...o,
});

describe('the swarm mirror shared by replicas', () => {
  test('the origin seeds each piece to one peer of the whole swarm, whichever replica holds it, in proportion to upload', () => {
    const m = new SwarmMembers();
    const replicaOf = new Map<string, string>();
    for (let i = 0; i < 12; i++) {
      const r = `r${i % 3}`;
      m.upsert(member(`p${i}`, r, { uploadKbps: i < 3 ? 0 : 1000 }));
      replicaOf.set(`p${i}`, r);
    }
    let state = initialSeederState();
    const perPeer = new Map<string, number>();
    const perReplica = new Map<string, number>();
    for (let segment = 0; segment < 9; segment++) {
      const plan = planSeeding(4, m.seedCandidates(), state, 1);
      state = plan.state;
      for (const targets of plan.targets) {
        const first = targets[0] as string;
        perPeer.set(first, (perPeer.get(first) ?? 0) + 1);
        const r = replicaOf.get(first) as string;
        perReplica.set(r, (perReplica.get(r) ?? 0) + 1);
      }
    }
    // 36 pieces, each seeded once: none to the free-riders, four to each of the nine others, twelve per replica.
    assert.deepEqual([...perPeer.keys()].filter((id) => ['p0', 'p1', 'p2'].includes(id)), []);
    assert.deepEqual([...perPeer.values()], Array(9).fill(4));
    assert.deepEqual([...perReplica.values()].sort(), [12, 12, 12]);
  });

  test('a member that only relays is not seeded until it fetches again', () => {
    const m = new SwarmMembers();
    m.upsert(member('a', 'r0'));
    m.upsert(member('b', 'r1', { relayOnly: true }));
    assert.deepEqual(m.seedCandidates().map((c) => c.peerId), ['a']);
    m.upsert(member('b', 'r1'));
    assert.deepEqual(m.seedCandidates().map((c) => c.peerId).sort(), ['a', 'b']);
  });

  test('peer lists draw from every replica, listed peers only, never the asker', () => {
    const m = new SwarmMembers();
    m.upsert(member('a', 'r0'));
    m.upsert(member('b', 'r1'));
    m.upsert(member('c', 'r2', { listed: false }));
    const drawn = m.sample('a', 10, seededRng(1)).map((p) => p.peerId);
    assert.deepEqual(drawn, ['b']);
    assert.equal(m.upsert(member('c', 'r2')).newlyListed, true);
    assert.deepEqual(m.sample('a', 10, seededRng(1)).map((p) => p.peerId).sort(), ['b', 'c']);
  });

  test('a live id is taken elsewhere unless the joiner proves it with its last fetch token; its own replica decides alone', () => {
    const m = new SwarmMembers();
    const token = 'BBBBBBBBBBBBBBBBBBBBBB';
    m.upsert(member('a', 'r0', { tokenHash: hashToken(token) }));
    assert.equal(m.takenElsewhere('a', null, 'r1'), true);
    assert.equal(m.takenElsewhere('a', TOKEN, 'r1'), true);
    assert.equal(m.takenElsewhere('a', token, 'r1'), false);
    assert.equal(m.takenElsewhere('a', null, 'r0'), false);
    assert.equal(m.takenElsewhere('nobody', null, 'r1'), false);
  });

  test('a peer that rejoined on another replica is moved, and the old replica saying it left does not remove it', () => {
    const m = new SwarmMembers();
    m.upsert(member('a', 'r0'));
    assert.equal(m.upsert(member('a', 'r1')).movedFrom, 'r0');
    assert.equal(m.remove('a', 'r0'), false);
    assert.equal(m.get('a')?.replica, 'r1');
    assert.equal(m.remove('a', 'r1'), true);
    assert.equal(m.size, 0);
    assert.deepEqual(m.sample('x', 5, seededRng(2)), []);
  });

  test("the origin judges a fetch by the token of a member of any replica, and only a current one's", () => {
    const m = new SwarmMembers();
    const token = 'CCCCCCCCCCCCCCCCCCCCCC';
    m.upsert(member('a', 'r0', { tokenHash: hashToken(token), uploadKbps: 0 }));
    assert.deepEqual(m.fetchingPeer(token), { uploadKbps: 0, joinedAtMs: 1000, stats: { uploadedBytes: 0 } });
    m.upsert(member('a', 'r1', { tokenHash: hashToken('DDDDDDDDDDDDDDDDDDDDDD'), uploads: true }));
    assert.equal(m.fetchingPeer(token), null);
    assert.equal(m.fetchingPeer('DDDDDDDDDDDDDDDDDDDDDD')?.stats.uploadedBytes, 1);
  });
});

describe('what goes through redis', () => {
  test('members and member events round-trip, and a malformed one is an error naming the field', () => {
    const a = member('a', 'r0', { url: null, listed: false });
    assert.deepEqual(decodeMember(encodeMember(a)), a);
    assert.deepEqual(decodeMember(encodeMember({ ...a, relayOnly: true })), { ...a, relayOnly: true });
    // As a replica of older code wrote it: it fetches.
    const { relayOnly: _, ...older } = a;
    assert.equal(decodeMember(JSON.stringify(older)).relayOnly, false);
    assert.throws(() => decodeMember(JSON.stringify({ ...a, relayOnly: 'yes' })), /relayOnly/);
    assert.deepEqual(decodeMemberEvent(encodeMemberEvent({ op: 'up', member: a })), { op: 'up', member: a });
    assert.deepEqual(decodeMemberEvent(encodeMemberEvent({ op: 'left', peerId: 'a', replica: 'r0' })), { op: 'left', peerId: 'a', replica: 'r0' });
    assert.throws(() => decodeMember('{"peerId":"a"}'), /listed and uploads/);
    assert.throws(() => decodeMember(encodeMember({ ...a, replica: 'no spaces' })), /replica/);
    assert.throws(() => decodeMember(encodeMember({ ...a, url: 'http://x/peer' })), /url/);
    assert.throws(() => decodeMemberEvent('{"op":"evict"}'), /unknown member event/);
  });

  test('a seed message carries the seed frame the origin made, byte for byte, to the peer it names', () => {
    const frame = encodeTrackerToPeer({ type: 'seed', seq: 7, piece: 2, data: new Uint8Array([1, 2, 3]) }) as Uint8Array;
    const got = decodeSeedMessage(encodeSeedMessage('peer-1', frame));
    assert.equal(got.peerId, 'peer-1');
    assert.deepEqual(Buffer.from(got.frame), Buffer.from(frame));
    assert.throws(() => decodeSeedMessage(Buffer.from([6, 65])), /too short/);
  });

  test('every key and channel is under p2p-live:<channel>:, and only channel names of the convention are taken', () => {
    const k = channelKeys('main');
    for (const name of [k.config, k.window, k.segments, k.members, k.memberInfo, k.memberEvents, k.seeds('r0')]) assert.match(name, /^p2p-live:main:/);
    assert.equal(channelKeys('news-2').segments, 'p2p-live:news-2:segments');
    assert.throws(() => channelKeys('Main'), /bad channel name/);
    assert.equal(channelOfTrackerPath('/tracker'), 'main');
    assert.equal(channelOfTrackerPath('/tracker/news-2'), 'news-2');
    assert.equal(channelOfTrackerPath('/tracker/../x'), null);
    assert.equal(channelOfTrackerPath('/tracker/'), null);
  });

  test("a welcome built from the origin's segment frames is the welcome the origin itself would send, its signed records untouched", () => {
    const segment = { seq: 5, durationMs: 1000, size: 3, sha256: 'ab'.repeat(32), pieceHashes: ['A'.repeat(43)], publishedAtMs: 1234, discontinuity: false };
    const peers: PeerAddress[] = [{ peerId: 'q', url: 'ws://127.0.0.1:7001/peer' }];
    const signer = generateSigner();
    const base = { type: 'welcome', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'p', pieceSize: 16384, announceIntervalMs: 2000, originTimeMs: 99, peers, fetchToken: TOKEN, originKey: signer.publicKeyBase64 } as const;
    const signed = signer.sign(segment);
    const welcome = encodeWelcome(base, [segmentFrame(signed)]);
    assert.equal(welcome, encodeTrackerToPeer({ ...base, segments: [signed] }));
    // Relayed untouched: the peer reads back the origin's record and signature, byte for byte.
    const decoded = decodeTrackerToPeer(welcome);
    assert.ok(decoded.ok && decoded.value.type === 'welcome');
    const got = decoded.value.segments[0];
    assert.deepEqual(Buffer.from(got?.record ?? []), Buffer.from(signed.record));
    assert.deepEqual(Buffer.from(got?.signature ?? []), Buffer.from(signed.signature));
  });

  test('a rejoin carries its last fetch token; anything else there is refused', () => {
    const join = { type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'p', url: null, uploadKbps: 0 };
    assert.equal(resumeOf({ ...join, resume: TOKEN }), TOKEN);
    assert.equal(resumeOf(join), undefined);
    assert.throws(() => resumeOf({ ...join, resume: 'short' }), /resume/);
  });

  test('redis reconnection waits grow, with jitter, to at most about 5 s; logs never show a password', () => {
    assert.equal(redisReconnectDelayMs(0, 0.5), 100);
    assert.equal(redisReconnectDelayMs(3, 0.5), 800);
    assert.ok(redisReconnectDelayMs(50, 1) <= 6250 && redisReconnectDelayMs(50, 0) >= 3750);
    assert.equal(redisWhere('redis://user:secret@10.1.2.3:6380/0'), '10.1.2.3:6380');
  });
});

describe('a peer given several trackers', () => {
  test('without jitter it tries the next in the list, waiting 0.5 s, 1 s, 2 s... up to 10 s', () => {
    const seen = [0, 1, 2, 3, 4, 5, 6].map((a) => nextTracker(3, a % 3, a, null));
    assert.deepEqual(seen.map((s) => s.index), [1, 2, 0, 1, 2, 0, 1]);
    assert.deepEqual(seen.map((s) => s.delayMs), [500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    assert.deepEqual(nextTracker(1, 0, 0, null), { index: 0, delayMs: 500 });
  });

  test('with jitter it never retries the tracker it lost while there is another, spreads over the others, and waits at most a quarter longer', () => {
    const rng = seededRng(7);
    const picks = new Map<number, number>();
    for (let i = 0; i < 3000; i++) {
      const { index, delayMs } = nextTracker(4, 2, 0, rng);
      assert.notEqual(index, 2);
      assert.ok(delayMs >= 500 && delayMs <= 625, `waited ${delayMs}`);
      picks.set(index, (picks.get(index) ?? 0) + 1);
    }
    for (const [i, n] of picks) assert.ok(n > 850 && n < 1150, `tracker ${i} picked ${n} times of 3000`);
    assert.equal(nextTracker(1, 0, 3, seededRng(1)).index, 0);
  });

  test('--tracker takes a comma-separated list or the flag repeated; each must be a tracker URL', () => {
    const a = 'ws://127.0.0.1:8091/tracker';
    const b = 'wss://t2.example/tracker';
    assert.deepEqual(trackerUrls(parsePeerConfig(['--tracker', `${a},${b}`]) as { tracker: string }), [a, b]);
    assert.deepEqual(trackerUrls(parsePeerConfig(['--tracker', a, '--tracker', b]) as { tracker: string }), [a, b]);
    assert.deepEqual(trackerUrls(parsePeerConfig([], { TRACKER_URL: `${b}, ${a}` }) as { tracker: string }), [b, a]);
    assert.throws(() => parsePeerConfig(['--tracker', `${a},http://x/tracker`]), (e: Error) => e instanceof ConfigError && /comma-separated list of ws/.test(e.message));
    assert.throws(() => parsePeerConfig(['--tracker', `${a},`]), ConfigError);
  });
});
