export interface StallSnapshot {
  /** Stalls since the page loaded. */
  stalls: number;
  /** Ms spent stalled since the page loaded, the stall under way included. */
  stallMs: number;
  stalled: boolean;
}

/**
 * Counts stalls the way a viewer sees them: once playback has started, a
 * `waiting` begins a stall and the next `playing` ends it. Startup buffering
 * is not a stall.
 */
export class StallTracker {
  private started = false;
  private since: number | null = null;
  private count = 0;
  private doneMs = 0;

  constructor(private readonly nowMs: () => number) {}

  playing(): void {
    this.started = true;
    if (this.since !== null) this.doneMs += this.nowMs() - this.since;
    this.since = null;
  }

  waiting(): void {
    if (!this.started || this.since !== null) return;
    this.count++;
    this.since = this.nowMs();
  }

  snapshot(): StallSnapshot {
    const running = this.since === null ? 0 : this.nowMs() - this.since;
    return { stalls: this.count, stallMs: Math.round(this.doneMs + running), stalled: this.since !== null };
  }
}
