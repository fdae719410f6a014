import type { Clock, TimerHandle } from '../shared/clock.ts';
import { admitSpare } from './spare-budget.ts';

/**
 * In order of service: seeds, then HTTP fallbacks, then `spare`, which is sent
 * only when nothing of the other two waits (free-riders' fallbacks, egress-class.ts).
 */
export type EgressClass = 'seed' | 'http' | 'spare';
const SERVICE_ORDER: readonly EgressClass[] = ['seed', 'http', 'spare'];

/** A `spare` fetch over its budget (spare-budget.ts): answered at once, never queued. */
export interface SpareRefusal {
  retryAfterS: number;
}

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
  private readonly bytesPerMs: number;
  private timer: TimerHandle | null = null;
  private closed = false;
  private sparePaidUntilMs = Number.NEGATIVE_INFINITY;

  constructor(
    kbps: number,
    private readonly clock: Clock,
    /** What `spare` may take now, bytes/s (spareBudgetBytesPerSec). */
    private readonly spareBytesPerSec: () => number,
  ) {
    this.bytesPerMs = kbps > 0 ? kbps / 8 : Number.POSITIVE_INFINITY;
  }

  /**
   * `wanted` is asked again when the item's turn comes: a fetch whose client
   * gave up costs no link time. Null, or the refusal of a `spare` item over
   * its budget (then `send` is never called).
   */
  send(cls: EgressClass, bytes: number, send: () => void, wanted: () => boolean = () => true): SpareRefusal | null {
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
    this.queues[cls].push({ bytes, send, wanted });
    this.drain();
    return null;
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    for (const cls of SERVICE_ORDER) this.queues[cls] = [];
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
      if (item) return item;
    }
    return undefined;
  }
}
