/**
 * What our upload sends next, decided each time it has room for one more
 * piece rather than when a request arrives: a queue that only the link knows
 * about serves in arrival order, and keeps a piece a requester needs now
 * behind ones it could wait for. Pure: the swarm keeps the queue and the
 * neighbours' state, and sends what this picks.
 *
 * Requests come first, oldest segment first (nearest its requester's
 * deadline), then in arrival order. With the upload otherwise idle, `push`
 * relays a fresh piece to a neighbour we unchoke that has not got it: at the
 * live edge every piece is wanted by everyone, and a push saves the hop its
 * have, request and reply would cost (CoolStreaming's push-pull, PPSPP's live
 * profile). A piece the origin seeded us is pushed before any request: until
 * we pass it on, the swarm has no other copy, and while a crowd joins our
 * upload is never idle (its requests are for older segments), so the live
 * edge would wait behind them.
 */

export type RelayMode = 'push' | 'pull';

export interface QueuedUpload {
  /** Index into the neighbours list. */
  neighbour: number;
  seq: number;
  piece: number;
  queuedAtMs: number;
}

export interface FreshPiece {
  seq: number;
  piece: number;
  /** When it reached us; a piece is pushed only while fresh. */
  storedAtMs: number;
  /** Neighbours we pushed it to so far. */
  pushes: number;
  /** The origin's seed: its one copy in the swarm, which nobody else can pass on. */
  seeded: boolean;
}

export interface RelayNeighbour {
  /** We unchoke it: tit-for-tat decides who our upload serves, pushes included. */
  unchoked: boolean;
  interested: boolean;
  /** Not reading what we send, or out of its optimistic trial's share: nothing more goes to it. */
  blocked: boolean;
  /** It said `pushes-off`: its download is near full, and it fetches by request alone (policy/push-welcome.ts). */
  wantsPushes: boolean;
  /** Pieces queued for it or in its socket. */
  queuedPieces: number;
  /** Bytes it sent us this choke round: the fastest uploaders pass a piece on soonest. */
  givesBytes: number;
  holds(seq: number, piece: number): boolean;
  /** Pieces of segment `seq` it holds, as far as we know. */
  heldOf(seq: number): number;
}

export interface RelayLimits {
  mode: RelayMode;
  /** A piece older than this here is left to pull: its neighbours have heard of it and ask if they need it. */
  pushWindowMs: number;
  /** A neighbour with this many pieces queued gets no push, so our requests' answers keep their place. */
  maxQueuedForPush: number;
  /** Neighbours we push one piece to, at most: the others it reaches through them. */
  maxPushesPerPiece: number;
}

/**
 * Measured in the simulator (swarm-50): a piece pushed later than this mostly
 * reaches neighbours that got it meanwhile; 1000 ms wasted 72 % of pushes as
 * duplicates, 300 ms 58 %. Pushing each piece to at most two neighbours cut
 * them further at no cost in lag (`npm run sim -- --scenario swarm-50 --repeat 3`).
 */
export const DEFAULT_PUSH_WINDOW_MS = 300;
export const DEFAULT_MAX_PUSHES_PER_PIECE = 2;
export const DEFAULT_MAX_QUEUED_FOR_PUSH = 2;

export type UploadChoice =
  | { kind: 'request'; index: number }
  | { kind: 'push'; seq: number; piece: number; neighbour: number }
  | null;

export function nextUpload(
  queue: readonly QueuedUpload[],
  fresh: readonly FreshPiece[],
  neighbours: readonly RelayNeighbour[],
  nowMs: number,
  l: RelayLimits,
): UploadChoice {
  if (l.mode === 'push') {
    const seeded = pushChoice(fresh, neighbours, nowMs, l, true);
    if (seeded) return seeded;
  }
  let best = -1;
  for (let i = 0; i < queue.length; i++) {
    const q = queue[i] as QueuedUpload;
    const b = best < 0 ? null : (queue[best] as QueuedUpload);
    if (!b || q.seq < b.seq || (q.seq === b.seq && q.queuedAtMs < b.queuedAtMs)) best = i;
  }
  if (best >= 0) return { kind: 'request', index: best };
  if (l.mode !== 'push') return null;
  return pushChoice(fresh, neighbours, nowMs, l, false);
}

/** Whether a piece the origin seeded us still waits to be pushed: it goes ahead of requests. */
export function seedAwaitsPush(fresh: readonly FreshPiece[], maxPushesPerPiece: number): boolean {
  return fresh.some((f) => f.seeded && f.pushes < maxPushesPerPiece);
}

/**
 * The fresh piece fewest of our neighbours hold (at the live edge, the one
 * least spread), older segment first among equals, to the neighbour lacking
 * it that holds least of its segment (furthest behind), then the one that
 * gave us most this round (fastest to pass it on). `seededOnly`: among the
 * origin's seeds alone.
 */
function pushChoice(fresh: readonly FreshPiece[], neighbours: readonly RelayNeighbour[], nowMs: number, l: RelayLimits, seededOnly: boolean): UploadChoice {
  if (seededOnly && !seedAwaitsPush(fresh, l.maxPushesPerPiece)) return null;
  const open: number[] = [];
  for (let i = 0; i < neighbours.length; i++) {
    const n = neighbours[i] as RelayNeighbour;
    if (n.unchoked && n.interested && n.wantsPushes && !n.blocked && n.queuedPieces < l.maxQueuedForPush) open.push(i);
  }
  if (open.length === 0) return null;
  let choice: { seq: number; piece: number; neighbour: number; holders: number } | null = null;
  for (const f of fresh) {
    if ((seededOnly && !f.seeded) || nowMs - f.storedAtMs > l.pushWindowMs || f.pushes >= l.maxPushesPerPiece) continue;
    // Counted first, and only as far as could still beat the choice so far: most fresh pieces are held widely already.
    const most = choice === null ? Number.POSITIVE_INFINITY : choice.holders;
    let holders = 0;
    for (let i = 0; i < neighbours.length && holders <= most; i++) if ((neighbours[i] as RelayNeighbour).holds(f.seq, f.piece)) holders++;
    const better =
      choice === null ||
      holders < choice.holders ||
      (holders === choice.holders && (f.seq < choice.seq || (f.seq === choice.seq && f.piece < choice.piece)));
    if (!better) continue;
    let target = -1;
    for (const i of open) {
      const n = neighbours[i] as RelayNeighbour;
      if (n.holds(f.seq, f.piece)) continue;
      if (target < 0) {
        target = i;
        continue;
      }
      const t = neighbours[target] as RelayNeighbour;
      const d = n.heldOf(f.seq) - t.heldOf(f.seq);
      if (d < 0 || (d === 0 && n.givesBytes > t.givesBytes)) target = i;
    }
    if (target >= 0) choice = { seq: f.seq, piece: f.piece, neighbour: target, holders };
  }
  return choice && { kind: 'push', seq: choice.seq, piece: choice.piece, neighbour: choice.neighbour };
}

/** Drops pieces no longer fresh from the front of `fresh` (kept in arrival order). */
export function expireFresh(fresh: FreshPiece[], nowMs: number, windowMs: number): void {
  let k = 0;
  while (k < fresh.length && nowMs - (fresh[k] as FreshPiece).storedAtMs > windowMs) k++;
  if (k > 0) fresh.splice(0, k);
}
