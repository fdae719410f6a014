/**
 * What the tracker takes from a peer on trust, and what it does not: the
 * address it hands out, the probe's verdict, the statistics it credits, and
 * the offload it reports.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { offloadRatio } from '../../origin/offload.ts';
import { clientAddress, normaliseAddress, peerWireUrl } from '../../origin/peer-address.ts';
import { ZERO_STATS, creditReport } from '../../origin/peer-stats.ts';
import { type Probe, ProbeQueue, type ProbeResult, judgeFirstFrame } from '../../origin/reachability-probe.ts';
import { MAX_REPORTED_BYTES_PER_SEC, MAX_REPORTED_HASH_FAILURES_PER_SEC, MAX_REPORTED_NEIGHBOURS, MAX_REPORTED_STALLS_PER_SEC, PROTOCOL_VERSION } from '../../shared/limits.ts';
import type { PeerStats } from '../../shared/tracker-protocol.ts';
import { renditionPeerPath } from '../../shared/rendition.ts';
import { encodeWire } from '../../shared/wire-protocol.ts';

describe('the address a peer is listed under', () => {
  const rows: [string, string | null, string | null, string | null][] = [
    ['host and path from the connection, port from the join', 'ws://evil.example:4000/anything?x=1', '127.0.0.1', 'ws://127.0.0.1:4000/peer'],
    ['an IPv4 client of a dual-stack socket', 'ws://127.0.0.1:4001/peer', '::ffff:10.1.2.3', 'ws://10.1.2.3:4001/peer'],
    ['IPv6 gets brackets', 'ws://[::1]:4002/peer', '::1', 'ws://[::1]:4002/peer'],
    ['wss keeps its scheme', 'wss://a.example:443/peer', '192.0.2.7', 'wss://192.0.2.7:443/peer'],
    ['the default port when none is given', 'ws://a.example/peer', '192.0.2.7', 'ws://192.0.2.7:80/peer'],
    ['no URL: not listable', null, '127.0.0.1', null],
    ['no address: not listable', 'ws://127.0.0.1:4000/peer', null, null],
    ['an unparseable URL: not listable', 'ws://127.0.0.1:99999/peer', '127.0.0.1', null],
  ];
  for (const [name, advertised, address, expected] of rows) {
    test(name, () => assert.equal(peerWireUrl(advertised, address === null ? null : normaliseAddress(address)), expected));
  }

  test("a rendition's tracker lists the peer at its own path, whatever path the peer gave", () => {
    assert.equal(peerWireUrl('ws://evil.example:4000/anything', '127.0.0.1', renditionPeerPath('480p')), 'ws://127.0.0.1:4000/peer/480p');
    assert.equal(peerWireUrl('wss://a.example:4443/peer/720p', '::1', renditionPeerPath('360p')), 'wss://[::1]:4443/peer/360p');
    // Without one (a channel's tracker, a tracker replica) the path stays /peer.
    assert.equal(peerWireUrl('ws://a.example:4000/peer/720p', '192.0.2.7'), 'ws://192.0.2.7:4000/peer');
  });

  test('the client address: the socket unless a trusted header is configured, then its last entry', () => {
    const h = { 'x-forwarded-for': '6.6.6.6, 203.0.113.9' };
    assert.equal(clientAddress('::ffff:127.0.0.1', h, null), '127.0.0.1', 'an untrusted header is ignored');
    assert.equal(clientAddress('127.0.0.1', h, 'X-Forwarded-For'), '203.0.113.9', 'the entry the proxy appended, not what the client wrote');
    assert.equal(clientAddress('127.0.0.1', {}, 'x-forwarded-for'), null, 'trusted but missing');
    assert.equal(clientAddress('127.0.0.1', { 'x-forwarded-for': 'evil.example' }, 'x-forwarded-for'), null, 'not an address');
  });
});

describe('the probe verdict on the first frame', () => {
  const expected = { streamId: 'live', peerId: 'alice' };
  const hs = (peerId: string, streamId = 'live', version = PROTOCOL_VERSION) => encodeWire({ type: 'handshake', version, streamId, peerId });
  const rows: [string, Uint8Array | null, ProbeResult['ok'], string?][] = [
    ['the peer that joined', hs('alice'), true],
    ['another peer (someone else\'s port)', hs('bob'), false, 'PROBE_WRONG_PEER'],
    ['another stream', hs('alice', 'other'), false, 'PROBE_WRONG_PEER'],
    ['another version', hs('alice', 'live', PROTOCOL_VERSION + 1), false, 'PROBE_NOT_A_PEER'],
    ['a text frame', null, false, 'PROBE_NOT_A_PEER'],
    ['not a handshake', encodeWire({ type: 'keep-alive' }), false, 'PROBE_NOT_A_PEER'],
    ['garbage', new Uint8Array([0, 1]), false, 'PROBE_NOT_A_PEER'],
  ];
  for (const [name, frame, ok, code] of rows) {
    test(name, () => {
      const r = judgeFirstFrame(frame, expected);
      assert.equal(r.ok, ok);
      if (!r.ok) assert.equal(r.code, code);
    });
  }
});

describe('probe queue', () => {
  test('at most maxConcurrent at once, in join order; a peer that left is not reported', async () => {
    let running = 0;
    let peak = 0;
    const started: string[] = [];
    const resolvers = new Map<string, (r: ProbeResult) => void>();
    const probe: Probe = (_url, peerId, signal) =>
      new Promise((resolve) => {
        running++;
        peak = Math.max(peak, running);
        started.push(peerId);
        const done = (r: ProbeResult) => {
          running--;
          resolve(r);
        };
        resolvers.set(peerId, done);
        signal.addEventListener('abort', () => done({ ok: false, code: 'PROBE_UNREACHABLE', message: 'abandoned' }));
      });
    const results: string[] = [];
    const q = new ProbeQueue(probe, 2, (job, r) => results.push(`${job.peerId}:${r.ok}`));
    const jobs = ['a', 'b', 'c', 'd', 'e'].map((peerId) => ({ peerId, url: 'ws://127.0.0.1:1/peer' }));
    for (const j of jobs) q.add(j);
    assert.deepEqual(started, ['a', 'b']);
    q.forget(jobs[3] as (typeof jobs)[number]);
    q.forget(jobs[1] as (typeof jobs)[number]);
    await new Promise((r) => setImmediate(r));
    resolvers.get('a')?.({ ok: true });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(started, ['a', 'b', 'c', 'e'], 'd left while waiting, b while probed');
    assert.equal(peak, 2);
    resolvers.get('c')?.({ ok: true });
    resolvers.get('e')?.({ ok: false, code: 'PROBE_TIMEOUT', message: '' });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(results, ['a:true', 'c:true', 'e:false']);
    assert.equal(running, 0);
  });
});

describe('credited statistics', () => {
  const s = (o: Partial<PeerStats>): PeerStats => ({ ...ZERO_STATS, ...o });
  test('honest growth is credited whole', () => {
    const prev = s({ p2pBytes: 1000, originBytes: 500, stalls: 1, stallMs: 300 });
    const now = s({ p2pBytes: 300_000, originBytes: 100_500, stalls: 2, stallMs: 900, neighbours: 5, hashFailures: 1 });
    const c = creditReport(prev, prev, now, 2000);
    assert.deepEqual(c.growth, s({ p2pBytes: 299_000, originBytes: 100_000, stalls: 1, stallMs: 600, hashFailures: 1 }));
    assert.deepEqual(c.credited, now);
  });

  test('a counter that went down credits nothing', () => {
    const prev = s({ p2pBytes: 5e15, stalls: 1_000_000 });
    const c = creditReport(s({ p2pBytes: 10 }), prev, s({ p2pBytes: 1, stalls: 0 }), 2000);
    assert.deepEqual(c.growth, ZERO_STATS);
    assert.equal(c.credited.p2pBytes, 10);
  });

  test('no counter grows faster than a fast honest node could make it', () => {
    const huge = Number.MAX_SAFE_INTEGER;
    const c = creditReport(ZERO_STATS, ZERO_STATS, s({ p2pBytes: huge, originBytes: huge, uploadedBytes: huge, stalls: huge, stallMs: huge, hashFailures: huge, neighbours: huge }), 2000);
    assert.deepEqual(c.growth, s({
      p2pBytes: 2 * MAX_REPORTED_BYTES_PER_SEC,
      originBytes: 2 * MAX_REPORTED_BYTES_PER_SEC,
      uploadedBytes: 2 * MAX_REPORTED_BYTES_PER_SEC,
      stalls: 2 * MAX_REPORTED_STALLS_PER_SEC,
      stallMs: 2000,
      hashFailures: 2 * MAX_REPORTED_HASH_FAILURES_PER_SEC,
    }));
    assert.equal(c.credited.neighbours, MAX_REPORTED_NEIGHBOURS);
    assert.deepEqual(creditReport(ZERO_STATS, ZERO_STATS, s({ p2pBytes: huge }), 0).growth, ZERO_STATS, 'two reports at once: nothing');
  });

  test('alternating huge and zero, 1000 reports 2 s apart: totals stay within the link bound', () => {
    let credited = ZERO_STATS;
    let prev = ZERO_STATS;
    for (let i = 0; i < 1000; i++) {
      const report = i % 2 === 0 ? s({ p2pBytes: Number.MAX_SAFE_INTEGER, stalls: 1e6 }) : ZERO_STATS;
      credited = creditReport(credited, prev, report, 2000).credited;
      prev = report;
    }
    assert.ok(credited.p2pBytes <= 2000 * MAX_REPORTED_BYTES_PER_SEC, `${credited.p2pBytes}`);
    assert.ok(credited.stalls <= 2000 * MAX_REPORTED_STALLS_PER_SEC);
    assert.ok(Number.isSafeInteger(credited.p2pBytes));
  });
});

describe('measured offload', () => {
  const rows: [number, number, number][] = [
    [0, 0, 0],
    [100, 0, 0],
    [250, 1000, 0.75],
    [0, 1000, 1],
    [5000, 1000, 0],
  ];
  for (const [egressBytes, audienceBytes, expected] of rows) {
    test(`egress ${egressBytes}, audience ${audienceBytes} -> ${expected}`, () => assert.equal(offloadRatio({ egressBytes, audienceBytes }), expected));
  }
});
