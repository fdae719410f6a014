import type { SegmentAnnouncement } from './segment.ts';
import { segmentFileName } from './segment.ts';

/**
 * Renders a live HLS media playlist (RFC 8216) over the given segments.
 * Shared by the origin and peer nodes so both speak exactly the same HLS.
 * Segment URIs are relative to the playlist, behind `uriPrefix`, and name the
 * origin's numbers; `mediaSequence` is the first one's media sequence number
 * when the lister numbers segments its own way (a peer across an origin restart).
 * `discontinuitySequence` counts the discontinuities before the first listed
 * segment, so players stay in step when one slides out of the playlist.
 */
export function renderLivePlaylist(
  segments: readonly SegmentAnnouncement[],
  discontinuitySequence: number,
  uriPrefix = '',
  mediaSequence: number = segments[0]?.seq ?? 0,
): string {
  const maxMs = segments.reduce((m, s) => Math.max(m, s.durationMs), 1000);
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    `#EXT-X-TARGETDURATION:${Math.ceil(maxMs / 1000)}`,
    `#EXT-X-MEDIA-SEQUENCE:${mediaSequence}`,
    `#EXT-X-DISCONTINUITY-SEQUENCE:${discontinuitySequence}`,
  ];
  for (const s of segments) {
    if (s.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(s.publishedAtMs - s.durationMs).toISOString()}`);
    lines.push(`#EXTINF:${(s.durationMs / 1000).toFixed(3)},`);
    lines.push(`${uriPrefix}${segmentFileName(s.seq)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Tracks discontinuities of segments that left a window, for EXT-X-DISCONTINUITY-SEQUENCE. */
export class DiscontinuityCounter {
  private dropped = 0;

  /** Call for each segment that leaves the window, oldest first. */
  drop(segment: SegmentAnnouncement): void {
    if (segment.discontinuity) this.dropped++;
  }

  /** Discontinuity sequence of the first of `listed`, taken from the newest part of `window`. */
  sequenceFor(window: readonly SegmentAnnouncement[], listed: readonly SegmentAnnouncement[]): number {
    const first = listed[0];
    if (!first) return this.dropped;
    let n = this.dropped;
    for (const s of window) {
      if (s.seq >= first.seq) break;
      if (s.discontinuity) n++;
    }
    return n;
  }
}
