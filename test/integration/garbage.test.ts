/**
 * Garbage over real sockets: a live peer node's /peer and a live origin's
 * /tracker are fed malformed, oversized, mistyped and random frames, each over
 * its own WebSocket. Each such connection is closed with a close code and a
 * reason, and nobody else notices: the node's honest neighbour link stays up,
 * both nodes' players keep receiving the origin's segments, a tracker client
 * joined alongside keeps receiving announcements, and /healthz still answers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Origin } from '../../origin/origin.ts';
import type { PeerNode } from '../../peer-node/node.ts';
import { PlaybackModel, type PlaybackResult } from '../../harness/playback-model.ts';
import { MAX_TRACKER_INBOUND_BYTES, MAX_WIRE_FRAME_BYTES, PROTOCOL_VERSION } from '../../shared/limits.ts';
import { type Rng, seededRng } from '../../shared/rng.ts';
import { encodePeerToTracker } from '../../shared/tracker-protocol.ts';
import { type WireMessage, encodeWire } from '../../shared/wire-protocol.ts';
import { type Closed, type RawClient, closedWithin, handshakeFrame, isAnnouncement, rawClient } from '../helpers/hostile-peer.ts';
import { startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { originSha, startTestPeer, trackerUrl } from '../helpers/swarm.ts';
import { waitFor } from '../helpers/wait.ts';

const SEED = 0x9a4b_a9e;
const FUZZ_CONNECTIONS = 300;
const FUZZ_FRAMES_PER_CONNECTION = 64;
const RAPID_FRAMES = 5000;
/** A connection fed garbage must be closed within this. */
const CLOSE_WITHIN_MS = 10_000;

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};
const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v & 0xffff);
  return b;
};
const frame = (...parts: (number[] | Uint8Array)[]) => Buffer.concat(parts.map((p) => (Array.isArray(p) ? Buffer.from(p) : Buffer.from(p))));

function randomValidWire(rng: Rng): WireMessage {
  const seq = Math.floor(rng() * 2 ** 32);
  const piece = Math.floor(rng() * 1024);
  switch (Math.floor(rng() * 8)) {
    case 0:
      return { type: 'request', seq, piece };
    case 1:
      return { type: 'cancel', seq, piece };
    case 2:
      return { type: 'have', pieces: [{ seq, piece }] };
    case 3:
      return { type: 'bitfield', segments: [{ seq, pieceCount: 1 + piece, bits: randomBytes(Math.ceil((1 + piece) / 8)) }] };
    case 4:
      return { type: 'piece', seq, piece, data: randomBytes(1 + Math.floor(rng() * 64)) };
    case 5:
      return { type: 'handshake', version: PROTOCOL_VERSION, streamId: 'live', peerId: `f${Math.floor(rng() * 1e9)}` };
    case 6:
      return { type: 'reject', seq, piece };
    default:
      return { type: 'interested' };
  }
}

/** Random bytes, or a valid frame as is (so a connection lives on to its next frame), bit-flipped, truncated or extended. */
function garbageWire(rng: Rng): Buffer {
  const kind = rng();
  if (kind < 0.25) return randomBytes(Math.floor(rng() * 48));
  const valid = Buffer.from(encodeWire(randomValidWire(rng)));
  if (kind < 0.45) return valid;
  if (kind < 0.65) {
    for (let i = 0; i < 1 + rng() * 3; i++) {
      const at = Math.floor(rng() * valid.length);
      valid[at] = (valid[at] as number) ^ (1 << Math.floor(rng() * 8));
    }
    return valid;
  }
  if (kind < 0.85) return valid.subarray(0, Math.floor(rng() * valid.length));
  return Buffer.concat([valid, randomBytes(1 + Math.floor(rng() * 8))]);
}

/** Random text, mutated tracker messages, or random bytes sent as a "text" frame. */
function garbageTracker(rng: Rng): { data: Buffer | string; binary: boolean } {
  const kind = rng();
  const join = encodePeerToTracker({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId: `g${Math.floor(rng() * 1e9)}`, url: null, uploadKbps: 0 });
  if (kind < 0.15) return { data: randomBytes(Math.floor(rng() * 64)), binary: true };
  if (kind < 0.3) return { data: randomBytes(Math.floor(rng() * 64)), binary: false };
  if (kind < 0.5) return { data: join.slice(0, Math.floor(rng() * join.length)), binary: false };
  if (kind < 0.75) {
    const chars = [...join];
    for (let i = 0; i < 1 + rng() * 3; i++) chars[Math.floor(rng() * chars.length)] = String.fromCharCode(32 + Math.floor(rng() * 95));
    return { data: chars.join(''), binary: false };
  }
  const junk = [null, 1, -1, 1e309, 'x', [], {}, true, 'a'.repeat(300)];
  const pick = () => junk[Math.floor(rng() * junk.length)];
  const types = ['join', 'announce', 'get-peers', 'leave', 'welcome', 'nope', ''];
  return { data: JSON.stringify({ type: types[Math.floor(rng() * types.length)], version: pick(), streamId: pick(), peerId: pick(), url: pick(), stats: pick(), max: pick() }), binary: false };
}

interface Outcome {
  name: string;
  code: number | null;
  reason: string;
}

describe('garbage over real sockets', () => {
  let origin: Origin;
  let target: PeerNode;
  let neighbour: PeerNode;
  let models: PlaybackModel[] = [];
  let watcher: RawClient;
  let watcherSegmentsBefore = 0;
  let playedBefore: PlaybackResult[] = [];
  const clients: RawClient[] = [];
  let peerUrl = '';
  let tracker = '';

  const open = (url: string, o: { maxPayload?: number } = {}) => {
    const c = rawClient(url, o);
    clients.push(c);
    return c;
  };
  const segmentsSeen = () => watcher.frames.filter(isAnnouncement).length;

  before(async () => {
    origin = await startTestOrigin();
    const sha = originSha(origin);
    tracker = trackerUrl(origin);
    await waitForSegments(origin, 2);
    target = await startTestPeer(origin, { peerId: 'target', seed: 1 });
    neighbour = await startTestPeer(origin, { peerId: 'neighbour', seed: 2 });
    peerUrl = `ws://127.0.0.1:${target.port}/peer`;
    await waitFor('target and neighbour to connect', () => target.swarm.handshaken().some((n) => n.peerId === 'neighbour'), 15_000);
    watcher = rawClient(tracker);
    await watcher.opened;
    watcher.ws.send(encodePeerToTracker({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'watcher', url: null, uploadKbps: 0 }));
    models = [target, neighbour].map((p) => PlaybackModel.forPeer(p.url, sha));
    for (const m of models) m.start();
    await waitFor('both players to play', () => models.every((m) => m.current().segmentsDue >= 2), 20_000);
    playedBefore = models.map((m) => m.current());
    watcherSegmentsBefore = segmentsSeen();
  });

  after(async () => {
    await Promise.all(models.map((m) => m.close()));
    for (const c of [...clients, watcher]) c?.ws.terminate();
    await target?.close();
    await neighbour?.close();
    await origin?.close();
  });

  describe('the peer wire (/peer)', () => {
    const cases: { name: string; handshake: boolean; send: (Buffer | string)[]; code: number; reason: RegExp }[] = [
      { name: 'text frame before the handshake', handshake: false, send: ['hello'], code: 1003, reason: /binary frames only/ },
      { name: 'text frame after the handshake', handshake: true, send: ['{"type":"request"}'], code: 1003, reason: /binary frames only/ },
      { name: 'frame one byte over maxPayload', handshake: true, send: [Buffer.alloc(MAX_WIRE_FRAME_BYTES + 1, 10)], code: 1009, reason: /^ERR_TOO_LARGE: / },
      { name: 'frame of exactly maxPayload (a piece too large)', handshake: true, send: [Buffer.alloc(MAX_WIRE_FRAME_BYTES, 10)], code: 1008, reason: /^ERR_TOO_LARGE: / },
      { name: 'empty frame', handshake: true, send: [Buffer.alloc(0)], code: 1008, reason: /^ERR_MALFORMED: / },
      { name: 'empty frame before the handshake', handshake: false, send: [Buffer.alloc(0)], code: 1008, reason: /^ERR_MALFORMED: / },
      { name: 'unknown opcode', handshake: true, send: [frame([200, 1, 2, 3])], code: 1008, reason: /^ERR_UNKNOWN_TYPE: / },
      { name: 'truncated request', handshake: true, send: [frame([7, 0, 0])], code: 1008, reason: /^ERR_MALFORMED: / },
      { name: 'trailing bytes', handshake: true, send: [frame([3, 0])], code: 1008, reason: /^ERR_MALFORMED: / },
      { name: 'piece index out of range', handshake: true, send: [frame([7], u32(1), u16(5000))], code: 1008, reason: /^ERR_BAD_FIELD: / },
      { name: 'empty piece', handshake: true, send: [frame([10], u32(1), u16(0))], code: 1008, reason: /^ERR_BAD_FIELD: / },
      { name: 'bitfield of 601 segments', handshake: true, send: [frame([1], u16(601))], code: 1008, reason: /^ERR_BAD_FIELD: / },
      { name: 'have of 8193 entries', handshake: true, send: [frame([2], u16(1), u32(1), u16(8193), Buffer.alloc(8193 * 2))], code: 1008, reason: /^ERR_BAD_FIELD: / },
      { name: 'peer id not UTF-8', handshake: false, send: [frame([0], u16(PROTOCOL_VERSION), [4], Buffer.from('live'), [2, 0xff, 0xfe])], code: 1008, reason: /^ERR_BAD_FIELD: / },
      { name: 'a message before the handshake', handshake: false, send: [frame([3])], code: 1008, reason: /^expected handshake$/ },
      { name: 'another protocol version', handshake: false, send: [Buffer.from(handshakeFrame('g-version', 'live', 9))], code: 1008, reason: /^protocol version 9 unsupported$/ },
      { name: 'another stream', handshake: false, send: [Buffer.from(handshakeFrame('g-stream', 'other'))], code: 1008, reason: /^other stream$/ },
      { name: "the node's own peer id", handshake: false, send: [Buffer.from(handshakeFrame('target'))], code: 1008, reason: /^connected to self$/ },
      { name: 'a second handshake', handshake: true, send: [Buffer.from(handshakeFrame('g-again'))], code: 1008, reason: /^second handshake$/ },
    ];
    let n = 0;
    for (const c of cases) {
      test(`${c.name}: close ${c.code}`, async () => {
        const client = open(peerUrl);
        assert.equal(await client.opened, true);
        if (c.handshake) client.ws.send(handshakeFrame(`g-${n++}`));
        for (const m of c.send) client.ws.send(m, { binary: typeof m !== 'string' });
        const closed = await closedWithin(client, CLOSE_WITHIN_MS);
        assert.ok(closed, 'still open');
        assert.equal(closed.code, c.code, `closed ${closed.code} ${closed.reason}`);
        assert.match(closed.reason, c.reason);
      });
    }

    test('an upgrade on another path is dropped; raw non-HTTP bytes are dropped', async () => {
      const wrong = open(`ws://127.0.0.1:${target.port}/tracker`);
      assert.equal(await wrong.opened, false);
      const sock = connect(target.port, '127.0.0.1');
      sock.on('error', () => undefined);
      sock.on('connect', () => sock.write(randomBytes(4096)));
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('raw garbage socket not closed')), CLOSE_WITHIN_MS);
        sock.on('close', () => {
          clearTimeout(t);
          resolve();
        });
      });
    });

    test(`rapid garbage: ${RAPID_FRAMES} random frames back to back are cut off at the first bad one`, async (t) => {
      const client = open(peerUrl);
      assert.equal(await client.opened, true);
      client.ws.send(handshakeFrame('g-rapid'));
      await waitFor('handshake accepted', () => target.swarm.handshaken().some((n) => n.peerId === 'g-rapid'));
      const errorsBefore = target.counters.protocolErrors;
      const rng = seededRng(SEED);
      let sent = 0;
      for (; sent < RAPID_FRAMES && client.isOpen(); sent++) client.ws.send(garbageWire(rng));
      const closed = await closedWithin(client, CLOSE_WITHIN_MS);
      t.diagnostic(`sent ${sent} frames; closed ${closed?.code} ${closed?.reason}`);
      assert.ok(closed, 'still open');
      assert.equal(closed.code, 1008);
      assert.match(closed.reason, /^(ERR_[A-Z_]+: |second handshake)/);
      assert.ok(target.counters.protocolErrors - errorsBefore <= 1, 'frames after the close were still read');
    });

    test(`fuzz: ${FUZZ_CONNECTIONS} connections of random and mutated frames are each closed with a code and a reason`, async (t) => {
      const rng = seededRng(SEED + 1);
      const outcomes: Outcome[] = [];
      let frames = 0;
      let survived = 0;
      const one = async (i: number) => {
        const client = open(peerUrl);
        if (!(await client.opened)) {
          outcomes.push({ name: `fuzz-${i}`, code: null, reason: `refused ${client.refusedStatus}` });
          return;
        }
        client.ws.send(handshakeFrame(`fuzz-${i}`));
        let closed: Closed | null = null;
        for (let f = 0; f < FUZZ_FRAMES_PER_CONNECTION && !closed; f++) {
          client.ws.send(garbageWire(rng));
          frames++;
          closed = await closedWithin(client, 5);
        }
        if (!closed) {
          // Every frame happened to be valid: end with one that cannot be.
          survived++;
          client.ws.send(frame([255]));
          frames++;
        }
        closed ??= await closedWithin(client, CLOSE_WITHIN_MS);
        outcomes.push({ name: `fuzz-${i}`, code: closed?.code ?? null, reason: closed?.reason ?? 'still open' });
      };
      // A few at a time, as a handful of misbehaving neighbours would.
      for (let i = 0; i < FUZZ_CONNECTIONS; i += 4) await Promise.all([0, 1, 2, 3].filter((k) => i + k < FUZZ_CONNECTIONS).map((k) => one(i + k)));
      const byCode = new Map<string, number>();
      for (const o of outcomes) {
        const key = `${o.code} ${o.reason.split(':')[0]}`;
        byCode.set(key, (byCode.get(key) ?? 0) + 1);
      }
      t.diagnostic(`${frames} garbage frames over ${outcomes.length} connections (${survived} survived ${FUZZ_FRAMES_PER_CONNECTION} frames); closes: ${[...byCode].map(([k, v]) => `${k} x${v}`).join(', ')}`);
      for (const o of outcomes) {
        assert.ok(o.code === 1008 || o.code === 1003 || o.code === 1009, `${o.name}: ${o.code} ${o.reason}`);
        assert.ok(o.reason.length > 0, `${o.name}: closed without a reason`);
      }
    });
  });

  describe('the tracker (/tracker)', () => {
    const join = (peerId: string, extra: Record<string, unknown> = {}) =>
      JSON.stringify({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId, url: null, uploadKbps: 0, ...extra });
    const text = (data: string | Buffer) => ({ data, binary: false });
    const cases: { name: string; send: { data: string | Buffer; binary: boolean }[]; code: number; reason: RegExp; error?: string }[] = [
      { name: 'not JSON', send: [text('{"type":')], code: 1008, reason: /^ERR_MALFORMED: /, error: 'MALFORMED' },
      { name: 'a JSON array', send: [text('[1,2]')], code: 1008, reason: /^ERR_MALFORMED: /, error: 'MALFORMED' },
      { name: 'a binary frame', send: [{ data: Buffer.from([1, 2, 3]), binary: true }], code: 1008, reason: /^ERR_MALFORMED: /, error: 'MALFORMED' },
      { name: 'an unknown type', send: [text('{"type":"nope"}')], code: 1008, reason: /^ERR_UNKNOWN_TYPE: /, error: 'UNKNOWN_TYPE' },
      { name: 'a bad field', send: [text(join('has space'))], code: 1008, reason: /^ERR_BAD_FIELD: /, error: 'BAD_FIELD' },
      { name: 'another version', send: [text(join('g-v', { version: 9 }))], code: 1008, reason: /^ERR_VERSION: /, error: 'VERSION' },
      { name: 'get-peers before join', send: [text('{"type":"get-peers","max":5}')], code: 1008, reason: /^NOT_JOINED: /, error: 'NOT_JOINED' },
      { name: 'a second join', send: [text(join('g-twice')), text(join('g-twice-2'))], code: 1008, reason: /^ALREADY_JOINED: /, error: 'ALREADY_JOINED' },
      { name: 'invalid UTF-8 in a text frame', send: [text(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))], code: 1007, reason: /^ERR_MALFORMED: / },
      { name: 'a frame one byte over maxPayload', send: [text('x'.repeat(MAX_TRACKER_INBOUND_BYTES + 1))], code: 1009, reason: /^ERR_TOO_LARGE: / },
    ];
    for (const c of cases) {
      test(`${c.name}: close ${c.code}`, async () => {
        const client = open(tracker);
        assert.equal(await client.opened, true);
        for (const m of c.send) client.ws.send(m.data, { binary: m.binary });
        const closed = await closedWithin(client, CLOSE_WITHIN_MS);
        assert.ok(closed, 'still open');
        assert.equal(closed.code, c.code, `closed ${closed.code} ${closed.reason}`);
        assert.match(closed.reason, c.reason);
        if (c.error) {
          const errors = client.frames.filter((f) => !f.binary).map((f) => JSON.parse(f.data.toString()) as { type: string; code?: string }).filter((m) => m.type === 'error');
          assert.deepEqual(errors.map((e) => e.code), [c.error]);
        }
      });
    }

    test('a frame of exactly maxPayload is read (the limit is the one in limits.ts)', async () => {
      const client = open(tracker);
      assert.equal(await client.opened, true);
      const base = join('g-at-limit', { pad: '' });
      const text = join('g-at-limit', { pad: 'x'.repeat(MAX_TRACKER_INBOUND_BYTES - base.length) });
      assert.equal(Buffer.byteLength(text), MAX_TRACKER_INBOUND_BYTES);
      client.ws.send(text);
      await waitFor('welcome', () => client.frames.some((f) => f.data.toString().startsWith('{"type":"welcome"')), CLOSE_WITHIN_MS);
      assert.equal(client.isOpen(), true);
      client.ws.close(1000);
    });

    test('an upgrade on another path is dropped', async () => {
      const wrong = open(`${tracker.replace(/\/tracker$/, '/peer')}`);
      assert.equal(await wrong.opened, false);
    });

    test(`rapid garbage: ${RAPID_FRAMES} frames back to back are cut off at once`, async (t) => {
      const rejected = async () => (await origin.metrics.trackerRejected.get()).values.reduce((n, v) => n + v.value, 0);
      const rejectedBefore = await rejected();
      const client = open(tracker);
      assert.equal(await client.opened, true);
      let sent = 0;
      for (; sent < RAPID_FRAMES && client.isOpen(); sent++) client.ws.send(randomBytes(32).toString('base64'));
      const closed = await closedWithin(client, CLOSE_WITHIN_MS);
      t.diagnostic(`sent ${sent} frames; closed ${closed?.code} ${closed?.reason}`);
      assert.ok(closed, 'still open');
      assert.equal(closed.code, 1008);
      assert.match(closed.reason, /^ERR_MALFORMED: /);
      const errors = client.frames.filter((f) => f.data.toString().startsWith('{"type":"error"'));
      assert.equal(errors.length, 1, 'one error message, then silence');
      assert.equal((await rejected()) - rejectedBefore, 1, 'frames after the refusal were still read');
    });

    test(`fuzz: ${FUZZ_CONNECTIONS} connections of random and mutated messages are each closed with a code and a reason`, async (t) => {
      const rng = seededRng(SEED + 2);
      const outcomes: Outcome[] = [];
      let frames = 0;
      const one = async (i: number) => {
        const client = open(tracker);
        if (!(await client.opened)) {
          outcomes.push({ name: `fuzz-${i}`, code: null, reason: 'refused' });
          return;
        }
        let closed: Closed | null = null;
        // The rate limit (burst 40) ends any connection that keeps talking, valid or not.
        for (let f = 0; f < 60 && !closed; f++) {
          const g = garbageTracker(rng);
          client.ws.send(g.data, { binary: g.binary });
          frames++;
          closed = await closedWithin(client, 5);
        }
        closed ??= await closedWithin(client, CLOSE_WITHIN_MS);
        outcomes.push({ name: `fuzz-${i}`, code: closed?.code ?? null, reason: closed?.reason ?? 'still open' });
      };
      for (let i = 0; i < FUZZ_CONNECTIONS; i += 10) await Promise.all(Array.from({ length: Math.min(10, FUZZ_CONNECTIONS - i) }, (_, k) => one(i + k)));
      const byCode = new Map<string, number>();
      for (const o of outcomes) {
        const key = `${o.code} ${o.reason.split(':')[0]}`;
        byCode.set(key, (byCode.get(key) ?? 0) + 1);
      }
      t.diagnostic(`${frames} garbage frames over ${outcomes.length} connections; closes: ${[...byCode].map(([k, v]) => `${k} x${v}`).join(', ')}`);
      for (const o of outcomes) {
        // A well-formed `leave` among the junk is answered as any leave is: 1000 bye.
        if (o.code === 1000 && o.reason === 'bye') continue;
        assert.ok(o.code === 1008 || o.code === 1007 || o.code === 1009, `${o.name}: ${o.code} ${o.reason}`);
        assert.match(o.reason, /^[A-Z_]+: /, `${o.name}: closed without a reason`);
      }
    });
  });

  describe('everyone else', () => {
    // Each test below stands alone: it counts from the before hook's snapshot (the garbage tests above
    // fall in that span when they run) and sends garbage of its own where it needs some to have come.
    test('the honest neighbour link stays up and both players keep receiving the origin\'s segments', async (t) => {
      const errorsBefore = target.counters.protocolErrors;
      const junk = open(peerUrl);
      await junk.opened;
      // A binary frame no decoder reads (unknown message type): the kind of garbage the counter counts.
      junk.ws.send(Buffer.from([0xee, 0x01, 0x02]));
      assert.ok(await closedWithin(junk, CLOSE_WITHIN_MS), 'the target kept a connection that sent garbage');
      await waitFor('5 more segments in each player', () => models.every((m, i) => m.current().digests.length - (playedBefore[i] as PlaybackResult).digests.length >= 5), 20_000, 100);
      models.map((m) => m.current()).forEach((r, i) => {
        const before = playedBefore[i] as PlaybackResult;
        t.diagnostic(`${i === 0 ? 'target' : 'neighbour'}: ${r.digests.length - before.digests.length} segments during and after the garbage, ${r.segmentsOnTime}/${r.segmentsDue} on time, corrupt ${r.corrupt}, failed ${r.failed}`);
        assert.equal(r.corrupt, 0);
        assert.equal(r.failed, 0);
        assert.ok(r.segmentsOnTime / r.segmentsDue >= 0.9, `continuity ${r.segmentsOnTime}/${r.segmentsDue}`);
      });
      assert.ok(target.swarm.handshaken().some((n) => n.peerId === 'neighbour'), 'the target lost its honest neighbour');
      assert.ok(target.counters.protocolErrors > errorsBefore, 'the garbage was not counted as a protocol error');
    });

    test('a tracker client joined alongside keeps receiving announcements', async (t) => {
      const junk = open(tracker);
      await junk.opened;
      junk.ws.send('{"type":"nope"}');
      assert.ok(await closedWithin(junk, CLOSE_WITHIN_MS), 'the tracker kept a connection that sent garbage');
      const during = await waitFor('5 announcements to the watcher', () => {
        const n = segmentsSeen() - watcherSegmentsBefore;
        return n >= 5 ? n : undefined;
      }, 20_000, 100);
      t.diagnostic(`watcher: ${during} segment announcements during and after the garbage`);
      assert.equal(watcher.isOpen(), true);
    });

    test('both processes still answer /healthz', async () => {
      for (const url of [target.url, origin.url]) {
        const res = await fetch(`${url}/healthz`);
        assert.equal(res.status, 200);
        assert.equal(((await res.json()) as { status: string }).status, 'ok');
      }
    });
  });
});
