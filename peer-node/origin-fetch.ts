import type { Clock } from '../shared/clock.ts';
import { pieceRange, segmentFileName } from '../shared/segment.ts';
import type { LinkShaper } from './link.ts';

const FETCH_TIMEOUT_MS = 5000;

/**
 * Fetches exactly one piece from the origin with an HTTP Range request: the
 * last resort when a piece is due and no neighbour can deliver it in time.
 * The bytes are returned unverified; the store checks them like any others.
 */
export async function fetchOriginPiece(
  originBase: string,
  seq: number,
  piece: number,
  segmentSize: number,
  pieceSize: number,
  shaper: LinkShaper,
  clock: Clock,
): Promise<Uint8Array | null> {
  const { start, end } = pieceRange(segmentSize, pieceSize, piece);
  const startedAt = clock.nowMs();
  try {
    const res = await fetch(`${originBase}/live/${segmentFileName(seq)}`, {
      headers: { Range: `bytes=${start}-${end - 1}` },
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    if (res.status !== 206) {
      await res.body?.cancel();
      return null;
    }
    const body = new Uint8Array(await res.arrayBuffer());
    if (body.byteLength !== end - start) return null;
    // The emulated link: what loopback took is subtracted from what the link would have taken.
    const wait = shaper.originFetchDelayMs(body.byteLength) - (clock.nowMs() - startedAt);
    if (wait > 0) await new Promise<void>((resolve) => clock.setTimeout(resolve, wait));
    return body;
  } catch {
    return null;
  }
}
