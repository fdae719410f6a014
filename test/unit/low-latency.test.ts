import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LOW_LATENCY_SEGMENT_MS, originConfig, parseOriginConfig } from '../../origin/config.ts';
import { ConfigError } from '../../shared/cli.ts';
import { REFERENCE_SEGMENT_MS, keptSegments, windowForSegment } from '../../peer-node/policy/segment-timing.ts';
import { MAX_WINDOW_SEGMENTS } from '../../shared/limits.ts';
import { LIVE_LATENCY, LOW_LATENCY, hlsLatencyFor, segmentSecondsOf } from '../../player/latency.ts';
import { type ScenarioPlan, benchPlans, defaultMix, planScenario } from '../../scripts/bench/scenarios.ts';
import { seededRng } from '../../shared/rng.ts';

describe('origin --low-latency config', () => {
  test('0.5 s segments, and a window and playlist of as many seconds as at 1 s', () => {
    const plain = parseOriginConfig([]);
    const c = parseOriginConfig(['--low-latency']);
    assert.ok(plain && c);
    assert.equal(plain.lowLatency, false);
    assert.equal(plain.segmentSeconds, 1);
    assert.equal(c.lowLatency, true);
    assert.equal(c.segmentSeconds, LOW_LATENCY_SEGMENT_MS / 1000);
    assert.equal(c.windowSegments * c.segmentSeconds, plain.windowSegments * plain.segmentSeconds);
    assert.equal(c.playlistSegments * c.segmentSeconds, plain.playlistSegments * plain.segmentSeconds);
    assert.equal(c.fps * c.segmentSeconds, 12, 'the default frame rate makes a whole number of frames per segment');
    const more = parseOriginConfig(['--low-latency', '--window-segments', '40', '--playlist-segments', '8', '--segment-seconds', '4']);
    assert.deepEqual([more?.segmentSeconds, more?.windowSegments, more?.playlistSegments], [0.5, 80, 16], '--low-latency takes the place of --segment-seconds');
  });

  test('the same from originConfig, applied once', () => {
    const c = originConfig({ lowLatency: true, windowSegments: 10 });
    assert.deepEqual([c.segmentSeconds, c.windowSegments, c.playlistSegments], [0.5, 20, 12]);
    assert.equal(originConfig().segmentSeconds, 1);
  });

  test('an odd frame rate is refused when encoding, and passes with --copy', () => {
    assert.throws(
      () => parseOriginConfig(['--low-latency', '--fps', '25']),
      (e: unknown) => e instanceof ConfigError && /--low-latency needs an even --fps/.test(e.message) && /25/.test(e.message),
    );
    assert.throws(() => originConfig({ lowLatency: true, fps: 15 }), ConfigError);
    assert.equal(parseOriginConfig(['--low-latency', '--fps', '25', '--copy'])?.segmentSeconds, 0.5);
    assert.equal(parseOriginConfig(['--fps', '25'])?.fps, 25, 'without --low-latency any frame rate makes whole 1 s segments');
  });
});

describe("the peer node's windows for short segments", () => {
  test('shrink in proportion below 1 s segments, and stay as configured from 1 s up', () => {
    assert.equal(windowForSegment(1200, 500), 600);
    assert.equal(windowForSegment(600, 500), 300);
    assert.equal(windowForSegment(1000, 250), 250);
    assert.equal(windowForSegment(1200, REFERENCE_SEGMENT_MS), 1200);
    assert.equal(windowForSegment(1200, 2000), 1200, 'longer segments keep the configured window');
    assert.equal(windowForSegment(1200, 0), 1200, 'an unknown duration keeps it too');
  });
  test('the store keeps as many more short segments as span the same time, within bounds', () => {
    const rows: [configured: number, segmentMs: number, kept: number][] = [
      [12, 500, 24],
      [12, 250, 48],
      [12, 100, 48], // at most 4 times as many
      [12, 333, 37],
      [12, REFERENCE_SEGMENT_MS, 12],
      [12, 2000, 12], // longer segments keep the count
      [12, 0, 12],
      [400, 250, MAX_WINDOW_SEGMENTS], // never more than a bitfield can name
    ];
    for (const [configured, segmentMs, kept] of rows) assert.equal(keptSegments(configured, segmentMs), kept, `${configured} at ${segmentMs} ms`);
  });
});

describe("the player's live distance", () => {
  const LL = '#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:0.500,\nseg-1.ts\n#EXTINF:0.480,\nseg-2.ts\n#EXTINF:0.520,\nseg-3.ts\n';
  test('reads the segment duration from the playlist', () => {
    assert.equal(segmentSecondsOf(LL), 0.52);
    assert.equal(segmentSecondsOf('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000,\nseg-9.ts\n'), 2);
    assert.equal(segmentSecondsOf('#EXTM3U\n'), null);
  });
  test('sub-second segments: LOW_LATENCY in seconds; otherwise LIVE_LATENCY in target durations', () => {
    const ll = hlsLatencyFor(0.5);
    assert.equal(ll.lowLatencyMode, true);
    assert.equal(ll.liveSyncDuration, LOW_LATENCY.targetSegments * 0.5);
    assert.equal(ll.liveMaxLatencyDuration, LOW_LATENCY.seekSegments * 0.5);
    assert.equal(ll.liveSyncDurationCount, undefined, 'hls.js refuses both forms at once');
    for (const s of [1, 2, null]) {
      const plain = hlsLatencyFor(s);
      assert.equal(plain.liveSyncDurationCount, LIVE_LATENCY.targetSegments);
      assert.equal(plain.liveSyncDuration, undefined);
    }
    assert.ok(LOW_LATENCY.targetSegments * 0.5 < LIVE_LATENCY.targetSegments * 1, 'closer to live than the 1 s mode');
  });
});

describe('the low-latency scenario', () => {
  test("is swarm-50's audience with the origin's 0.5 s segments", () => {
    const o = { quick: false, peers: null, durationS: null, segmentMs: 1000, mix: defaultMix(false) };
    const [ll] = planScenario('low-latency', { ...o, rng: seededRng(3) });
    const [s50] = planScenario('swarm-50', { ...o, rng: seededRng(3) });
    assert.ok(ll && s50);
    assert.deepEqual([ll.segmentMs, ll.lowLatency, ll.warmupMs], [LOW_LATENCY_SEGMENT_MS, true, 3 * LOW_LATENCY_SEGMENT_MS]);
    assert.deepEqual([s50.segmentMs, s50.lowLatency], [1000, false]);
    assert.deepEqual(ll.peers, s50.peers, 'the same viewers, links and arrivals from the same seed');
    assert.equal(ll.peers.length, 50);
  });

  test('the benchmark runs it twice on the same viewers: pieces announced as ffmpeg writes them, and --whole-segments', () => {
    const o = { quick: false, peers: null, durationS: null, segmentMs: 1000, mix: defaultMix(false) };
    const plans = benchPlans('low-latency', { ...o, rng: seededRng(3) });
    assert.deepEqual(plans.map((p) => [p.name, p.lowLatency, p.wholeSegments]), [['low-latency', true, false], ['low-latency-whole-segments', true, true]]);
    const [progressive, whole] = plans as [ScenarioPlan, ScenarioPlan];
    assert.deepEqual(whole.peers, progressive.peers);
    assert.notEqual(whole.peers[0], progressive.peers[0], 'each run its own viewers (a run may change a plan\'s peers)');
    assert.deepEqual({ ...whole, name: progressive.name, wholeSegments: false }, progressive, 'nothing else differs');
    assert.equal(planScenario('low-latency', { ...o, rng: seededRng(3) }).length, 1, 'the simulator gets the one plan');
    assert.deepEqual(benchPlans('swarm-50', { ...o, rng: seededRng(3) }), planScenario('swarm-50', { ...o, rng: seededRng(3) }));
  });
});
