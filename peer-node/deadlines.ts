/**
 * When each segment must be whole in our store: the picker's notion of
 * urgency. Pure, so it is tested with plain numbers.
 */
export interface DeadlineSegment {
  seq: number;
  durationMs: number;
  announcedAtMs: number;
}

export interface PlayerPosition {
  /** Segment the player is playing and how far into it, as of `atMs`. */
  seq: number;
  offsetMs: number;
  atMs: number;
}

const REPORT_FRESH_MS = 10_000;

/**
 * A fresh position report from the player is the truth. Without one, a
 * segment the player has asked for (an HLS request still waiting) is due
 * within one segment duration of the request, since a player asks for the
 * next segment while it still has about one in its buffer.
 *
 * With a fresh report from the player, a segment is due when the player will
 * reach it: the rest of the current segment plus the durations in between.
 * Without one, we assume a player `holdBackMs` behind live, as hls.js plays by
 * default: due `holdBackMs` after we learned of the segment.
 * Segments the player has passed are absent from the result (not wanted).
 */
export function segmentDeadlines(
  segments: readonly DeadlineSegment[],
  player: PlayerPosition | null,
  holdBackMs: number,
  nowMs: number,
  requestedAtMs: ReadonlyMap<number, number> = new Map(),
): Map<number, number> {
  const out = new Map<number, number>();
  if (player && nowMs - player.atMs <= REPORT_FRESH_MS) {
    let due = player.atMs - player.offsetMs;
    let prevSeq = player.seq;
    let prevDuration = segments.find((s) => s.seq === player.seq)?.durationMs ?? 0;
    for (const s of segments) {
      if (s.seq < player.seq) continue;
      if (s.seq > player.seq) {
        // Missing sequence numbers in between are assumed to be of this segment's length.
        due += prevDuration + (s.seq - prevSeq - 1) * s.durationMs;
      }
      out.set(s.seq, due);
      prevSeq = s.seq;
      prevDuration = s.durationMs;
    }
    return out;
  }
  for (const s of segments) {
    const asked = requestedAtMs.get(s.seq);
    const byHoldBack = s.announcedAtMs + holdBackMs;
    out.set(s.seq, asked === undefined ? byHoldBack : Math.min(byHoldBack, asked + s.durationMs));
  }
  return out;
}
