import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { peerConfig } from '../../peer-node/config.ts';
import { Ladder } from '../../peer-node/ladder.ts';
import { createPeerCore } from '../../peer-node/peer-core.ts';
import type { StreamSession } from '../../peer-node/stream-session.ts';
import { TrackerClient } from '../../peer-node/tracker-client.ts';
import { ManualClock } from '../../shared/clock.ts';
import { type Variant, rungVariant } from '../../shared/master-playlist.ts';
import { parseLadder, renditionStreamId } from '../../shared/rendition.ts';
import { seededRng } from '../../shared/rng.ts';

const log = pino({ level: 'silent' });
const RUNGS: Variant[] = parseLadder('360p=640x360@700,240p=426x240@300').map((r) => rungVariant(r, 15, 64));

/**
 * The node's renditions over real peer cores on a manual clock, with no
 * sockets: a session here is a core and a tracker client never started.
 */
function world(downloadBitsPerSec: number | null, onHeadless: (r: string | null) => void = () => {}) {
  const clock = new ManualClock(1_000_000);
  const opened: string[] = [];
  const closed: string[] = [];
  const open = (r: string): StreamSession => {
    opened.push(r);
    const core = createPeerCore(
      { ...peerConfig(), streamId: renditionStreamId('live', r) },
      {
        peerId: 'me',
        clock,
        rng: seededRng(1),
        log,
        channel: `main/${r}`,
        advertisedUrl: () => 'ws://127.0.0.1:1/peer',
        dial: () => undefined,
        trackerSend: () => undefined,
        trackerJoined: () => false,
        fetchOrigin: (_s, _p, _z, _ps, _t, done) => done(null),
      },
    );
    const tracker = new TrackerClient({ url: 'ws://127.0.0.1:1/tracker', clock, log, counters: core.counters, joinMessage: core.joinMessage, onWelcome: core.onWelcome, onSegment: core.onSegment, onPartial: core.onPartial, onPeers: core.onPeers, onSeed: core.onSeed });
    return {
      place: { streamId: renditionStreamId('live', r), trackers: [], livePath: `/live/main/${r}`, signedName: `main/${r}` },
      core,
      tracker,
      start: () => core.start(),
      close: () => {
        closed.push(r);
        core.close();
      },
    };
  };
  const ladder = new Ladder(RUNGS, open, clock, downloadBitsPerSec, 30_000, 10_000, onHeadless);
  const roles = () => ladder.stats().map((r) => `${r.name}:${r.role}`);
  return { clock, ladder, opened, closed, roles };
}

describe("a ladder's renditions on the peer node", () => {
  test('a switch hands the new rung the segment the player needs next: the one after the last it asked of the rung it left', () => {
    const w = world(null);
    const low = w.ladder.want('240p')?.core;
    low?.segmentAsked(100);
    low?.segmentAsked(101);
    const high = w.ladder.want('360p')?.core;
    assert.equal(high?.swarm.firstWanted, 102);
    high?.segmentAsked(102);
    w.ladder.want('240p');
    assert.equal(low?.swarm.firstWanted, 103, 'and back down');
    w.ladder.close();
  });

  test('a rendition is joined when the player first asks for it, and only a rung of the ladder', () => {
    const w = world(800_000);
    assert.deepEqual(w.roles(), []);
    assert.equal(w.ladder.want('720p'), null);
    const s = w.ladder.want('240p');
    assert.equal(s?.place.streamId, 'live_240p');
    assert.equal(w.ladder.want('240p'), s, 'asked again: the same swarm');
    w.ladder.maintain();
    assert.deepEqual(w.opened, ['240p']);
    assert.deepEqual(w.roles(), ['240p:active']);
    assert.equal(w.ladder.primaryRendition, '240p');
    w.ladder.close();
  });

  test('after a switch, reports naming the rung still playing keep the one asked for last fetching', () => {
    const w = world(2_000_000);
    w.ladder.want('240p');
    w.ladder.want('360p');
    for (let k = 0; k < 3; k++) {
      w.clock.advance(1000);
      // The buffer still plays 240p for a few seconds while hls.js fetches 360p.
      w.ladder.onPlayerReport({ seq: 10 + k, offsetMs: 0, stalls: 0, stallMs: 0, rendition: '240p' });
      w.ladder.maintain();
      assert.equal(w.ladder.primaryRendition, '360p');
      assert.deepEqual(w.roles(), ['360p:active', '240p:relay']);
    }
    w.ladder.close();
  });

  test('with room for both on the link, the rung above the one playing is joined ahead, as a relay', () => {
    const w = world(2_000_000);
    w.ladder.want('240p');
    assert.deepEqual(w.opened, ['240p', '360p']);
    assert.deepEqual(w.roles(), ['360p:relay', '240p:active']);
    // Kept while it is the rung above: never left for the linger.
    for (let k = 0; k < 60; k++) {
      w.clock.advance(1000);
      w.ladder.want('240p');
      w.ladder.maintain();
    }
    assert.deepEqual(w.closed, []);
    w.ladder.want('360p');
    assert.deepEqual(w.roles(), ['360p:active', '240p:relay']);
    w.ladder.close();
  });

  test('with room on the link, the one left is relayed for the linger, then left; its bytes still count', () => {
    const w = world(null);
    (w.ladder.want('240p') as StreamSession).core.counters.p2pBytes = 1000;
    w.clock.advance(5000);
    const hi = w.ladder.want('360p') as StreamSession;
    assert.deepEqual(w.opened, ['240p', '360p'], 'joined ahead of the player already');
    hi.core.counters.p2pBytes = 500;
    assert.deepEqual(w.roles(), ['360p:active', '240p:relay']);
    // The linger counts from the player's last request of it.
    w.clock.advance(24_000);
    w.ladder.maintain();
    assert.deepEqual(w.roles(), ['360p:active', '240p:relay']);
    w.clock.advance(2000);
    w.ladder.maintain();
    assert.deepEqual(w.closed, ['240p']);
    assert.deepEqual(w.roles(), ['360p:active', '240p:left']);
    assert.deepEqual(w.ladder.sessions().map((s) => s.place.streamId), ['live_360p']);
    assert.equal(w.ladder.counters().p2pBytes, 1500);
    assert.equal(w.ladder.stats().find((r) => r.name === '240p')?.p2pBytes, 1000);
    // Asked for again: a new swarm, and the totals go on growing.
    w.ladder.want('240p');
    assert.deepEqual(w.opened, ['240p', '360p', '240p']);
    assert.equal(w.ladder.counters().p2pBytes, 1500);
    w.ladder.close();
    assert.deepEqual(w.closed.sort(), ['240p', '240p', '360p']);
  });

  test('on a link with no room for both, the rendition left is left at once', () => {
    const w = world(800_000);
    w.ladder.want('360p');
    w.ladder.want('240p');
    assert.deepEqual(w.closed, ['360p']);
    assert.deepEqual(w.roles(), ['360p:left', '240p:active']);
    w.ladder.close();
  });

  test("the page's stall totals are handed once, to the rendition each report names", () => {
    const w = world(null);
    const hi = w.ladder.want('360p') as StreamSession;
    w.ladder.onPlayerReport({ seq: 1, offsetMs: 0, stalls: 2, stallMs: 700, rendition: '360p' });
    const lo = w.ladder.want('240p') as StreamSession;
    w.ladder.onPlayerReport({ seq: 1, offsetMs: 0, stalls: 3, stallMs: 900, rendition: '240p' });
    w.ladder.onPlayerReport({ seq: 2, offsetMs: 0, stalls: 3, stallMs: 900, rendition: '240p' });
    assert.deepEqual([hi.core.counters.stalls, hi.core.counters.stallMs], [2, 700]);
    assert.deepEqual([lo.core.counters.stalls, lo.core.counters.stallMs], [1, 200]);
    assert.deepEqual([w.ladder.counters().stalls, w.ladder.counters().stallMs], [3, 900]);
    // Mid-switch, the player reports the rendition it still plays: the one it fetches now counts none of it.
    w.ladder.want('360p');
    w.ladder.onPlayerReport({ seq: 3, offsetMs: 0, stalls: 4, stallMs: 1000, rendition: '240p' });
    assert.deepEqual([hi.core.counters.stalls, lo.core.counters.stalls, w.ladder.counters().stalls], [2, 2, 4]);
    w.ladder.close();
  });

  test('with no player for 10 s the node is active in a rung of its own choosing, until the player asks again', () => {
    const told: (string | null)[] = [];
    // 360p's BANDWIDTH is some 1.07 Mbit/s: 1.4 Mbit/s does not carry it one and a half times over, so the lowest.
    const w = world(1_400_000, (r) => told.push(r));
    w.clock.advance(9_999);
    w.ladder.maintain();
    assert.deepEqual(w.roles(), [], 'not before the player had its time');
    w.clock.advance(1);
    w.ladder.maintain();
    assert.deepEqual(w.roles(), ['240p:active']);
    assert.equal(w.ladder.primaryRendition, '240p');
    assert.equal(w.ladder.headless, true);
    assert.deepEqual(told, ['240p']);
    // Kept while nobody asks: never left for the linger.
    for (let k = 0; k < 60; k++) {
      w.clock.advance(1000);
      w.ladder.maintain();
    }
    assert.deepEqual(w.closed, []);
    // The player comes and asks for 360p: it is played; the node's own choice has no room beside it, so is left.
    w.ladder.want('360p');
    assert.equal(w.ladder.headless, false);
    assert.deepEqual(told, ['240p', null]);
    assert.deepEqual(w.roles(), ['360p:active', '240p:left']);
    // The player goes quiet again: the node goes back to its own choice, and the one it played is left (no room for both).
    w.clock.advance(10_000);
    w.ladder.maintain();
    assert.deepEqual(w.roles(), ['360p:left', '240p:active']);
    assert.deepEqual(told, ['240p', null, '240p']);
    w.ladder.close();
  });

  test('a node with no player and no known bound on its link is in the top rung, and prepares no rung above for a player', () => {
    const w = world(null);
    w.clock.advance(10_000);
    w.ladder.maintain();
    assert.deepEqual(w.roles(), ['360p:active']);
    assert.deepEqual(w.opened, ['360p']);
    w.ladder.close();
  });
});
