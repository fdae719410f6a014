import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LiveWindow } from '../../origin/live-window.ts';
import { generateSigner } from '../../shared/announcement-signature.ts';
import { ManualClock } from '../../shared/clock.ts';
import { seededRng } from '../../shared/rng.ts';
import type { WireMessage } from '../../shared/wire-protocol.ts';
import { peerConfig } from '../../peer-node/config.ts';
import { FetchPlanner } from '../../peer-node/fetch-planner.ts';
import { LinkShaper, type Link } from '../../peer-node/link.ts';
import { Neighbour } from '../../peer-node/neighbour.ts';
import { RequestsOut } from '../../peer-node/requests-out.ts';
import { SegmentStore } from '../../peer-node/segment-store.ts';
import { newCounters } from '../../peer-node/swarm-counters.ts';

/**
 * The FetchPlanner alone, over neighbours that are plain state: what it sends
 * them is recorded, and time passes only on the manual clock.
 */

const PIECE = 16 * 1024;
const START_MS = 1_000_000;

const silentLink: Link = { send: () => {}, close: () => {}, onMessage: () => {}, onClose: () => {}, bufferedAmount: 0 };

function setup() {
  const clock = new ManualClock(START_MS);
  const store = new SegmentStore(30, PIECE, clock);
  const neighbours: Neighbour[] = [];
  const sent: { to: string; msg: WireMessage }[] = [];
  const requests = new RequestsOut((n) => neighbours.includes(n));
  const planner = new FetchPlanner({
    config: peerConfig({ maxOriginInFlight: 0 }),
    clock,
    rng: seededRng(1),
    store,
    shaper: new LinkShaper({ uploadKbps: -1, downloadKbps: 0, latencyMs: 0 }, clock),
    counters: newCounters(),
    requests,
    handshaken: () => neighbours,
    send: (n, msg) => sent.push({ to: n.peerId as string, msg }),
    pushesComing: () => false,
    fetchFromOrigin: (_seq, _piece, done) => done(null),
    stored: () => {},
  });
  const origin = new LiveWindow(100, PIECE, generateSigner());
  const publish = () => {
    const segment = origin.publish(Buffer.alloc(3 * PIECE, 7), 1000, false, clock.nowMs());
    store.announce(segment.info, clock.nowMs());
    planner.onAnnounced(segment.info.seq);
    return segment.info.seq;
  };
  const neighbour = (id: string) => {
    const n = new Neighbour(silentLink, true, clock.nowMs(), id, id);
    n.peerId = id;
    n.handshaken = true;
    neighbours.push(n);
    return n;
  };
  return { clock, store, planner, sent, publish, neighbour };
}

describe('FetchPlanner', () => {
  test('a have of a piece of a segment it wants makes it interested at once, and a plan asks that neighbour once it unchokes us', () => {
    const { clock, planner, sent, publish, neighbour } = setup();
    const seq = publish();
    const a = neighbour('a');
    clock.advance(100);
    // The plan wanted seq, but no neighbour held anything: no interest, no request.
    assert.deepEqual(sent, []);

    a.markHas(seq, 1, 3);
    planner.heard(a, [{ seq, piece: 1 }]);
    assert.deepEqual(sent, [{ to: 'a', msg: { type: 'interested' } }]);

    a.peerChoking = false;
    planner.schedulePick();
    clock.advance(100);
    assert.deepEqual(sent.slice(1), [{ to: 'a', msg: { type: 'request', seq, piece: 1 } }]);
  });

  test('a have of pieces it holds already changes nothing: no interest, no plan', () => {
    const { clock, store, planner, sent, publish, neighbour } = setup();
    const seq = publish();
    for (let i = 0; i < 3; i++) assert.equal(store.putPiece(seq, i, Buffer.alloc(PIECE, 7), clock.nowMs()), 'stored');
    const a = neighbour('a');
    a.peerChoking = false;
    for (let i = 0; i < 3; i++) a.markHas(seq, i, 3);
    planner.heard(a, [0, 1, 2].map((piece) => ({ seq, piece })));
    clock.advance(1000);
    assert.deepEqual(sent, []);
  });

  test('relaying only, it asks for nothing; fetching again, it asks', () => {
    const { clock, planner, sent, publish, neighbour } = setup();
    planner.setRelayOnly(true);
    const seq = publish();
    const a = neighbour('a');
    a.peerChoking = false;
    a.markHas(seq, 0, 3);
    planner.heard(a, [{ seq, piece: 0 }]);
    clock.advance(500);
    assert.equal(sent.filter((s) => s.msg.type === 'request').length, 0);

    planner.setRelayOnly(false);
    assert.equal(planner.fetchingSinceMs, clock.nowMs());
    clock.advance(100);
    assert.deepEqual(
      sent.filter((s) => s.msg.type === 'request'),
      [{ to: 'a', msg: { type: 'request', seq, piece: 0 } }],
    );
  });
});
