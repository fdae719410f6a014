import { type Rng, shuffle } from '../../shared/rng.ts';

/**
 * Deadline-aware rarest-first piece picker. Pure: it plans requests from a
 * snapshot and the caller sends them and records them as in flight (as
 * libtorrent's picker leaves marking to its caller).
 *
 * Bounds: `maxInFlightTotal` caps requests to neighbours only; the origin has
 * its own `maxOriginInFlight`. The origin is the deadline safety net, so a full
 * peer pipeline must not keep it from rescuing an urgent piece.
 */

/** The `from` of a request to the HTTP origin rather than to a neighbour. */
export const ORIGIN = 'origin';
/**
 * What we assume of a neighbour we have not measured yet: slow enough that a
 * measured, fast neighbour is preferred and that an urgent piece is not bet on
 * a stranger when the deadline is tight.
 */
export const DEFAULT_PIECE_MS = 250;
export const DEFAULT_LATENCY_MS = 100;
/**
 * Slack past a request's expected delivery before an urgent piece is also asked
 * of the origin. Too small and jitter costs duplicate origin bytes; too large
 * and a stalled neighbour costs a rebuffer.
 */
export const OVERDUE_MARGIN_MS = 500;

export type PickerMode = 'rarest-deadline' | 'sequential' | 'random';

export interface PickerSegment {
  seq: number;
  pieceCount: number;
  /** Bytes in the whole segment. */
  size: number;
  /** When the whole segment must be in hand (absolute ms, same clock as nowMs). */
  deadlineMs: number;
  /** Pieces we already hold (verified), length pieceCount. */
  have: boolean[];
  /** Outstanding requests; `from` is a peer id or ORIGIN. */
  inFlight: { piece: number; from: string; sentAtMs: number }[];
}

export interface PickerPeer {
  id: string;
  chokedUs: boolean;
  /** seq -> pieces this neighbour holds. */
  has: ReadonlyMap<number, readonly boolean[]>;
  /** Our outstanding requests to it. */
  inFlight: number;
  /** Measured delivery rate to us; 0 = not measured yet. */
  rateBytesPerSec: number;
  /** Measured request-to-piece latency; 0 = unknown. */
  latencyMs: number;
}

export interface PickerSnapshot {
  segments: PickerSegment[];
  peers: PickerPeer[];
  originInFlight: number;
}

export interface PickerOptions {
  mode: PickerMode;
  urgentWindowMs: number;
  /** An urgent piece no neighbour can send goes to the origin only once due within this. */
  rescueWindowMs: number;
  maxInFlightPerPeer: number;
  maxInFlightTotal: number;
  maxOriginInFlight: number;
  pieceSize: number;
  originEnabled: boolean;
}

export interface PlannedRequest {
  seq: number;
  piece: number;
  /** A peer id or ORIGIN. */
  from: string;
  reason: 'urgent-peer' | 'urgent-origin' | 'rarest' | 'sequential' | 'random';
}

type InFlight = PickerSegment['inFlight'][number];

interface Candidate {
  seg: PickerSegment;
  /** The segment's index in the snapshot. */
  k: number;
  piece: number;
  bytes: number;
  avail: number;
  key: number;
}

const REASON = { 'rarest-deadline': 'rarest', sequential: 'sequential', random: 'random' } as const;

const ORDER: Record<PickerMode, (a: Candidate, b: Candidate) => number> = {
  'rarest-deadline': (a, b) => a.avail - b.avail || a.seg.deadlineMs - b.seg.deadlineMs || a.key - b.key,
  sequential: (a, b) => a.seg.seq - b.seg.seq || a.piece - b.piece,
  random: (a, b) => a.key - b.key,
};

/** Per piece, how many of the holdings given (one per neighbour, choked or not, of one segment) hold it. */
export function holderCounts(holdings: readonly (readonly boolean[] | undefined)[], pieceCount: number): number[] {
  const counts = new Array<number>(pieceCount).fill(0);
  for (const bits of holdings) if (bits) for (let i = 0; i < pieceCount; i++) if (bits[i] === true) counts[i] = (counts[i] as number) + 1;
  return counts;
}

export function planRequests(s: PickerSnapshot, nowMs: number, o: PickerOptions, rng: Rng): PlannedRequest[] {
  const plan: PlannedRequest[] = [];
  const peers = s.peers;
  // Each neighbour's pieces of each segment, looked up once: a map lookup by segment number is slow, and each piece asks it of every neighbour.
  // Each built on first use: most plans find nothing to ask for, and most neighbours choke us.
  const heldTable: ((readonly boolean[] | undefined)[] | undefined)[] = [];
  const heldBy = (i: number) => (heldTable[i] ??= s.segments.map((seg) => (peers[i] as PickerPeer).has.get(seg.seq)));
  // Only an urgent piece already in flight needs a peer by id: built on first use.
  let byId: Map<string, PickerPeer> | null = null;
  // Counts include what this call plans, so the bounds hold across the whole plan.
  const queued = peers.map((p) => p.inFlight);
  const tieKey = peers.map(() => rng());
  let peerTotal = queued.reduce((a, b) => a + b, 0);
  // Neighbours that may be asked (unchoking us, pipeline not full), in snapshot order: most choke us, and are skipped once here.
  const open: number[] = [];
  for (let i = 0; i < peers.length; i++) if (!(peers[i] as PickerPeer).chokedUs && (queued[i] as number) < o.maxInFlightPerPeer) open.push(i);
  let originQueued = s.originInFlight;

  const bytesOf = (seg: PickerSegment, piece: number) => Math.min(o.pieceSize, seg.size - piece * o.pieceSize);
  const pieceMs = (p: PickerPeer, bytes: number) =>
    p.rateBytesPerSec > 0 ? (bytes * 1000) / p.rateBytesPerSec : DEFAULT_PIECE_MS;
  const latency = (p: PickerPeer) => (p.latencyMs > 0 ? p.latencyMs : DEFAULT_LATENCY_MS);
  const originHasRoom = () => o.originEnabled && originQueued < o.maxOriginInFlight;

  /** The last bestPeer's estimated arrival: a number rather than an object per answer, as it runs for every piece. */
  let bestEta = 0;
  /** The unchoked neighbour with room that would deliver the piece first: its index (its estimated arrival in bestEta), or -1. */
  const bestPeer = (k: number, piece: number, bytes: number): number => {
    if (peerTotal >= o.maxInFlightTotal) return -1;
    let best = -1;
    for (const i of open) {
      const p = peers[i] as PickerPeer;
      const q = queued[i] as number;
      if (heldBy(i)[k]?.[piece] !== true) continue;
      const eta = nowMs + latency(p) + (q + 1) * pieceMs(p, bytes);
      if (best < 0 || eta < bestEta || (eta === bestEta && (tieKey[i] as number) < (tieKey[best] as number))) {
        best = i;
        bestEta = eta;
      }
    }
    return best;
  };

  const push = (seq: number, piece: number, i: number | null, reason: PlannedRequest['reason']) => {
    if (i === null) {
      originQueued++;
      plan.push({ seq, piece, from: ORIGIN, reason });
      return;
    }
    queued[i] = (queued[i] as number) + 1;
    if ((queued[i] as number) >= o.maxInFlightPerPeer) open.splice(open.indexOf(i), 1);
    peerTotal++;
    plan.push({ seq, piece, from: (peers[i] as PickerPeer).id, reason });
  };

  /**
   * A request is overdue once it has waited longer than the neighbour would
   * need to drain a pipeline as deep as its current one, plus a margin. A
   * neighbour missing from the snapshot has gone, so its requests are dead.
   * Origin requests are never overdue: asking the origin twice gains nothing.
   */
  const overdue = (r: InFlight, bytes: number) => {
    if (r.from === ORIGIN) return false;
    byId ??= new Map(peers.map((p) => [p.id, p]));
    const p = byId.get(r.from);
    if (!p) return true;
    return nowMs > r.sentAtMs + latency(p) + Math.max(1, p.inFlight) * pieceMs(p, bytes) + OVERDUE_MARGIN_MS;
  };

  const isUrgent = (seg: PickerSegment) => seg.deadlineMs - nowMs <= o.urgentWindowMs;
  const urgent = s.segments.filter(isUrgent).sort((a, b) => a.deadlineMs - b.deadlineMs || a.seq - b.seq);
  for (const seg of urgent) {
    const k = s.segments.indexOf(seg);
    const flying = byPiece(seg);
    // A segment is played whole, so the order of its pieces does not matter to
    // us; a random one makes neighbours that all fall back to the origin at
    // once fetch different pieces, which they then trade instead of each
    // fetching all of them.
    for (const piece of shuffle(Array.from({ length: seg.pieceCount }, (_, i) => i), rng)) {
      if (seg.have[piece] === true) continue;
      const bytes = bytesOf(seg, piece);
      const out = flying[piece];
      if (out) {
        if (originHasRoom() && out.every((r) => overdue(r, bytes))) push(seg.seq, piece, null, 'urgent-origin');
        continue;
      }
      const best = bestPeer(k, piece, bytes);
      if (best >= 0 && bestEta <= seg.deadlineMs) push(seg.seq, piece, best, 'urgent-peer');
      // No neighbour can send it yet: at the live edge it is most likely on its way to one, so the origin is asked only when time runs short.
      else if (best < 0 && seg.deadlineMs - nowMs > o.rescueWindowMs) continue;
      else if (originHasRoom()) push(seg.seq, piece, null, 'urgent-origin');
      // Late beats never: with the origin off or full, the fastest neighbour still gets it.
      else if (best >= 0) push(seg.seq, piece, best, 'urgent-peer');
    }
  }

  // Non-urgent pieces come from neighbours only: the origin's bandwidth is for deadlines.
  // With no neighbour able to take a request, ranking the candidates would be wasted.
  const roomLeft = peerTotal < o.maxInFlightTotal && open.length > 0;
  const candidates: Candidate[] = [];
  for (let k = 0; roomLeft && k < s.segments.length; k++) {
    const seg = s.segments[k] as PickerSegment;
    if (isUrgent(seg)) continue;
    const flying = byPiece(seg);
    // Neighbours holding each piece, choked or not.
    const counts = holderCounts(peers.map((_, i) => heldBy(i)[k]), seg.pieceCount);
    for (let piece = 0; piece < seg.pieceCount; piece++) {
      const n = counts[piece] as number;
      if (seg.have[piece] === true || flying[piece] || n === 0) continue;
      candidates.push({ seg, k, piece, bytes: bytesOf(seg, piece), avail: n, key: rng() });
    }
  }
  candidates.sort(ORDER[o.mode]);
  for (const c of candidates) {
    // Every neighbour's pipeline full: no later candidate can be placed either.
    if (peerTotal >= o.maxInFlightTotal || open.length === 0) break;
    const best = bestPeer(c.k, c.piece, c.bytes);
    if (best >= 0) push(c.seg.seq, c.piece, best, REASON[o.mode]);
  }
  return plan;
}

/** A segment's outstanding requests, indexed by piece. */
function byPiece(seg: PickerSegment): (InFlight[] | undefined)[] {
  const out: (InFlight[] | undefined)[] = [];
  for (const r of seg.inFlight) (out[r.piece] ??= []).push(r);
  return out;
}
