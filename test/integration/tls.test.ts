/**
 * TLS end to end, with a private CA the test makes itself (openssl CLI) and
 * a leaf for 127.0.0.1: a real origin serving https and wss on a real ffmpeg
 * source, two peer nodes given `--ca` that serve their player and peer wire
 * over TLS (so they advertise and are dialled at wss://), a third with `--ca`
 * that serves plain ws, and a peer without `--ca` that must fail to join
 * with a clear error in its log, not crash.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import type { Origin } from '../../origin/origin.ts';
import { peerConfig } from '../../peer-node/config.ts';
import { LinkShaper } from '../../peer-node/link.ts';
import { type PeerNode, createPeerNode } from '../../peer-node/node.ts';
import { OriginFetcher, httpOriginRange } from '../../peer-node/origin-fetch.ts';
import { systemClock } from '../../shared/clock.ts';
import { loadTls } from '../../shared/tls.ts';
import { capturingLog, startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { originSha, startTestPeer, trackerUrl } from '../helpers/swarm.ts';
import { type TestCerts, httpsGet, makeTestCerts } from '../helpers/tls-certs.ts';
import { startScript } from '../../harness/process.ts';
import { waitFor } from '../helpers/wait.ts';

describe('TLS: origin on https/wss, peers trusting a private CA', () => {
  let certs: TestCerts;
  let origin: Origin | undefined;
  const peers: PeerNode[] = [];
  let sha: (seq: number) => string | null;

  before(async () => {
    certs = makeTestCerts();
    origin = await startTestOrigin({ tlsCert: certs.cert, tlsKey: certs.key, ca: certs.ca });
    sha = originSha(origin);
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.close()));
    await origin?.close();
    certs.remove();
  });

  test('the origin serves https and wss; ingest is not on its public port', { timeout: 60_000 }, async () => {
    const o = origin as Origin;
    assert.match(o.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(trackerUrl(o), /^wss:\/\//);
    await waitForSegments(o, 2);
    const playlist = await httpsGet(`${o.url}/live/index.m3u8`, await readCa());
    assert.equal(playlist.status, 200);
    assert.match(playlist.body.toString(), /^#EXTM3U/);
    // ffmpeg PUTs plain HTTP to a loopback listener of the origin's own, not over the TLS port.
    assert.equal((await httpsGet(`${o.url}/ingest/${o.streamKey}/r1/s0.ts`, await readCa())).status, 404);
  });

  test('peers with --ca serving TLS join over wss, advertise wss://, and trade pieces with each other over it', { timeout: 90_000 }, async (t) => {
    const o = origin as Origin;
    for (const [i, peerId] of ['tls-a', 'tls-b'].entries()) {
      peers.push(await startTestPeer(o, { peerId, seed: i + 1, ca: certs.ca, tlsCert: certs.cert, tlsKey: certs.key }));
    }
    const [a, b] = peers as [PeerNode, PeerNode];
    for (const p of [a, b]) {
      assert.match(p.url, /^https:\/\//);
      const rec = await waitFor(`${p.peerId} joined`, () => o.tracker.registry.get(p.peerId), 20_000);
      assert.equal(rec.url, `wss://127.0.0.1:${p.port}/peer`);
    }
    // Each one's only neighbour is the other, over wss: bytes from peers came over TLS.
    await waitFor('pieces traded both ways', () => a.counters.p2pBytes > 0 && b.counters.p2pBytes > 0, 60_000, 250);
    assert.deepEqual(a.swarm.handshaken().map((n) => n.peerId), ['tls-b']);
    assert.equal(a.counters.hashFailures + b.counters.hashFailures, 0);
    // The peer wire does not answer plain ws.
    const plain = new WebSocket(`ws://127.0.0.1:${a.port}/peer`);
    const outcome = await new Promise<string>((resolve) => {
      plain.once('open', () => resolve('open'));
      plain.once('error', (e) => resolve(`error ${e.message}`));
    });
    plain.terminate();
    assert.notEqual(outcome, 'open');
    t.diagnostic(`p2p bytes: a ${a.counters.p2pBytes}, b ${b.counters.p2pBytes}; origin bytes: a ${a.counters.originBytes}, b ${b.counters.originBytes}`);
  });

  test('a peer with --ca but no certificate of its own joins over wss, advertises ws://, and trades with the TLS peers', { timeout: 90_000 }, async () => {
    const o = origin as Origin;
    const c = await startTestPeer(o, { peerId: 'plain-c', seed: 3, ca: certs.ca });
    peers.push(c);
    assert.match(c.url, /^http:\/\//);
    const rec = await waitFor('plain-c joined', () => o.tracker.registry.get('plain-c'), 20_000);
    assert.equal(rec.url, `ws://127.0.0.1:${c.port}/peer`);
    await waitFor('plain-c to have both TLS peers as neighbours', () => c.swarm.handshaken().length === 2, 30_000, 250);
    await waitFor('pieces from them', () => c.counters.p2pBytes > 0, 60_000, 250);
  });

  test("a peer's player gets its playlist and the origin's bytes over https", { timeout: 60_000 }, async () => {
    const a = peers[0] as PeerNode;
    const ca = await readCa();
    const playlist = await waitFor('a playlist', async () => {
      const r = await httpsGet(`${a.url}/live.m3u8`, ca);
      return r.status === 200 ? r.body.toString() : undefined;
    }, 30_000, 250);
    assert.match(playlist, /^#EXTM3U/);
    const uri = playlist.split('\n').find((l) => l.startsWith('live/seg-')) as string;
    const seq = Number(/seg-(\d+)\.ts/.exec(uri)?.[1]);
    const seg = await httpsGet(`${a.url}/${uri}`, ca);
    assert.equal(seg.status, 200);
    assert.equal(createHash('sha256').update(seg.body).digest('hex'), sha(seq));
  });

  test('an origin piece fetch over https, through a keep-alive agent trusting the CA; without the CA it fails', { timeout: 30_000 }, async () => {
    const o = origin as Origin;
    const s = o.window.latest(1)[0];
    assert.ok(s);
    const shaper = new LinkShaper(peerConfig(), systemClock);
    const trustingHttp = httpOriginRange(o.url, loadTls({ tlsCert: null, tlsKey: null, ca: certs.ca }).client);
    const untrustingHttp = httpOriginRange(o.url, {});
    const trusting = new OriginFetcher(trustingHttp.range, shaper, systemClock);
    const untrusting = new OriginFetcher(untrustingHttp.range, shaper, systemClock);
    try {
      const pieceSize = 16 * 1024;
      const piece = await fetchPiece(trusting, s.info.seq, 1, s.info.size, pieceSize);
      assert.ok(piece, 'no piece');
      assert.equal(createHash('sha256').update(piece).digest('base64url'), s.info.pieceHashes[1]);
      // A second fetch through the same agent.
      assert.ok(await fetchPiece(trusting, s.info.seq, 0, s.info.size, pieceSize));
      assert.equal(await fetchPiece(untrusting, s.info.seq, 0, s.info.size, pieceSize), null);
    } finally {
      trustingHttp.close();
      untrustingHttp.close();
    }
  });

  test('a peer without --ca fails to join, and says why in its log', { timeout: 30_000 }, async () => {
    const o = origin as Origin;
    const { log, entries } = capturingLog('warn');
    const lost = createPeerNode(peerConfig({ tracker: trackerUrl(o), port: 0, peerId: 'no-ca' }), { log });
    peers.push(lost);
    await lost.start();
    const entry = await waitFor('the refusal in the log', () => entries().find((e) => String(e.msg).startsWith('tracker TLS certificate not trusted')), 15_000);
    assert.equal(entry.level, 50, 'logged as an error');
    assert.equal(entry.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    assert.match(String(entry.msg), /pass --ca/);
    // It keeps retrying (a second refusal logged), never joined, never crashed.
    await waitFor('a retry, refused again', () => entries().filter((e) => String(e.msg).startsWith('tracker TLS certificate not trusted')).length >= 2, 15_000, 50);
    assert.equal(o.tracker.registry.get('no-ca'), undefined);
  });

  async function readCa(): Promise<Buffer> {
    const { readFile } = await import('node:fs/promises');
    return readFile(certs.ca);
  }
});

describe('TLS files that cannot be used stop the programs at start, in one line naming the flag', () => {
  let certs: TestCerts;
  before(() => {
    certs = makeTestCerts();
  });
  after(() => certs.remove());

  const cases: [string, string, (c: TestCerts) => string[], RegExp][] = [
    ['origin, a missing certificate', 'origin/main.ts', (c) => ['--port', '0', '--tls-cert', `${c.dir}/missing.pem`, '--tls-key', c.key], /^origin: --tls-cert: cannot read .*missing\.pem \(ENOENT\)/],
    ['origin, the key of another certificate', 'origin/main.ts', (c) => ['--port', '0', '--tls-cert', c.cert, '--tls-key', c.otherKey], /^origin: --tls-key: .* is not the key of the certificate/],
    ['peer, a CA file with no certificate', 'dist/peer.mjs', (c) => ['--ca', c.key], /^peer: --ca: .* holds no PEM certificate/],
    ['peer, a certificate without its key', 'dist/peer.mjs', (c) => ['--tls-cert', c.cert], /^peer: --tls-key is needed too/],
  ];
  for (const [name, script, args, message] of cases) {
    test(name, { timeout: 30_000 }, async () => {
      const p = startScript(script, args(certs));
      const { code } = await p.exited;
      assert.equal(code, 2);
      const lines = p.stderr().trim().split('\n');
      assert.equal(lines.length, 1, p.stderr());
      assert.match(lines[0] as string, message);
    });
  }
});

describe('without TLS flags: plain http and ws on 127.0.0.1, as before', () => {
  let origin: Origin | undefined;
  let peer: PeerNode | undefined;
  after(async () => {
    await peer?.close();
    await origin?.close();
  });

  test('origin, tracker, peer wire and origin fetches are plain', { timeout: 60_000 }, async () => {
    origin = await startTestOrigin();
    const o = origin;
    assert.match(o.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    peer = await startTestPeer(o, { peerId: 'plain' });
    assert.match(peer.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const rec = await waitFor('the peer joined over ws', () => o.tracker.registry.get('plain'), 20_000);
    assert.equal(rec.url, `ws://127.0.0.1:${peer.port}/peer`);
    await waitForSegments(o, 1);
    const s = o.window.latest(1)[0];
    assert.ok(s);
    const http = httpOriginRange(o.url, {});
    const fetcher = new OriginFetcher(http.range, new LinkShaper(peerConfig(), systemClock), systemClock);
    try {
      const piece = await fetchPiece(fetcher, s.info.seq, 0, s.info.size, 16 * 1024);
      assert.ok(piece);
      assert.equal(createHash('sha256').update(piece).digest('base64url'), s.info.pieceHashes[0]);
    } finally {
      http.close();
    }
  });
});

function fetchPiece(f: OriginFetcher, seq: number, piece: number, size: number, pieceSize: number): Promise<Uint8Array | null> {
  return new Promise((resolve) => f.piece(seq, piece, size, pieceSize, null, resolve));
}
