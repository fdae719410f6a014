/**
 * How long we wait on a neighbour, and when it has failed us often enough to
 * go. Pure: the swarm keeps per-neighbour numbers and applies the verdicts.
 */
import { DEFAULT_LATENCY_MS, DEFAULT_PIECE_MS } from './picker.ts';

export interface PatienceLimits {
  /** Floor of a request's patience: a patience reckoned from a rate of zero would be hours. */
  minPatienceMs: number;
  /** A request may take this many times the neighbour's expected answer time. */
  patienceFactor: number;
  /** Misses in a row, with no piece delivered between them, before it goes. */
  maxMisses: number;
  /** Useless unrequested pieces in a row before it goes. */
  maxStrikes: number;
}

export const DEFAULT_PATIENCE: PatienceLimits = Object.freeze({
  minPatienceMs: 3000,
  patienceFactor: 4,
  // One that claims pieces and never delivers them would otherwise keep drawing requests that wait out their patience, just as the pieces fall due.
  maxMisses: 8,
  // Slack for pushes crossing haves and cancels crossing pieces.
  maxStrikes: 20,
});

export interface NeighbourRecord {
  /** Its measured delivery rate to us; 0 when not measured (none delivered lately, or its last request missed). */
  rateBytesPerSec: number;
  latencyMs: number;
  /** It has sent us a piece at some time, asked or pushed. */
  everDelivered: boolean;
}

/** How long a request to the neighbour may go unanswered before it is lost and freed for someone else. */
export function patienceMs(n: NeighbourRecord, pieceBytes: number, l: PatienceLimits): number {
  const expected = n.rateBytesPerSec > 0 ? n.latencyMs + (1000 * pieceBytes) / n.rateBytesPerSec : 0;
  return Math.max(l.minPatienceMs, l.patienceFactor * expected);
}

/**
 * Whether a request beaten by another source, after `outstandingMs`, counts
 * as a miss of the neighbour's. One that delivers is judged by its own
 * patience: under load an honest one is often beaten by the origin's
 * fallback, and must not be dropped for it. One delivering but not measured
 * lately is judged by what the picker assumes of a stranger (its default
 * latency and piece time). One that never sent us anything is judged by every
 * race it loses: pushes beat most requests, so a neighbour that claims pieces
 * and sends none is found only by the races it should have won.
 */
export function raceLostIsMiss(n: NeighbourRecord, outstandingMs: number, pieceBytes: number, l: PatienceLimits): boolean {
  if (!n.everDelivered) return outstandingMs > 0;
  if (n.rateBytesPerSec === 0) return outstandingMs > DEFAULT_LATENCY_MS + DEFAULT_PIECE_MS;
  return outstandingMs > patienceMs(n, pieceBytes, l);
}

export type FailureVerdict = 'keep' | 'drop';

/** After its misses in a row: whether it goes. */
export function missVerdict(missesInARow: number, l: PatienceLimits): FailureVerdict {
  return missesInARow >= l.maxMisses ? 'drop' : 'keep';
}

/** After its useless unrequested pieces in a row: whether it goes. */
export function strikeVerdict(strikesInARow: number, l: PatienceLimits): FailureVerdict {
  return strikesInARow >= l.maxStrikes ? 'drop' : 'keep';
}
