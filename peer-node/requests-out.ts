import type { Neighbour, Request } from './neighbour.ts';

/**
 * Our requests out, to neighbours (each neighbour's `inFlight` holds its
 * own) and to the origin. Per piece, how many neighbours were asked for it,
 * and the neighbours' requests in all, are kept as requests come and go, so
 * that a have, a stored piece or a plan need not ask every neighbour.
 */
export class RequestsOut {
  /** Piece key -> the origin fetch for it. */
  readonly origin = new Map<number, Request>();
  private readonly askedOf = new Map<number, number>();
  private count = 0;

  /** `isConnected`: whether a neighbour is still one of the swarm's; only those count. */
  constructor(private readonly isConnected: (n: Neighbour) => boolean) {}

  /** Requests out to neighbours, in all. */
  get toNeighbours(): number {
    return this.count;
  }

  /** Whether a request for the piece is out, to a neighbour or to the origin. */
  requested(key: number): boolean {
    return this.origin.has(key) || this.askedOf.has(key);
  }

  /** Whether some neighbour was asked for the piece. */
  askedOfNeighbour(key: number): boolean {
    return this.askedOf.has(key);
  }

  add(n: Neighbour, key: number, r: Request): void {
    n.inFlight.set(key, r);
    // A neighbour gone while a plan was applied is asked all the same, as the link drops it; it counts no more.
    if (!this.isConnected(n)) return;
    this.count++;
    this.askedOf.set(key, (this.askedOf.get(key) ?? 0) + 1);
  }

  /** Our request for the piece to `n`, which is over (answered, refused, cancelled or given up), if there was one. */
  end(n: Neighbour, key: number): Request | undefined {
    const r = n.inFlight.get(key);
    if (!r) return undefined;
    n.inFlight.delete(key);
    // One asked after it was gone was never counted (add).
    if (!this.isConnected(n)) return r;
    this.count--;
    const asked = this.askedOf.get(key) as number;
    if (asked > 1) this.askedOf.set(key, asked - 1);
    else this.askedOf.delete(key);
    return r;
  }

  /** Every request to `n` is over: before it is dropped, or when it chokes us. */
  endAll(n: Neighbour): void {
    for (const key of n.inFlight.keys()) this.end(n, key);
  }
}
