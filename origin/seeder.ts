/**
 * Origin as seed (super-seeding): each piece of a new segment is pushed to
 * one fast peer, never the same peer twice in a row when others can take it, so
 * the origin sends each segment about once however many peers watch, and
 * the swarm spreads the pieces rarest-first. Pure: the caller sends.
 */
export interface SeedCandidate {
  peerId: string;
  /** Declared upload capacity; 0 (a free-rider) is never seeded. */
  uploadKbps: number;
}

/** Smooth weighted round-robin credit per peer (nginx's algorithm): plain data carried between calls. */
export type SeederState = ReadonlyMap<string, number>;

export function initialSeederState(): SeederState {
  return new Map();
}

/**
 * A declared capacity above this counts as this: one peer claiming a huge
 * uplink must not take every piece, since its neighbours still have to fetch
 * them all from it before their deadlines.
 */
export const MAX_SEED_WEIGHT_KBPS = 20_000;

export interface SeedPlan {
  /** For each piece, the peers to push it to, in order of preference. */
  targets: string[][];
  state: SeederState;
}

const seedWeight = (c: SeedCandidate): number => Math.min(c.uploadKbps, MAX_SEED_WEIGHT_KBPS);

/**
 * The peers worth seeding: the faster half of those that upload (a weight of
 * at least the median; weights are capped, so a claim above the cap cannot
 * push honest peers out of the half). A piece's one copy spreads at the pace
 * of its holder's uplink, and a segment is whole across the swarm only once
 * its slowest piece is; a piece left with a slow holder is fetched from the
 * origin by everyone it has not reached by their deadline, which grows with
 * the audience.
 */
export function seedable(candidates: readonly SeedCandidate[]): SeedCandidate[] {
  const uploaders = candidates.filter((c) => c.uploadKbps > 0);
  const sorted = uploaders.map(seedWeight).sort((a, b) => a - b);
  const median = sorted[sorted.length >> 1] ?? 0;
  return uploaders.filter((c) => seedWeight(c) >= median);
}

/**
 * Chooses `copies` distinct peers per piece among the seedable ones by smooth
 * weighted round-robin over declared upload capacity. Credit carries over
 * between segments, so a peer that took the last piece of one segment does
 * not also take the first piece of the next. Each piece's list also names
 * fallbacks (the next peers in line) so the caller can skip a peer whose
 * socket is backed up.
 */
export function planSeeding(pieceCount: number, candidates: readonly SeedCandidate[], state: SeederState, copies: number, fallbacks = 2): SeedPlan {
  const eligible = seedable(candidates)
    .map((c) => ({ peerId: c.peerId, weight: seedWeight(c) }))
    .sort((a, b) => (a.peerId < b.peerId ? -1 : 1));
  const credit = new Map<string, number>();
  for (const c of eligible) credit.set(c.peerId, state.get(c.peerId) ?? 0);
  const total = eligible.reduce((n, c) => n + c.weight, 0);
  const targets: string[][] = [];
  const per = Math.min(eligible.length, copies + fallbacks);
  for (let p = 0; p < pieceCount; p++) {
    for (const c of eligible) credit.set(c.peerId, (credit.get(c.peerId) ?? 0) + c.weight);
    const chosen = topByCredit(eligible, credit, per);
    // Only the peers given a copy pay for it, so fallbacks keep their turn and credit sums to zero.
    for (const id of chosen.slice(0, copies)) credit.set(id, (credit.get(id) ?? 0) - total / Math.min(copies, eligible.length));
    targets.push(chosen);
  }
  return { targets, state: credit };
}

/**
 * The `k` peers with the most credit, most first, ties in `eligible`'s order:
 * what a stable sort's first `k` would be, in one pass, since k is a few and
 * a swarm may have thousands of peers.
 */
function topByCredit(eligible: readonly { peerId: string }[], credit: ReadonlyMap<string, number>, k: number): string[] {
  const top: { peerId: string; credit: number }[] = [];
  if (k <= 0) return [];
  for (const c of eligible) {
    const value = credit.get(c.peerId) ?? 0;
    if (top.length === k && value <= (top[k - 1] as { credit: number }).credit) continue;
    let i = Math.min(top.length, k - 1);
    while (i > 0 && (top[i - 1] as { credit: number }).credit < value) i--;
    top.splice(i, 0, { peerId: c.peerId, credit: value });
    if (top.length > k) top.pop();
  }
  return top.map((t) => t.peerId);
}
