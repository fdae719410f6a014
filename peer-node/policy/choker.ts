import type { Rng } from '../../shared/rng.ts';

/**
 * BitTorrent's tit-for-tat choker. Pure: it says whom to unchoke and why; the
 * swarm sends the choke/unchoke messages and resets the round's byte counts.
 */

export type ChokerMode = 'tit-for-tat' | 'all-unchoked';

export interface ChokerPeer {
  id: string;
  interested: boolean;
  /** Bytes it gave us this round. */
  downloadedBytes: number;
  connectedAtMs: number;
  lastPieceAtMs: number | null;
}

export interface ChokerOptions {
  mode: ChokerMode;
  regularSlots: number;
  optimisticSlots: number;
  optimisticIntervalMs: number;
  /** A peer that sent us nothing for this long is snubbed: no regular slot while others qualify. */
  snubTimeoutMs: number;
  /**
   * A peer connected less than newcomerMs ago is newcomerWeight times as likely
   * to win the optimistic slot: it has nothing to trade yet, and the optimistic
   * slot is how it gets its first pieces.
   */
  newcomerMs: number;
  newcomerWeight: number;
}

/** Plain data carried from one call to the next. */
export interface ChokerState {
  regular: string[];
  optimistic: string[];
  /** When the current optimistic set was chosen; null when there is none. */
  optimisticSinceMs: number | null;
}

export type UnchokeReason = 'regular' | 'optimistic' | 'all-unchoked';

export interface ChokeDecision {
  unchoked: string[];
  state: ChokerState;
  reasons: Record<string, UnchokeReason>;
}

export function initialChokerState(): ChokerState {
  return { regular: [], optimistic: [], optimisticSinceMs: null };
}

/**
 * `fullRound` is true on the periodic rechoke: regular slots are re-ranked by
 * this round's bytes and the optimistic slot may rotate. Between rounds (an
 * interest change) the call only fills vacancies and never chokes anyone still
 * interested, so choke state does not flap with every have/interest message.
 */
export function rechoke(
  peers: readonly ChokerPeer[],
  state: ChokerState,
  nowMs: number,
  o: ChokerOptions,
  rng: Rng,
  fullRound: boolean,
): ChokeDecision {
  const interested = peers.filter((p) => p.interested);
  if (o.mode === 'all-unchoked') {
    return {
      unchoked: interested.map((p) => p.id),
      state: initialChokerState(),
      reasons: Object.fromEntries(interested.map((p) => [p.id, 'all-unchoked' as const])),
    };
  }

  const live = new Set(interested.map((p) => p.id));
  const tieKey = new Map(interested.map((p) => [p.id, rng()]));
  const snubbed = (p: ChokerPeer) => nowMs - (p.lastPieceAtMs ?? p.connectedAtMs) > o.snubTimeoutMs;
  // Non-snubbed peers by bytes given; snubbed ones only after them, so when too
  // few peers reciprocate the spare slots still upload to someone rather than
  // idle (a fresh swarm, or a node fed by the origin, has nobody to reciprocate).
  const rank = (a: ChokerPeer, b: ChokerPeer) =>
    Number(snubbed(a)) - Number(snubbed(b)) ||
    b.downloadedBytes - a.downloadedBytes ||
    (tieKey.get(a.id) as number) - (tieKey.get(b.id) as number);

  const keptOptimistic = state.optimistic.filter((id) => live.has(id));
  let regular: string[];
  if (fullRound) {
    regular = interested.slice().sort(rank).slice(0, o.regularSlots).map((p) => p.id);
  } else {
    const kept = state.regular.filter((id) => live.has(id));
    // Already-unchoked optimistic peers are not moved into a vacancy: that
    // would unchoke nobody new and restart the optimistic rotation.
    const taken = new Set([...kept, ...keptOptimistic]);
    const fill = interested.filter((p) => !taken.has(p.id)).sort(rank);
    regular = [...kept, ...fill.slice(0, Math.max(0, o.regularSlots - kept.length)).map((p) => p.id)];
  }

  const isRegular = new Set(regular);
  const expired = state.optimisticSinceMs === null || nowMs - state.optimisticSinceMs >= o.optimisticIntervalMs;
  const keep = fullRound && expired ? [] : keptOptimistic.filter((id) => !isRegular.has(id));
  const outgoing = new Set(state.optimistic);
  const eligible = interested.filter((p) => !isRegular.has(p.id) && !keep.includes(p.id));
  const weight = (p: ChokerPeer) => (nowMs - p.connectedAtMs < o.newcomerMs ? o.newcomerWeight : 1);
  const need = Math.max(0, o.optimisticSlots - keep.length);
  // A rotation prefers someone new; the outgoing peers stay in the draw only if too few others are interested.
  const fresh = weightedSample(eligible.filter((p) => !outgoing.has(p.id)), need, weight, rng);
  const again = weightedSample(eligible.filter((p) => outgoing.has(p.id)), need - fresh.length, weight, rng);
  const optimistic = [...keep, ...[...fresh, ...again].map((p) => p.id)];
  const optimisticSinceMs = keep.length > 0 ? state.optimisticSinceMs : optimistic.length > 0 ? nowMs : null;

  const reasons: Record<string, UnchokeReason> = {};
  for (const id of regular) reasons[id] = 'regular';
  for (const id of optimistic) reasons[id] = 'optimistic';
  return { unchoked: [...regular, ...optimistic], state: { regular, optimistic, optimisticSinceMs }, reasons };
}

/** Draws up to k items without replacement, each with probability proportional to its weight. */
function weightedSample<T>(items: readonly T[], k: number, weight: (t: T) => number, rng: Rng): T[] {
  const pool = items.slice();
  const out: T[] = [];
  while (out.length < k && pool.length > 0) {
    const total = pool.reduce((sum, t) => sum + weight(t), 0);
    let r = rng() * total;
    let i = 0;
    while (i < pool.length - 1 && (r -= weight(pool[i] as T)) >= 0) i++;
    out.push(...pool.splice(i, 1));
  }
  return out;
}
