import type { EventEmitter } from 'node:events';
import type { StoredSegment } from './live-window.ts';

/**
 * When a segment passed each step from ffmpeg to the peers. performance.now()
 * instants, not the injected clock: these feed no decision, only latency
 * measurements, which need its sub-millisecond resolution and one monotonic
 * time line with whatever the listener stamps in this process.
 */
export interface SegmentTiming {
  /** ffmpeg's PUT of the segment's bytes had been read in full. */
  segmentPutEndMs: number;
  /** The first playlist PUT naming the segment had been read; with the segment's PUT, the later of the two completes it. */
  playlistPutMs: number;
  /** The segment was in the live window. */
  publishedMs: number;
  /** Its announcement had been handed to every joined peer's socket. */
  announcedMs: number;
}

export interface SegmentPublished {
  segment: StoredSegment;
  timing: SegmentTiming;
}

export interface OriginEventMap {
  segmentPublished: [SegmentPublished];
}

/** What the origin tells in-process observers (dashboard, measurements, tests); listeners run synchronously. */
export type OriginEvents = EventEmitter<OriginEventMap>;
