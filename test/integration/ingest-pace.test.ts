import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import type { SegmentPublished } from '../../origin/events.ts';
import type { Origin } from '../../origin/origin.ts';
import { startTestOrigin, waitForSegments } from '../helpers/origin.ts';

/** 1 s segments for many samples in little time; 30 of them cost ~33 s. */
const SEGMENT_MS = 1000;
const SAMPLES = 30;
const TOLERANCE_MS = 300;

describe('ingest pacing', () => {
  let origin: Origin;

  before(async () => {
    // Segments of ~270 KB, as at the defaults with 2 s segments: a body that large is often still
    // being read when ffmpeg's playlist naming it has arrived, which held segments back a whole duration.
    origin = await startTestOrigin({ segmentSeconds: SEGMENT_MS / 1000, width: 640, height: 360, fps: 25, videoKbps: 2000 });
    await waitForSegments(origin, 2);
  });

  after(() => origin.close());

  test('publishes one segment per segment duration, each as soon as ffmpeg has sent it', async () => {
    const seen: SegmentPublished[] = [];
    const listener = (e: SegmentPublished) => seen.push(e);
    origin.events.on('segmentPublished', listener);
    while (seen.length <= SAMPLES) await once(origin.events, 'segmentPublished');
    // Stopped before close: ffmpeg's last segment, cut short by the stop, is no sample.
    origin.events.off('segmentPublished', listener);

    assert.deepEqual(seen.map((e) => e.segment.info.durationMs), seen.map(() => SEGMENT_MS), 'every segment lasts the segment duration');
    const intervals = seen.slice(1).map((e, i) => Math.round(e.timing.publishedMs - (seen[i] as SegmentPublished).timing.publishedMs));
    const offPace = intervals.filter((ms) => Math.abs(ms - SEGMENT_MS) > TOLERANCE_MS);
    assert.deepEqual(offPace, [], `publication intervals, ms: ${intervals.join(' ')}`);
    const late = seen.map((e) => Math.round(e.timing.publishedMs - e.timing.segmentPutEndMs)).filter((ms) => ms > TOLERANCE_MS);
    assert.deepEqual(late, [], 'ms from a segment read in full to its publication, where over the tolerance');
  });
});
