/**
 * The physical bounds of one simulated run: what no swarm design could beat
 * with these viewers, this much upload and this stream rate. Pure: the sweep
 * prints each figure beside its bound, so a figure is read as a share of
 * what was possible rather than on its own.
 */

export interface BoundsInput {
  /** Viewers that watched (N), free-riders included. */
  viewers: number;
  /**
   * Sum of the viewers' upload capacities, kbit/s. Free-riders contribute 0;
   * a viewer with unlimited upload must be given a number by the caller
   * (`Infinity` is accepted and leaves only the 1 - 1/N limit).
   */
  totalPeerUploadKbps: number;
  /** Bit rate of the stream every viewer watches, kbit/s. */
  streamKbps: number;
}

export interface Bounds {
  /** Highest offload possible: an upper bound. */
  offload: number;
  /** Fewest copies of each segment the origin can send: a lower bound. */
  originCopies: number;
  /** Highest continuity index possible: an upper bound. */
  continuity: number;
}

/** The origin sends every segment at least once. */
export const ORIGIN_COPIES_BOUND = 1;
/** At best every segment is played on time. */
export const CONTINUITY_BOUND = 1;

function check(name: keyof BoundsInput, value: number, ok: boolean, allowed: string): void {
  if (!ok) throw new RangeError(`${name} must be ${allowed}, got ${value}`);
}

/**
 * min(1 - 1/N, U / (N × s)): at least one copy of each segment comes from the
 * origin (N-limited), and the peers cannot upload more than U in all while the
 * N viewers need N × s (upload-limited).
 */
export function offloadBound({ viewers, totalPeerUploadKbps, streamKbps }: BoundsInput): number {
  check('viewers', viewers, Number.isInteger(viewers) && viewers >= 0, 'a whole number ≥ 0');
  check('totalPeerUploadKbps', totalPeerUploadKbps, totalPeerUploadKbps >= 0, 'a number ≥ 0 (Infinity for unlimited)');
  check('streamKbps', streamKbps, Number.isFinite(streamKbps) && streamKbps > 0, 'a finite number > 0');
  if (viewers === 0) return 0;
  return Math.min(1 - 1 / viewers, totalPeerUploadKbps / (viewers * streamKbps));
}

/** Every bound the sweep prints beside its figure. */
export function physicalBounds(input: BoundsInput): Bounds {
  return { offload: offloadBound(input), originCopies: ORIGIN_COPIES_BOUND, continuity: CONTINUITY_BOUND };
}
