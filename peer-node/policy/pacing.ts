/**
 * How fast the node hands a segment to its player. hls.js chooses a
 * rendition by how fast its fragments load; from a node on the same machine
 * they would load at loopback speed, and it would climb to a rung the
 * viewer's link cannot carry. So the node serves each segment at the rate its
 * own downloads achieve: the emulated download cap when one is set, and what
 * its downloads measured, whichever is lower.
 *
 * What the downloads measured is a lower bound of the link. A live swarm
 * often delivers a whole segment slower than the link could (its pieces wait
 * for a neighbour to have them, or for the origin's rescue near the
 * deadline), never faster. So two lower bounds, and the higher of them: the
 * fastest recent segment, and the sum of what the neighbours that delivered
 * lately each deliver when asked (their service time per piece, which a busy
 * link stretches and idle waiting does not).
 */

/** One whole segment downloaded: its bytes, over the ms from its first piece to its last. */
export interface DownloadSample {
  bytes: number;
  ms: number;
  atMs: number;
}

export interface PacingConfig {
  /** Samples kept; the rate is the best of them. */
  recentSamples: number;
  /** A sample this old says little about the link now. */
  maxSampleAgeMs: number;
  /** A smaller download says more about latency than rate. */
  minSampleBytes: number;
  /** A span under this is read as this (a segment whose pieces came in one burst). */
  minSampleMs: number;

  /** A neighbour that delivered nothing for this long says nothing of the link now. */
  neighbourQuietMs: number;
}

export const DEFAULT_PACING: PacingConfig = { recentSamples: 5, maxSampleAgeMs: 60_000, minSampleBytes: 32 * 1024, minSampleMs: 5, neighbourQuietMs: 10_000 };

/** A neighbour's delivery to us, as the swarm measured it (peer-node/neighbour.ts). */
export interface NeighbourDelivery {
  rateBytesPerSec: number;
  lastPieceAtMs: number | null;
}

/** A whole segment downloaded, as pacing needs it (peer-node/segment-store.ts StoredEntry). */
export interface CompletedSegment {
  size: number;
  /** Bytes it held when its whole announcement came: taken while the origin was still receiving it. */
  earlyBytes: number;
  firstPieceAtMs: number;
  announcedAtMs: number;
  completedAtMs: number;
}

/**
 * What a completed segment says of the link. Pieces taken while the segment
 * was open came as fast as the origin received them from ffmpeg, about one
 * segment's bytes per segment duration, not as fast as the link carries
 * them: timed with them, every segment would read as a link at the stream's
 * rate, and the player would be served each segment over its whole duration.
 * Only what came after its whole announcement, from then on, measures the
 * link (a lower bound, as every sample is).
 */
export function segmentSample(e: CompletedSegment): DownloadSample {
  if (e.earlyBytes === 0) return { bytes: e.size, ms: e.completedAtMs - e.firstPieceAtMs, atMs: e.completedAtMs };
  return { bytes: e.size - e.earlyBytes, ms: e.completedAtMs - Math.max(e.firstPieceAtMs, e.announcedAtMs), atMs: e.completedAtMs };
}

/** `samples` with `s` added: bounded, oldest dropped first; a sample too small to tell a rate is not kept. */
export function recordSample(samples: readonly DownloadSample[], s: DownloadSample, config: PacingConfig = DEFAULT_PACING): DownloadSample[] {
  if (s.bytes < config.minSampleBytes) return [...samples];
  return [...samples, s].slice(-config.recentSamples);
}

/** What the node's downloads achieved lately, in bytes/s (see above); null when nothing was measured lately. */
export function measuredBytesPerSec(
  samples: readonly DownloadSample[],
  neighbours: readonly NeighbourDelivery[],
  nowMs: number,
  config: PacingConfig = DEFAULT_PACING,
): number | null {
  let best = 0;
  for (const s of samples) {
    if (nowMs - s.atMs > config.maxSampleAgeMs) continue;
    best = Math.max(best, (s.bytes * 1000) / Math.max(config.minSampleMs, s.ms));
  }
  let together = 0;
  for (const n of neighbours) if (n.lastPieceAtMs !== null && nowMs - n.lastPieceAtMs <= config.neighbourQuietMs) together += n.rateBytesPerSec;
  best = Math.max(best, together);
  return best > 0 ? best : null;
}

/** The rate to serve the player at: the lower of the emulated cap and the measured rate; null (unpaced) when neither is known. */
export function paceBytesPerSec(capBytesPerSec: number | null, measured: number | null): number | null {
  if (capBytesPerSec === null) return measured;
  if (measured === null) return capBytesPerSec;
  return Math.min(capBytesPerSec, measured);
}

/**
 * Bytes of a `total`-byte response that may have been sent `elapsedMs` after
 * its first byte, which goes out once the segment is whole here. Reckoned
 * from that byte, not from the request: hls.js takes the wait for the first
 * byte off its sample, up to what it expects that wait to be, so what it
 * times is the body. A body sent at once after a wait for the swarm would
 * read as a link of any speed (measured in the `abr` bench: a viewer capped
 * at 867 kbit/s estimated 800 Mbit/s after its first segment and climbed to
 * the top rung). Segments are listed once whole (PeerCoreDeps
 * listsWholeSegments), so a player rarely asks before then.
 */
export function bytesDueBy(rateBytesPerSec: number | null, elapsedMs: number, total: number): number {
  if (rateBytesPerSec === null) return total;
  return Math.min(total, Math.max(0, Math.floor((rateBytesPerSec * elapsedMs) / 1000)));
}

/** When to write next after `sent` bytes: once `chunk` more are due (or the rest), at least 1 ms on. */
export function nextWriteInMs(rateBytesPerSec: number, sent: number, elapsedMs: number, total: number, chunk: number): number {
  const target = Math.min(total, sent + chunk);
  return Math.max(1, Math.ceil((target * 1000) / rateBytesPerSec - elapsedMs));
}
