/** Retry delays that grow from `firstMs` by doubling up to `maxMs`: 500, 1000, 2000, 4000, 5000, 5000... */
export function backoffMs(attempt: number, firstMs = 500, maxMs = 5000): number {
  return Math.min(maxMs, firstMs * 2 ** Math.max(0, Math.min(attempt, 20)));
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/**
 * Resolves once `url` answers 200 with an HLS playlist that lists segments,
 * or a master playlist of a ladder (whose renditions' playlists hls.js loads
 * and retries itself); until then retries with backoff (a peer node answers
 * 503 until the stream has started). Returns false if aborted first.
 */
export async function waitForPlaylist(url: string, signal: AbortSignal, onAttempt: (attempt: number, status: string) => void): Promise<boolean> {
  for (let attempt = 0; !signal.aborted; attempt++) {
    let status: string;
    try {
      const res = await fetch(url, { cache: 'no-store', signal });
      const text = await res.text();
      if (res.ok && text.startsWith('#EXTM3U') && (text.includes('#EXTINF') || text.includes('#EXT-X-STREAM-INF:'))) return true;
      status = `HTTP ${res.status}`;
    } catch (e) {
      status = signal.aborted ? 'aborted' : e instanceof Error ? e.message : String(e);
    }
    onAttempt(attempt + 1, status);
    await sleep(backoffMs(attempt), signal);
  }
  return false;
}
