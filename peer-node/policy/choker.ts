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
  /** It has unchoked us at least once since it connected. */
  everUnchokedUs: boolean;
}

export interface ChokerOptions {
  mode: ChokerMode;
  regularSlots: number;
  optimisticSlots: number;
  optimisticIntervalMs: number;
  /** A peer that sent us nothing for this long (since it connected, for a newcomer) is snubbed: no regular slot. */
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
  /** Peer id -> when its latest optimistic unchoke began, to tell who never gave back. A Map: ids are remote strings. */
  trials: ReadonlyMap<string, number>;
}

export type UnchokeReason = 'regular' | 'optimistic' | 'all-unchoked';

export interface ChokeDecision {
  unchoked: string[];
  state: ChokerState;
  reasons: ReadonlyMap<string, UnchokeReason>;
}

export function initialChokerState(): ChokerState {
  return { regular: [], optimistic: [], optimisticSinceMs: null, trials: new Map() };
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
      reasons: new Map(interested.map((p) => [p.id, 'all-unchoked' as const])),
    };
  }

  const live = new Set(interested.map((p) => p.id));
  const tieKey = new Map(interested.map((p) => [p.id, rng()]));
  const snubbed = (p: ChokerPeer) => nowMs - (p.lastPieceAtMs ?? p.connectedAtMs) > o.snubTimeoutMs;
  // Regular slots are earned: only a peer that gave us something lately (or a
  // newcomer still in its grace period) can hold one. A slot nobody earns
  // stays empty rather than feed a free-rider; the optimistic slot is how a
  // peer with nothing to give yet gets its first pieces. What a newcomer may
  // take in its grace is bounded in bytes by the caller (swarm.ts).
  const earners = interested.filter((p) => !snubbed(p));
  const rank = (a: ChokerPeer, b: ChokerPeer) =>
    b.downloadedBytes - a.downloadedBytes || (tieKey.get(a.id) as number) - (tieKey.get(b.id) as number);

  const keptOptimistic = state.optimistic.filter((id) => live.has(id));
  let regular: string[];
  if (fullRound) {
    regular = earners.sort(rank).slice(0, o.regularSlots).map((p) => p.id);
  } else {
    const kept = state.regular.filter((id) => live.has(id));
    // Already-unchoked optimistic peers are not moved into a vacancy: that
    // would unchoke nobody new and restart the optimistic rotation.
    const taken = new Set([...kept, ...keptOptimistic]);
    const fill = earners.filter((p) => !taken.has(p.id)).sort(rank);
    regular = [...kept, ...fill.slice(0, Math.max(0, o.regularSlots - kept.length)).map((p) => p.id)];
  }

  const isRegular = new Set(regular);
  const present = new Set(peers.map((p) => p.id));
  const trials = new Map<string, number>();
  for (const [id, at] of state.trials) if (present.has(id)) trials.set(id, at);
  const expired = state.optimisticSinceMs === null || nowMs - state.optimisticSinceMs >= o.optimisticIntervalMs;
  const keep = fullRound && expired ? [] : keptOptimistic.filter((id) => !isRegular.has(id));
  const outgoing = new Set(state.optimistic);
  const eligible = interested.filter((p) => !isRegular.has(p.id) && !keep.includes(p.id));
  const weight = (p: ChokerPeer) => {
    if (nowMs - p.connectedAtMs < o.newcomerMs) return o.newcomerWeight;
    // A peer that had a whole optimistic turn, gave nothing back and has
    // never unchoked us is a free-rider as far as we can tell: it is not tried
    // again. One that has unchoked us before trades when it can (choking is
    // mutual and passes), so it stays in the draw; excluding it could lock two
    // peers that fell out of step into choking each other for good.
    const trial = trials.get(p.id);
    if (trial === undefined || nowMs - trial < o.optimisticIntervalMs) return 1;
    if (p.lastPieceAtMs !== null && p.lastPieceAtMs >= trial) return 1;
    return p.everUnchokedUs ? 1 : 0;
  };
  const need = Math.max(0, o.optimisticSlots - keep.length);
  // A rotation prefers someone new; the outgoing peers stay in the draw only if too few others are interested.
  const fresh = weightedSample(eligible.filter((p) => !outgoing.has(p.id)), need, weight, rng);
  const again = weightedSample(eligible.filter((p) => outgoing.has(p.id)), need - fresh.length, weight, rng);
  const optimistic = [...keep, ...[...fresh, ...again].map((p) => p.id)];
  const optimisticSinceMs = keep.length > 0 ? state.optimisticSinceMs : optimistic.length > 0 ? nowMs : null;
  // A trial runs from a peer's first optimistic unchoke; being drawn again mid-trial does not extend it.
  for (const id of optimistic) if (!trials.has(id)) trials.set(id, nowMs);

  const reasons = new Map<string, UnchokeReason>();
  for (const id of regular) reasons.set(id, 'regular');
  for (const id of optimistic) reasons.set(id, 'optimistic');
  return { unchoked: [...regular, ...optimistic], state: { regular, optimistic, optimisticSinceMs, trials }, reasons };
}

/** Draws up to k items without replacement, each with probability proportional to its weight; weight 0 is never drawn. */
function weightedSample<T>(items: readonly T[], k: number, weight: (t: T) => number, rng: Rng): T[] {
  const pool = items.filter((t) => weight(t) > 0);
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
