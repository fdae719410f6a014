/**
 * The one seam for time. Production code takes a Clock; tests pass a
 * ManualClock and advance it, so nothing in a test waits on a real timer.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  nowMs(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  setInterval(fn: () => void, ms: number): TimerHandle;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    return { cancel: () => clearInterval(t) };
  },
};

/** A timer is its own handle: a simulated swarm makes hundreds of thousands, and a handle apart would be two more objects each. */
class ManualTimer implements TimerHandle {
  /** Order of scheduling: timers due at the same instant fire first-come first-served. */
  order = 0;
  cancelled = false;
  constructor(
    public at: number,
    readonly every: number | null,
    readonly fn: () => void,
  ) {}

  cancel(): void {
    this.cancelled = true;
  }
}

/**
 * Virtual time: timers wait in a binary heap ordered by due time, then by
 * scheduling order, so a run is deterministic and each timer costs O(log n)
 * however many are pending (a simulated swarm holds hundreds of thousands).
 * Cancelled timers are dropped lazily, when they reach the top.
 *
 * A timer due at once (ms 0: a frame on a link without latency, a batch
 * handed on) waits in a plain queue instead, in scheduling order: it was
 * scheduled after every timer already due now (those were scheduled earlier)
 * and before any it could precede, so it fires in the same order as through
 * the heap, without the heap's cost. They were most of a simulation's timers.
 */
export class ManualClock implements Clock {
  private now: number;
  /**
   * The heap: each timer's due time and order side by side in typed arrays,
   * where comparing two reads no timer object (a number field of one is a
   * box of its own), and the timers at the same positions.
   */
  private heapAt = new Float64Array(1024);
  private heapOrder = new Float64Array(1024);
  private heapTimers: (ManualTimer | undefined)[] = [];
  private heapSize = 0;
  /** Timers due at `now`, scheduled at `now`, in order; those before `head` have fired. */
  private dueNow: ManualTimer[] = [];
  private head = 0;
  private scheduled = 0;
  private fired = 0;

  constructor(startMs = 0) {
    this.now = startMs;
  }

  nowMs(): number {
    return this.now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    // Due later even once rounded (a few µs on an epoch's clock round to nothing): the heap.
    const at = this.now + Math.max(0, ms);
    if (at > this.now) return this.add(new ManualTimer(at, null, fn));
    const t = new ManualTimer(this.now, null, fn);
    t.order = this.scheduled++;
    this.dueNow.push(t);
    return t;
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const every = Math.max(1, ms);
    return this.add(new ManualTimer(this.now + every, every, fn));
  }

  /** Moves time forward, firing due timers in order, those they schedule included. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let next: ManualTimer;
      const topAt = this.heapSize > 0 ? (this.heapAt[0] as number) : Number.POSITIVE_INFINITY;
      // Those in the heap due now were scheduled before any in dueNow; time moves on only once dueNow is empty.
      if (topAt <= this.now) next = this.pop();
      else if (this.head < this.dueNow.length) {
        next = this.dueNow[this.head++] as ManualTimer;
        if (this.head === this.dueNow.length) {
          this.dueNow = [];
          this.head = 0;
        }
      } else if (topAt <= end) next = this.pop();
      else break;
      if (next.cancelled) continue;
      this.now = next.at;
      if (next.every === null) next.cancelled = true;
      else {
        next.at += next.every;
        this.push(next);
      }
      this.fired++;
      next.fn();
    }
    this.now = end;
  }

  /** Timers fired so far: the event count of a simulation. */
  get events(): number {
    return this.fired;
  }

  /** Timers waiting, cancelled ones not yet dropped included. */
  get pending(): number {
    return this.heapSize + this.dueNow.length - this.head;
  }

  private add(t: ManualTimer): TimerHandle {
    this.push(t);
    return t;
  }

  private push(t: ManualTimer): void {
    const order = this.scheduled++;
    t.order = order;
    const at = t.at;
    if (this.heapSize === this.heapAt.length) {
      const grownAt = new Float64Array(2 * this.heapSize);
      grownAt.set(this.heapAt);
      this.heapAt = grownAt;
      const grownOrder = new Float64Array(2 * this.heapSize);
      grownOrder.set(this.heapOrder);
      this.heapOrder = grownOrder;
    }
    const hAt = this.heapAt;
    const hOrder = this.heapOrder;
    const timers = this.heapTimers;
    let i = this.heapSize++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pAt = hAt[parent] as number;
      if (at > pAt || (at === pAt && order > (hOrder[parent] as number))) break;
      hAt[i] = pAt;
      hOrder[i] = hOrder[parent] as number;
      timers[i] = timers[parent];
      i = parent;
    }
    hAt[i] = at;
    hOrder[i] = order;
    timers[i] = t;
  }

  /** Takes the earliest timer off the heap (which holds one at least). */
  private pop(): ManualTimer {
    const hAt = this.heapAt;
    const hOrder = this.heapOrder;
    const timers = this.heapTimers;
    const top = timers[0] as ManualTimer;
    const n = --this.heapSize;
    const last = timers[n] as ManualTimer;
    timers[n] = undefined;
    if (n === 0) return top;
    const at = hAt[n] as number;
    const order = hOrder[n] as number;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let child = l;
      if (r < n) {
        const rAt = hAt[r] as number;
        const lAt = hAt[l] as number;
        if (rAt < lAt || (rAt === lAt && (hOrder[r] as number) < (hOrder[l] as number))) child = r;
      }
      const cAt = hAt[child] as number;
      if (at < cAt || (at === cAt && order < (hOrder[child] as number))) break;
      hAt[i] = cAt;
      hOrder[i] = hOrder[child] as number;
      timers[i] = timers[child];
      i = child;
    }
    hAt[i] = at;
    hOrder[i] = order;
    timers[i] = last;
    return top;
  }
}
