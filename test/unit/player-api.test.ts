import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readReport, readStats } from '../../shared/player-api.ts';

describe('the player↔peer contract', () => {
  test('a report is four non-negative integers within bounds, or nothing', () => {
    const ok = { seq: 7, offsetMs: 1500, stalls: 1, stallMs: 300 };
    assert.deepEqual(readReport(ok), ok);
    assert.deepEqual(readReport({ ...ok, extra: 'ignored' }), ok);
    for (const bad of [null, [], 'x', { ...ok, seq: -1 }, { ...ok, offsetMs: 600_001 }, { ...ok, stalls: 1.5 }, { ...ok, stallMs: '3' }, { seq: 7 }]) {
      assert.equal(readReport(bad), null, JSON.stringify(bad));
    }
  });

  test("the page reads a node's stats without trusting them: odd fields read as zero, a non-object as null", () => {
    const s = readStats({ peerId: 'p1', p2pBytes: 10, originBytes: -5, neighbours: 'many', trackerConnected: 'yes', segments: 3 });
    assert.equal(s?.peerId, 'p1');
    assert.equal(s?.p2pBytes, 10);
    assert.equal(s?.originBytes, 0);
    assert.equal(s?.neighbours, 0);
    assert.equal(s?.trackerConnected, false);
    assert.equal(s?.segments, 3);
    assert.equal(s?.duplicateBytes, 0);
    assert.equal(readStats([1, 2]), null);
    assert.equal(readStats(null), null);
  });

  test('a report may name the rendition playing; anything but a rendition name makes it no report', () => {
    const ok = { seq: 7, offsetMs: 1500, stalls: 1, stallMs: 300, rendition: '360p' };
    assert.deepEqual(readReport(ok), ok);
    for (const rendition of ['main', '../360p', '360P', 360, '', '__proto__']) assert.equal(readReport({ ...ok, rendition }), null, String(rendition));
  });

  test("a ladder node's stats: the active rendition and each one's bytes, names checked, roles known or 'left'", () => {
    const s = readStats({
      rendition: '360p',
      renditions: [
        { name: '360p', role: 'active', p2pBytes: 10, originBytes: 5, uploadedBytes: 1, neighbours: 2 },
        { name: '240p', role: 'bogus', p2pBytes: -1 },
        { name: '<b>', role: 'relay' },
        'not an object',
      ],
      paceBytesPerSec: 100_000,
    });
    assert.equal(s?.rendition, '360p');
    assert.deepEqual(s?.renditions, [
      { name: '360p', role: 'active', p2pBytes: 10, originBytes: 5, uploadedBytes: 1, neighbours: 2 },
      { name: '240p', role: 'left', p2pBytes: 0, originBytes: 0, uploadedBytes: 0, neighbours: 0 },
    ]);
    assert.equal(s?.paceBytesPerSec, 100_000);
    const single = readStats({ rendition: 'main', renditions: 'x', paceBytesPerSec: -1 });
    assert.deepEqual([single?.rendition, single?.renditions, single?.paceBytesPerSec], [null, [], null]);
  });
});
