/**
 * Offload as the origin measures it, without trusting any peer: what the
 * audience it serves must have received, against what the origin itself sent.
 * The audience of a segment is the peers joined when it was published, each
 * needing the whole segment; the origin's egress is the segment bytes it sent
 * over HTTP and seeded over tracker connections. Whatever the audience needed
 * and the origin did not send came from peers. Conservative: plain HLS players
 * fetching /live/ add egress but no audience, and peers that join late fetch
 * older segments nobody counted them for, so the figure never overstates.
 */
export interface OffloadTotals {
  /** Segment bytes the origin sent: HTTP plus seeded. */
  egressBytes: number;
  /** Σ over published segments of size × peers joined at publication. */
  audienceBytes: number;
}

/** 1 − egress / audience within [0, 1]; 0 before there is any audience. */
export function offloadRatio(t: OffloadTotals): number {
  if (t.audienceBytes <= 0) return 0;
  return Math.min(1, Math.max(0, 1 - t.egressBytes / t.audienceBytes));
}
