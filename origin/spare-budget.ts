/**
 * The budget of the origin's `spare` class (free-riders' fallbacks,
 * egress-class.ts): all free-riders together get at most a set fraction of
 * one stream copy, whatever the uplink has left over. Spare egress that is
 * merely idle is no reason to send: every byte a free-rider fetches is an
 * origin byte the swarm was meant to save, and at 20 % free-riders "what is
 * left over" of a 5-copy uplink came to 3.5 copies.
 *
 * A fetch over the budget is refused at once (429 with Retry-After) rather
 * than queued: a peer that is told "not now" asks its neighbours instead,
 * where a queued fetch would hold one of its few origin slots until its
 * timeout, and then be asked again.
 */

/**
 * Budget that may be spent at once, in ms of the budget's rate: enough for a
 * few pieces after a quiet spell, small against a second of stream.
 */
export const SPARE_BURST_MS = 1000;
/** Retry-After is whole seconds (RFC 9110), at least one; a refusal never asks for longer than this. */
export const MAX_RETRY_AFTER_S = 5;

/**
 * The budget's rate: `percent` of one stream copy, at the stream's rate as
 * the live window measures it (its bytes over its duration; 0 before the
 * first segment).
 */
export function spareBudgetBytesPerSec(percent: number, window: readonly { size: number; durationMs: number }[]): number {
  let bytes = 0;
  let ms = 0;
  for (const s of window) {
    bytes += s.size;
    ms += s.durationMs;
  }
  return ms > 0 ? (10 * percent * bytes) / ms : 0;
}

/** Admitted, and the budget's new state; or refused, and for how long the asker should leave the origin alone. */
export type SpareVerdict = { admit: true; paidUntilMs: number } | { admit: false; retryAfterS: number };

/**
 * `paidUntilMs` is when the budget will have paid for every byte admitted so
 * far (a virtual-time token bucket: it cannot run ahead of now by more than
 * SPARE_BURST_MS). A fetch is admitted while the budget is within its burst,
 * and then charged in full, so one large fetch does not wait for a burst it
 * can never fit; over time admitted bytes stay within the rate plus one burst
 * and one fetch. The rate is read at each fetch, so it follows the stream's.
 */
export function admitSpare(paidUntilMs: number, bytes: number, budgetBytesPerSec: number, nowMs: number): SpareVerdict {
  if (!(budgetBytesPerSec > 0)) return { admit: false, retryAfterS: MAX_RETRY_AFTER_S };
  const owedMs = paidUntilMs - nowMs;
  if (owedMs > SPARE_BURST_MS) {
    const waitS = Math.ceil((owedMs - SPARE_BURST_MS) / 1000);
    return { admit: false, retryAfterS: Math.min(MAX_RETRY_AFTER_S, Math.max(1, waitS)) };
  }
  return { admit: true, paidUntilMs: Math.max(paidUntilMs, nowMs) + (1000 * bytes) / budgetBytesPerSec };
}
