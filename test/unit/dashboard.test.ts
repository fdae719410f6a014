import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import { HISTORY_MS, type Reading, Ring, SAMPLE_EVERY_MS, createDashboard, trailingRates } from '../../origin/dashboard.ts';
import { chartGeometry, integerTop, niceCeil } from '../../origin/dashboard/chart.ts';
import type { OriginEvents } from '../../origin/events.ts';
import { LiveWindow } from '../../origin/live-window.ts';
import { generateSigner } from '../../shared/announcement-signature.ts';
import { createOriginMetrics } from '../../origin/metrics.ts';
import type { PeerRecord } from '../../origin/peer-registry.ts';
import { ZERO_STATS } from '../../origin/peer-stats.ts';
import { ManualClock } from '../../shared/clock.ts';
import { bitRate, duration } from '../../web/format.ts';

describe('dashboard ring', () => {
  test('keeps the newest items, oldest first, within its capacity', () => {
    const r = new Ring<number>(3);
    assert.deepEqual(r.toArray(), []);
    assert.equal(r.last(), undefined);
    for (let i = 1; i <= 5; i++) r.push(i);
    assert.deepEqual(r.toArray(), [3, 4, 5]);
    assert.equal(r.size, 3);
    assert.equal(r.last(), 5);
  });

  test('refuses a capacity that is not a positive integer', () => {
    assert.throws(() => new Ring(0), RangeError);
    assert.throws(() => new Ring(1.5), RangeError);
  });
});

describe('trailingRates', () => {
  const at = (tMs: number, v: number): Reading => ({ tMs, values: { v } });
  const table: [string, Reading[], number, number | null][] = [
    ['one reading has no rate', [at(0, 0)], 4000, null],
    ['two readings, shorter than the window: over what there is', [at(0, 0), at(2000, 1000)], 4000, 500],
    ['baseline is the newest reading a window old', [at(0, 0), at(1000, 0), at(2000, 4000), at(3000, 4000), at(4000, 4000), at(5000, 8000)], 4000, 2000],
    ['a counter that went down grew by nothing', [at(0, 5000), at(1000, 10)], 4000, 0],
    ['no time passed: no rate', [at(1000, 0), at(1000, 10)], 4000, null],
  ];
  for (const [name, history, windowMs, expected] of table) {
    test(name, () => assert.equal(trailingRates(history, windowMs)?.v ?? null, expected));
  }
});

function peer(peerId: string, joinedAtMs: number, reachability: PeerRecord['reachability'] = 'reachable'): PeerRecord {
  return {
    peerId,
    url: 'ws://127.0.0.1:1/peer',
    reachability,
    uploadKbps: 1000,
    relayOnly: false,
    fetchToken: `token-of-${peerId}`,
    joinedAtMs,
    lastSeenMs: joinedAtMs,
    stats: { ...ZERO_STATS },
    reported: { ...ZERO_STATS },
    reportedAtMs: joinedAtMs,
  };
}

describe('dashboard sampler', () => {
  function setup() {
    const clock = new ManualClock(1_000_000);
    const metrics = createOriginMetrics();
    const events: OriginEvents = new EventEmitter();
    const window = new LiveWindow(4, 16 * 1024, generateSigner());
    const publish = (bytes: number) => {
      const segment = window.publish(Buffer.alloc(bytes), 1000, false, clock.nowMs());
      events.emit('segmentPublished', { segment, timing: { segmentPutEndMs: 0, playlistPutMs: 0, publishedMs: 0, announcedMs: 0 } });
    };
    const peers: PeerRecord[] = [];
    let ratio = 0;
    const dash = createDashboard({
      config: { streamId: 'live', announceIntervalMs: 2000 },
      clock,
      metrics,
      events,
      peers: () => peers.map((record) => ({ channel: 'main', record })),
      offloadRatio: () => ratio,
      distDir: null,
    });
    return { clock, metrics, events, publish, peers, dash, setRatio: (r: number) => void (ratio = r) };
  }

  test('samples egress, audience and reported bytes as rates over the trailing window; offload is measured', async () => {
    const { clock, metrics, publish, peers, dash, setRatio } = setup();
    peers.push(peer('b', 1_000_500, 'unreachable'), peer('a', 1_000_000), peer('c', 1_000_600, 'probing'));
    await dash.sample();
    assert.deepEqual((await dash.snapshot()).series, [], 'a first sample has nothing to compare with');
    for (let s = 1; s <= 6; s++) {
      clock.advance(1000);
      metrics.httpSegmentBytes.inc(1000);
      metrics.seedBytes.inc(3000);
      // Peers report every 2 s.
      if (s % 2 === 0) {
        metrics.peerP2pBytes.inc(6000);
        metrics.peerOriginBytes.inc(2000);
        publish(8000);
        publish(8000);
        // Two segments of 8000 bytes, each for two peers.
        metrics.audienceBytes.inc(2 * 8000 * 2);
        for (const p of peers) p.stats = { ...p.stats, p2pBytes: p.stats.p2pBytes + 3000, originBytes: p.stats.originBytes + 1000, neighbours: 1 };
      }
      await dash.sample();
    }
    setRatio(0.75);
    const snap = await dash.snapshot();
    assert.equal(snap.series.length, 6);
    const last = snap.series.at(-1);
    assert.ok(last);
    // Reported bytes say 3000 of 4000 came from peers; the measured offload is 1 - 4000 / 16000 whatever they say.
    assert.deepEqual(last, { tMs: 1_006_000, originHttpBps: 1000, originSeedBps: 3000, audienceBps: 16_000, p2pBps: 3000, peerOriginBps: 1000, offload: 0.75, peers: 3, segments: 6, stalls: 0 });
    assert.equal(snap.totals.offloadRatio, 0.75);
    assert.equal(snap.totals.audienceBytes, 96_000);
    assert.deepEqual([snap.reachablePeers, snap.unreachablePeers, snap.peerCount], [1, 1, 3]);
    assert.equal(snap.totals.p2pBytes, 18_000);
    assert.equal(snap.rateWindowMs, 4000);
    assert.deepEqual(
      snap.peers.map((p) => [p.peerId, p.reachability, p.p2pBps, p.originBps, p.neighbours]),
      [
        ['a', 'reachable', 1500, 500, 1],
        ['b', 'unreachable', 1500, 500, 1],
        ['c', 'probing', 1500, 500, 1],
      ],
      'longest connected first, rates over the window',
    );
    assert.deepEqual((await dash.snapshot(1_005_000)).series.map((p) => p.tMs), [1_006_000], 'since= gives only newer samples');
  });

  test('no bytes flowing: offload is unknown, not zero', async () => {
    const { clock, dash } = setup();
    await dash.sample();
    clock.advance(1000);
    await dash.sample();
    assert.equal((await dash.snapshot()).series[0]?.offload, null);
  });

  test('memory stays bounded: history is a ring, departed peers are forgotten', async () => {
    const { clock, peers, dash } = setup();
    peers.push(peer('gone', 1_000_000));
    const samples = HISTORY_MS / SAMPLE_EVERY_MS + 50;
    for (let i = 0; i < samples; i++) {
      if (i === 10) peers.pop();
      await dash.sample();
      clock.advance(SAMPLE_EVERY_MS);
    }
    const snap = await dash.snapshot();
    assert.equal(snap.series.length, HISTORY_MS / SAMPLE_EVERY_MS);
    assert.deepEqual(snap.peers, []);
    assert.equal(snap.peerCount, 0);
  });

  test('peers of two channels with the same id are two rows, each with its own rates and channel', async () => {
    const clock = new ManualClock(1_000_000);
    const a = peer('same', 1_000_000);
    const b = peer('same', 1_000_000);
    const dash = createDashboard({
      config: { streamId: 'live', announceIntervalMs: 2000 },
      clock,
      metrics: createOriginMetrics(),
      events: new EventEmitter(),
      peers: () => [
        { channel: 'news', record: b },
        { channel: 'main', record: a },
      ],
      offloadRatio: () => 0,
      channels: () => [],
      distDir: null,
    });
    await dash.sample();
    clock.advance(4000);
    a.stats = { ...a.stats, p2pBytes: 4000 };
    b.stats = { ...b.stats, p2pBytes: 40_000 };
    await dash.sample();
    const snap = await dash.snapshot();
    assert.deepEqual(snap.peers.map((p) => [p.channel, p.peerId, p.p2pBps]), [
      ['main', 'same', 1000],
      ['news', 'same', 10_000],
    ]);
    assert.equal(snap.peerCount, 2);
  });

  test('timer samples once a second from start until close; close stops counting segments', async () => {
    const { clock, events, dash } = setup();
    dash.start();
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 5; i++) {
      clock.advance(SAMPLE_EVERY_MS);
      await new Promise((r) => setImmediate(r));
    }
    dash.close();
    assert.equal(events.listenerCount('segmentPublished'), 0);
    const n = (await dash.snapshot()).series.length;
    assert.equal(n, 5);
    clock.advance(10 * SAMPLE_EVERY_MS);
    await new Promise((r) => setImmediate(r));
    assert.equal((await dash.snapshot()).series.length, n, 'no samples after close');
  });
});

describe('dashboard chart geometry', () => {
  test('round tops for the y axis', () => {
    assert.deepEqual([0, 0.3, 1, 1.2, 3, 7, 240, 12_000].map(niceCeil), [1, 0.5, 1, 2, 5, 10, 250, 20_000]);
    assert.deepEqual([0, 2, 4, 6, 11, 17, 40, 100].map(integerTop), [4, 4, 4, 8, 12, 20, 40, 100]);
  });

  test('lines map time and value into the plot, with gaps where values are missing', () => {
    const g = chartGeometry(
      {
        tMs: [0, 1000, 2000, 3000],
        series: [{ name: 's', color: '#fff', values: [0, 1, null, 1] }],
        fromMs: 0,
        toMs: 3000,
        formatY: String,
        yMax: 1,
      },
      362,
      128,
    );
    // Plot: x 52..352 (100 px a second), y 8..108.
    assert.deepEqual(g.plot, { left: 52, top: 8, right: 352, bottom: 108 });
    assert.equal(g.paths[0]?.line, 'M52 108L152 8M352 8');
    assert.equal(g.paths[0]?.points, 3);
    assert.deepEqual(g.yTicks.map((t) => t.label), ['0', '0.25', '0.5', '0.75', '1']);
  });

  test('stepped lines hold each value until the next; points outside the range are left out', () => {
    const g = chartGeometry(
      { tMs: [-1000, 0, 1000], series: [{ name: 's', color: '#fff', values: [5, 1, 2], step: true, area: true }], fromMs: 0, toMs: 2000, formatY: String, integer: true },
      262,
      128,
    );
    assert.equal(g.paths[0]?.line, 'M52 83H152V58');
    assert.equal(g.paths[0]?.area, 'M52 83H152V58V108H52Z');
  });
});

describe('dashboard formats', () => {
  test('rates in bits per second, durations short', () => {
    assert.deepEqual([null, 0, 100, 1250, 125_000, 62_500_000].map(bitRate), ['–', '0 bit/s', '800 bit/s', '10.0 kbit/s', '1.00 Mbit/s', '500 Mbit/s']);
    assert.deepEqual([-1, 850, 4200, 192_000, 7_500_000].map(duration), ['–', '850 ms', '4.2 s', '3 min 12 s', '2 h 05 min']);
  });
});
