import type { PickerSegment } from './picker.ts';

/** A segment this far past its deadline is given up on, unless the player asked for it: it has skipped or stalled past it. */
export const ABANDON_AFTER_MS = 5000;
/** With push, how long pull leaves a piece we just heard of to the pushes (about a hop). */
export const PULL_HOLD_OFF_MS = 150;

/** An announced segment as the store holds it: `complete` is set once whole; a null piece is one we lack. */
export interface AnnouncedHolding {
  info: { seq: number; size: number };
  complete: unknown;
  pieces: readonly unknown[];
}

/** A segment the origin is still receiving: the pieces announced so far, each of the full piece size. */
export interface OpenHolding {
  seq: number;
  pieces: readonly unknown[];
}

export interface WantedContext {
  /** The first segment the node fetches for its player. */
  firstWanted: number;
  /** seq -> deadline (deadlines.ts); a segment without one is passed. */
  deadlines: ReadonlyMap<number, number>;
  /** Segments the player asked for and waits on: never given up. */
  asked: ReadonlyMap<number, number>;
  nowMs: number;
  urgentWindowMs: number;
  /** The duration of the stream's segments: open ones are spaced by it. */
  segmentMs: number;
  pieceSize: number;
}

/**
 * The plan's segments, oldest first: every announced one not yet whole from
 * `firstWanted` on, with its deadline, unless long overdue and not asked
 * for; then the open ones, the freshest pieces, due after every announced
 * one and a segment apart, never urgent, so never asked of the origin (it
 * is seeding them now).
 */
export function wantedSegments(announced: readonly AnnouncedHolding[], opens: readonly OpenHolding[], c: WantedContext): PickerSegment[] {
  const segments: PickerSegment[] = [];
  for (const e of announced) {
    if (e.complete || e.info.seq < c.firstWanted) continue;
    const deadline = c.deadlines.get(e.info.seq);
    if (deadline === undefined) continue;
    if (!c.asked.has(e.info.seq) && deadline < c.nowMs - ABANDON_AFTER_MS) continue;
    segments.push({ seq: e.info.seq, pieceCount: e.pieces.length, size: e.info.size, deadlineMs: deadline, have: e.pieces.map((p) => p !== null), inFlight: [] });
  }
  let openDeadline = Math.max(c.nowMs + c.urgentWindowMs, ...segments.map((seg) => seg.deadlineMs));
  for (const o of opens) {
    if (o.seq < c.firstWanted) continue;
    openDeadline += c.segmentMs + 1;
    segments.push({ seq: o.seq, pieceCount: o.pieces.length, size: o.pieces.length * c.pieceSize, deadlineMs: openDeadline, have: o.pieces.map((p) => p !== null), inFlight: [] });
  }
  return segments;
}

/**
 * With push, a piece we heard of moments ago is most likely being pushed to
 * us already: asking for it too would bring it twice. Pull waits
 * `holdOffMs` for it, unless its segment is urgent: the plan sees it as held
 * meanwhile (`segments` are changed in place, after interest is decided: we
 * want it all the same). Returns when the first such wait ends, or +Infinity.
 */
export function holdOffFresh(
  segments: readonly PickerSegment[],
  heardAt: ReadonlyMap<number, ReadonlyMap<number, number>>,
  nowMs: number,
  urgentWindowMs: number,
  holdOffMs = PULL_HOLD_OFF_MS,
): number {
  let next = Number.POSITIVE_INFINITY;
  for (const seg of segments) {
    if (seg.deadlineMs - nowMs <= urgentWindowMs) continue;
    const heard = heardAt.get(seg.seq);
    if (!heard) continue;
    for (const [piece, at] of heard) {
      if (seg.have[piece] === true || nowMs - at >= holdOffMs) continue;
      seg.have[piece] = true;
      next = Math.min(next, at + holdOffMs);
    }
  }
  return next;
}
