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

interface ManualTimer {
  at: number;
  every: number | null;
  fn: () => void;
  cancelled: boolean;
}

export class ManualClock implements Clock {
  private now: number;
  private timers: ManualTimer[] = [];

  constructor(startMs = 0) {
    this.now = startMs;
  }

  nowMs(): number {
    return this.now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add({ at: this.now + ms, every: null, fn, cancelled: false });
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.add({ at: this.now + ms, every: Math.max(1, ms), fn, cancelled: false });
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const next = this.timers
        .filter((t) => !t.cancelled && t.at <= end)
        .sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.now = next.at;
      if (next.every === null) next.cancelled = true;
      else next.at += next.every;
      next.fn();
    }
    this.now = end;
    this.timers = this.timers.filter((t) => !t.cancelled);
  }

  private add(t: ManualTimer): TimerHandle {
    this.timers.push(t);
    return { cancel: () => void (t.cancelled = true) };
  }
}
