import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Clock, TimerHandle } from '../shared/clock.ts';

/** How often the peer process looks at its ArrayBuffer memory. */
export const SWEEP_CHECK_MS = 2000;
/** ArrayBuffer bytes over what the last full collection left that may wait for V8's own next one. */
export const SWEEP_SLACK_BYTES = 4 * 2 ** 20;

export interface SweepProbes {
  /** Bytes held by ArrayBuffers, dead ones not yet collected included. */
  arrayBuffers(): number;
  /** A full collection, which frees the memory of dead ArrayBuffers in the old generation. */
  collect(): void;
}

/**
 * Every piece the store keeps lives for the whole window, so the young
 * generation promotes its buffer, and once the window moves on only a full
 * collection frees it. V8 starts one as old-generation objects grow, but lets
 * the memory behind ArrayBuffers grow by 64 MB (V8 11's soft limit) before it
 * does so for them, so a relaying peer's dead pieces, ~200 KB/s, pile up in
 * malloc between V8's own collections and the process keeps the high-water
 * mark as resident memory. A full collection of the peer's small heap takes
 * a few milliseconds; this asks for one whenever ArrayBuffers have grown
 * SWEEP_SLACK_BYTES past what the last one left, bounding dead piece memory
 * whatever the stream's rate.
 */
export function startBufferSweeper(clock: Clock, probes: SweepProbes = processProbes()): TimerHandle {
  let live: number | null = probes.arrayBuffers();
  return clock.setInterval(() => {
    const now = probes.arrayBuffers();
    // V8 frees the memory of the buffers a collection found dead on a thread of its own, after it: what it left is read a check later.
    if (live === null) {
      live = now;
      return;
    }
    if (now - live < SWEEP_SLACK_BYTES) return;
    probes.collect();
    live = null;
  }, SWEEP_CHECK_MS);
}

/** This process's: V8 gives a program `gc` only when asked to, and then only in contexts made afterwards, so the program's own global never has it. */
export function processProbes(): SweepProbes {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return { arrayBuffers: () => process.memoryUsage().arrayBuffers, collect: () => gc() };
}
