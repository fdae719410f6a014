/**
 * How many requests a node keeps out to its neighbours at once. Every piece
 * asked for comes in over the node's one download link; asked for faster than
 * that link carries, the pieces queue there, each arrives later than its
 * sender's latency and rate say it should, requests outlive their patience and
 * are asked again elsewhere, and the duplicates fill the link further. Measured
 * in the `abr` bench (viewers at ~1 Mbit/s on a 0.5 Mbit/s rung, 8 KiB pieces,
 * 48 requests out): the download queues of those viewers grew to 10-30 s,
 * duplicates were more than half of what they downloaded, and their segments
 * were whole 4-5 s after publication. So on a link of known rate the requests
 * out are what it carries in IN_FLIGHT_HORIZON_MS: several round trips'
 * worth, which keeps it busy, and never a queue of seconds.
 */

export const IN_FLIGHT_HORIZON_MS = 500;
/** Never fewer: a segment's pieces go to several neighbours at once. */
export const MIN_IN_FLIGHT = 4;

/** The most requests to neighbours out at once, given the configured most and the download link's rate (null: not known, unbounded). */
export function requestBudget(maxInFlightTotal: number, downloadBytesPerSec: number | null, pieceSize: number, horizonMs = IN_FLIGHT_HORIZON_MS): number {
  if (downloadBytesPerSec === null) return maxInFlightTotal;
  const carried = Math.floor((downloadBytesPerSec * horizonMs) / 1000 / pieceSize);
  return Math.min(maxInFlightTotal, Math.max(MIN_IN_FLIGHT, carried));
}
