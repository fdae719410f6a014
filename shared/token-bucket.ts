/**
 * A token bucket over an injected time: used to rate-limit untrusted senders
 * and to emulate link bandwidth. `take` never blocks; it says when enough
 * tokens will exist so the caller can schedule.
 */
export class TokenBucket {
  private tokens: number;
  private lastMs: number;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    nowMs: number,
  ) {
    this.tokens = burst;
    this.lastMs = nowMs;
  }

  private refill(nowMs: number): void {
    if (nowMs > this.lastMs) {
      this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.lastMs) * this.ratePerSec) / 1000);
      this.lastMs = nowMs;
    }
  }

  /** Tokens available now. */
  available(nowMs: number): number {
    this.refill(nowMs);
    return this.tokens;
  }

  /** Takes `n` tokens if available now. */
  tryTake(n: number, nowMs: number): boolean {
    this.refill(nowMs);
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /**
   * Takes `n` tokens, going into debt if needed, and returns how many ms the
   * caller must wait before the bytes may leave (0 = now). Debt makes a large
   * piece wait in proportion to its size instead of never fitting the burst.
   */
  reserve(n: number, nowMs: number): number {
    this.refill(nowMs);
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.ratePerSec);
  }
}
