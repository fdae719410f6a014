import type { Rng } from '../../shared/rng.ts';

/**
 * Which tracker to dial after a connection to one ended, and when. A peer
 * may be given several tracker URLs (replicas sharing one swarm): after any
 * loss it tries another than the one it lost, so the peers of a replica that
 * died spread over the rest instead of all landing on the next in the list.
 * Waits double per failed attempt (0.5 s, 1 s, 2 s... up to 10 s), each
 * stretched by up to a quarter at random so a replica's peers do not all
 * come back in the same instant. Pure: the rng is injected (null: no
 * jitter, and the next URL in the list).
 */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(10_000, 500 * 2 ** Math.min(attempt, 5));
}

export function nextTracker(count: number, current: number, attempt: number, rng: Rng | null): { index: number; delayMs: number } {
  const base = reconnectDelayMs(attempt);
  if (rng === null) return { index: count <= 1 ? 0 : (current + 1) % count, delayMs: base };
  const index = count <= 1 ? 0 : (current + 1 + Math.floor(rng() * (count - 1))) % count;
  return { index, delayMs: Math.round(base * (1 + 0.25 * rng())) };
}
