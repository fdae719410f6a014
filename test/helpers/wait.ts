import { setTimeout as sleep } from 'node:timers/promises';
/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastError = e;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

/**
 * Like waitFor, but at the bound it resolves false instead of failing: for a
 * caller that then asserts the same thing with its own message, or must clean
 * up (kill what is left) before it fails.
 */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<boolean> {
  try {
    await waitFor('', async () => (await check()) || undefined, timeoutMs, everyMs);
    return true;
  } catch {
    return false;
  }
}
