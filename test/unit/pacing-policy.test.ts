import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_PACING, type DownloadSample, bytesDueBy, measuredBytesPerSec, nextWriteInMs, paceBytesPerSec, recordSample, segmentSample } from '../../peer-node/policy/pacing.ts';
import { DEFAULT_HEADLESS_AFTER_MS, HEADLESS_MARGIN, headlessRendition, isHeadless, renditionRole, renditionToPrepare } from '../../peer-node/policy/renditions.ts';

const KB = 1024;
const s = (kb: number, ms: number, atMs: number): DownloadSample => ({ bytes: kb * KB, ms, atMs });

describe('pacing policy: the rate a segment is served to the player at', () => {
  test('the measured rate is the fastest recent segment, and old samples count no more', () => {
    const table: [string, DownloadSample[], number, number | null][] = [
      ['no sample', [], 0, null],
      ['one segment of 200 KB in 1 s', [s(200, 1000, 0)], 0, 200 * KB],
      ['the fastest of several: a slow one waited for the swarm, not the link', [s(200, 4000, 0), s(200, 500, 1), s(200, 2000, 2)], 10, 400 * KB],
      ['a burst reads as the minimum span', [s(100, 0, 0)], 0, (100 * KB * 1000) / DEFAULT_PACING.minSampleMs],
      ['older than the bound: forgotten', [s(200, 100, 0), s(200, 1000, 50_000)], DEFAULT_PACING.maxSampleAgeMs + 1, 200 * KB],
      ['all too old: unknown', [s(200, 1000, 0)], DEFAULT_PACING.maxSampleAgeMs + 1, null],
    ];
    for (const [what, samples, now, want] of table) assert.equal(measuredBytesPerSec(samples, [], now), want, what);
  });

  test('or, when higher, what the neighbours that delivered lately deliver together', () => {
    const n = (rate: number, lastPieceAtMs: number | null) => ({ rateBytesPerSec: rate, lastPieceAtMs });
    const table: [string, DownloadSample[], ReturnType<typeof n>[], number | null][] = [
      ['two neighbours, no whole segment yet', [], [n(100_000, 9000), n(50_000, 9500)], 150_000],
      ['a neighbour quiet too long counts no more', [], [n(100_000, 9000), n(50_000, 10_000 - DEFAULT_PACING.neighbourQuietMs - 1)], 100_000],
      ['one never measured counts nothing', [], [n(0, null)], null],
      ['segments came faster than the neighbours measure', [s(200, 500, 9000)], [n(100_000, 9000)], 400 * KB],
      ['segments trickled in slower: the neighbours tell more', [s(200, 4000, 9000)], [n(100_000, 9000), n(100_000, 9000)], 200_000],
    ];
    for (const [what, samples, neighbours, want] of table) assert.equal(measuredBytesPerSec(samples, neighbours, 10_000), want, what);
  });

  test('samples are kept bounded, newest last; one too small to tell a rate is not kept', () => {
    let kept: DownloadSample[] = [];
    for (let i = 0; i < 20; i++) kept = recordSample(kept, s(100, 100 + i, i));
    assert.equal(kept.length, DEFAULT_PACING.recentSamples);
    assert.deepEqual(kept.map((k) => k.atMs), [15, 16, 17, 18, 19]);
    assert.deepEqual(recordSample(kept, s(1, 1, 99)), kept);
  });

  test('the rate is the lower of the emulated cap and the measured rate; unpaced when neither is known', () => {
    const table: [number | null, number | null, number | null][] = [
      [null, null, null],
      [100_000, null, 100_000],
      [null, 50_000, 50_000],
      [100_000, 50_000, 50_000],
      [100_000, 5_000_000, 100_000],
    ];
    for (const [cap, measured, want] of table) assert.equal(paceBytesPerSec(cap, measured), want, `cap ${cap}, measured ${measured}`);
  });

  test('bytes due grow with the time since the request, up to the whole segment; unpaced is all at once', () => {
    const table: [number | null, number, number, number][] = [
      [100_000, 0, 200_000, 0],
      [100_000, 500, 200_000, 50_000],
      [100_000, 1999, 200_000, 199_900],
      [100_000, 2000, 200_000, 200_000],
      [100_000, 60_000, 200_000, 200_000],
      [null, 0, 200_000, 200_000],
    ];
    for (const [rate, elapsed, total, want] of table) assert.equal(bytesDueBy(rate, elapsed, total), want, `rate ${rate}, ${elapsed} ms`);
  });

  test('the next write is when the next chunk is due, never sooner than 1 ms on', () => {
    const table: [number, number, number, number, number, number][] = [
      // rate, sent, elapsed, total, chunk: ms
      [100_000, 0, 0, 200_000, 16_000, 160],
      [100_000, 16_000, 160, 200_000, 16_000, 160],
      [100_000, 190_000, 1900, 200_000, 16_000, 100],
      [100_000, 50_000, 600, 200_000, 16_000, 60],
      // Already due (the timer ran late): at once.
      [100_000, 50_000, 700, 200_000, 16_000, 1],
    ];
    for (const [rate, sent, elapsed, total, chunk, want] of table) assert.equal(nextWriteInMs(rate, sent, elapsed, total, chunk), want, `sent ${sent} at ${elapsed} ms`);
  });

  test('a segment served by the schedule takes size / rate, whatever the chunk', () => {
    for (const chunk of [1000, 16 * KB, 64 * KB]) {
      const rate = 87_500; // 700 kbit/s
      const total = 180_000;
      let sent = 0;
      let now = 0;
      while (sent < total) {
        sent = Math.max(sent, bytesDueBy(rate, now, total));
        if (sent >= total) break;
        now += nextWriteInMs(rate, sent, now, total, chunk);
      }
      assert.ok(Math.abs(now - (total * 1000) / rate) <= 1, `chunk ${chunk}: done at ${now} ms`);
    }
  });
});

describe('what a completed segment says of the link', () => {
  test('a segment fetched whole: its bytes over the time from its first piece to its last', () => {
    assert.deepEqual(segmentSample({ size: 200_000, earlyBytes: 0, firstPieceAtMs: 1000, announcedAtMs: 900, completedAtMs: 1400 }), { bytes: 200_000, ms: 400, atMs: 1400 });
  });

  test('a segment mostly taken while open (progressive announcement): only what came after its whole announcement, from then on', () => {
    // 10 pieces came over the second the origin took to receive them; the last 20,000 bytes in 50 ms after the whole announcement.
    const s = segmentSample({ size: 10 * 16384 + 20_000, earlyBytes: 10 * 16384, firstPieceAtMs: 1000, announcedAtMs: 2000, completedAtMs: 2050 });
    assert.deepEqual(s, { bytes: 20_000, ms: 50, atMs: 2050 });
    assert.deepEqual(recordSample([], s), [], 'too few bytes to tell a rate: no sample rather than one of the stream rate');
  });
});

describe('rendition roles: what the node does with a rendition its player asked for', () => {
  test('the one playing is fetched; one left lately is relayed only while the link has room beside the one playing; then left', () => {
    const now = 100_000;
    const left = (sinceMs: number, bandwidth: number) => ({ playing: false, lastWantedAtMs: now - sinceMs, bandwidth });
    const table: [string, Parameters<typeof renditionRole>[0], number | null, string][] = [
      ['playing, whatever the link', { playing: true, lastWantedAtMs: 0, bandwidth: 5_000_000 }, 100_000, 'active'],
      ['left 5 s ago, no known bound on the link', left(5000, 1_200_000), null, 'relay'],
      ['left 5 s ago, room for both', left(5000, 1_200_000), 2_000_000, 'relay'],
      ['left 5 s ago, no room for both: it would slow the one playing', left(5000, 1_200_000), 1_500_000, 'leave'],
      ['left longer ago than the linger', left(30_001, 1_200_000), null, 'leave'],
      ['left exactly the linger ago', left(30_000, 1_200_000), null, 'relay'],
    ];
    for (const [what, r, link, want] of table) assert.equal(renditionRole(r, 600_000, link, now, 30_000), want, what);
  });

  test('the rung above the one playing is joined ahead of the player only while the link has room for both', () => {
    const rungs = [
      { name: '240p', bandwidth: 500_000 },
      { name: '720p', bandwidth: 2_500_000 },
      { name: '480p', bandwidth: 1_200_000 },
    ];
    const table: [string, number | null, string | null][] = [
      ['240p', null, '480p'],
      ['480p', null, '720p'],
      ['720p', null, null],
      ['240p', 1_700_000, '480p'],
      ['240p', 1_699_999, null],
      ['480p', 3_000_000, null],
      ['1080p', null, null],
    ];
    for (const [playing, link, want] of table) assert.equal(renditionToPrepare(rungs, playing, link), want, `${playing} on ${link}`);
  });

  test('a node with no player is in the highest rung its download carries with margin, else the lowest', () => {
    const rungs = [
      { name: '240p', bandwidth: 500_000 },
      { name: '720p', bandwidth: 2_500_000 },
      { name: '480p', bandwidth: 1_200_000 },
    ];
    assert.equal(HEADLESS_MARGIN, 1.5);
    const table: [number | null, string | null][] = [
      [null, '720p'],
      [3_750_000, '720p'],
      [3_749_999, '480p'],
      [1_800_000, '480p'],
      [1_799_999, '240p'],
      [750_000, '240p'],
      [100_000, '240p'],
    ];
    for (const [link, want] of table) assert.equal(headlessRendition(rungs, link), want, `on ${link}`);
    assert.equal(headlessRendition([], null), null);
  });

  test('a node is headless once its player asked for nothing for a while, counted from start if it never asked', () => {
    const start = 1000;
    const after = DEFAULT_HEADLESS_AFTER_MS;
    assert.equal(isHeadless(null, start, start, after), false);
    assert.equal(isHeadless(null, start, start + after - 1, after), false);
    assert.equal(isHeadless(null, start, start + after, after), true);
    assert.equal(isHeadless(start + 50_000, start, start + 50_000 + after - 1, after), false, 'asked lately');
    assert.equal(isHeadless(start + 50_000, start, start + 50_000 + after, after), true, 'quiet since');
  });
});
