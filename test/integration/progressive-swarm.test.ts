import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Origin } from '../../origin/origin.ts';
import type { PeerNode } from '../../peer-node/node.ts';
import { sha256Hex } from '../../shared/hashing.ts';
import { startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { originSha, startTestPeer } from '../helpers/swarm.ts';

/**
 * Progressive announcement over real sockets: an origin with --low-latency
 * (real ffmpeg, 0.5 s segments) announces the whole pieces of each segment
 * as its bytes come in and seeds them at once; real peer nodes take those
 * partial announcements over the tracker's WebSocket, check them, store the
 * pieces while the segment is still open, and complete every segment with
 * the origin's bytes once it is published.
 */

const PEERS = 3;
const SEGMENTS = 12;

describe('progressive announcement between a real origin and real peer nodes', () => {
  let origin: Origin;
  const peers: PeerNode[] = [];
  let shaOf: (seq: number) => string | null;
  /** Per peer, the segments it completed and whether their bytes were the origin's. */
  const completed: Map<number, boolean>[] = [];

  before(async () => {
    origin = await startTestOrigin({ lowLatency: true, fps: 24 });
    shaOf = originSha(origin);
    for (let i = 0; i < PEERS; i++) {
      const peer = await startTestPeer(origin, { peerId: `progressive-${i}`, seed: i + 1 });
      const done = new Map<number, boolean>();
      peer.store.onComplete((e) => done.set(e.info.seq, sha256Hex(peer.store.segmentData(e.info.seq) ?? new Uint8Array()) === shaOf(e.info.seq)));
      peers.push(peer);
      completed.push(done);
    }
    await waitForSegments(origin, origin.window.published + SEGMENTS, 60_000);
  });

  after(async () => {
    await Promise.all(peers.map((p) => p.close()));
    await origin?.close();
  });

  // A low-latency origin has ffmpeg write with the segment muxer, which PUTs
  // each segment's bytes as it encodes them: the origin announces and seeds
  // each whole piece within the segment's half second, and peers relay it on
  // before the segment is whole.
  test('peers take pieces of open segments, and every peer completes segments with exactly the origin\'s bytes', (t) => {
    let early = 0;
    let seededPieces = 0;
    for (const [i, p] of peers.entries()) {
      const c = p.counters;
      const done = completed[i] as Map<number, boolean>;
      t.diagnostic(`peer ${i}: ${c.earlyPieces} pieces stored while open, ${done.size} segments completed, ${c.p2pBytes} p2p bytes, ${c.seedBytes} seeded bytes`);
      early += c.earlyPieces;
      seededPieces += c.seedBytes / p.store.pieceSize;
      assert.ok(done.size >= SEGMENTS / 2, `peer ${i} completed segments`);
      assert.ok([...done.values()].every((ok) => ok), `peer ${i}: every completed segment is the origin's bytes`);
      assert.equal(c.badAnnouncements, 0, 'every partial and whole announcement verified');
      assert.equal(c.hashFailures, 0);
    }
    assert.ok(early > 0, 'pieces were stored while their segment was open');
    // The origin seeded at most this many pieces in all, early or not: more early pieces than that came from neighbours.
    assert.ok(early > seededPieces, `early pieces (${early}) outnumber all pieces seeded (${seededPieces.toFixed(1)}): some were relayed between peers before their segment was whole`);
  });
});
