import type { Clock, TimerHandle } from '../shared/clock.ts';
import { admitSpare } from './spare-budget.ts';

/**
 * In order of service: seeds, then HTTP fallbacks, then `spare`, which is sent
 * only when nothing of the other two waits (free-riders' fallbacks, egress-class.ts).
 */
export type EgressClass = 'seed' | 'http' | 'spare';
const SERVICE_ORDER: readonly EgressClass[] = ['seed', 'http', 'spare'];

/**
 * A fetch answered at once, never queued: a `spare` one over its budget
 * (spare-budget.ts), or an `http` one the uplink could not send within
 * the fallback wait.
 */
export interface EgressRefusal {
  retryAfterS: number;
}

/** How long a peer refused for a full uplink leaves the origin alone: HTTP's least Retry-After. */
const BUSY_RETRY_AFTER_S = 1;

interface Queued {
  bytes: number;
  send: () => void;
  wanted: () => boolean;
}

/**
 * The origin's emulated uplink: segment bytes leave at most at `kbps`, and
 * seeded pieces go before HTTP fallback fetches. Seeds are what the swarm
 * lives on; if fallbacks could delay them, a burst of fallbacks (a peer
 * leaving) would make every peer late, which makes more fallbacks: a spiral.
 * Free-riders' fallbacks come last, so they take only what the swarm and
 * everyone else leave over. Nothing is preempted: an item on the wire
 * finishes, so a fallback can wait one item's time behind a `spare` one.
 * `spare` is also bounded by its budget (spare-budget.ts), whether the uplink
 * is capped or not: past it, `send` refuses.
 */
export class Egress {
  private readonly queues: Record<EgressClass, Queued[]> = { seed: [], http: [], spare: [] };
  /** Bytes queued in `seed` and `http`: what a new fallback would wait behind. */
  private aheadOfHttpBytes = 0;
  private readonly bytesPerMs: number;
  private timer: TimerHandle | null = null;
  private closed = false;
  private sparePaidUntilMs = Number.NEGATIVE_INFINITY;

  constructor(
    kbps: number,
    private readonly clock: Clock,
    /** What `spare` may take now, bytes/s (spareBudgetBytesPerSec). */
    private readonly spareBytesPerSec: () => number,
    /** An `http` fetch that would wait longer than this is refused (0: every one is queued). */
    private readonly maxHttpWaitMs = 0,
  ) {
    this.bytesPerMs = kbps > 0 ? kbps / 8 : Number.POSITIVE_INFINITY;
  }

  /**
   * `wanted` is asked again when the item's turn comes: a fetch whose client
   * gave up costs no link time. Null, or a refusal (then `send` is never
   * called): of a `spare` item over its budget, or of an `http` one that
   * would wait longer than `maxHttpWaitMs` behind what is queued. A fallback
   * is asked for a piece due soon: a long wait would only hold the peer back
   * from its neighbours, and, as a swarm forms around a crowd, keep the
   * uplink full of pieces the peers get elsewhere meanwhile (the simulator,
   * 300 viewers joining within 10 s, seed 1: origin copies 2.02 -> 1.52,
   * startup P95 4.9 -> 3.7 s at a 500 ms bound; docs/simulator.md).
   */
  send(cls: EgressClass, bytes: number, send: () => void, wanted: () => boolean = () => true): EgressRefusal | null {
    if (this.closed) return null;
    if (cls === 'spare') {
      const verdict = admitSpare(this.sparePaidUntilMs, bytes, this.spareBytesPerSec(), this.clock.nowMs());
      if (!verdict.admit) return { retryAfterS: verdict.retryAfterS };
      this.sparePaidUntilMs = verdict.paidUntilMs;
    }
    if (this.bytesPerMs === Number.POSITIVE_INFINITY) {
      send();
      return null;
    }
    if (cls === 'http' && this.maxHttpWaitMs > 0 && this.aheadOfHttpBytes / this.bytesPerMs > this.maxHttpWaitMs) return { retryAfterS: BUSY_RETRY_AFTER_S };
    if (cls !== 'spare') this.aheadOfHttpBytes += bytes;
    this.queues[cls].push({ bytes, send, wanted });
    this.drain();
    return null;
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    for (const cls of SERVICE_ORDER) this.queues[cls] = [];
    this.aheadOfHttpBytes = 0;
  }

  /** One item on the wire at a time; it is handed over when its last byte would have left. */
  private drain(): void {
    if (this.timer || this.closed) return;
    let next = this.next();
    while (next && !next.wanted()) next = this.next();
    if (!next) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      next.send();
      this.drain();
    }, Math.max(0, next.bytes / this.bytesPerMs));
  }

  private next(): Queued | undefined {
    for (const cls of SERVICE_ORDER) {
      const item = this.queues[cls].shift();
      if (!item) continue;
      if (cls !== 'spare') this.aheadOfHttpBytes -= item.bytes;
      return item;
    }
    return undefined;
  }
}
