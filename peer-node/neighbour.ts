import { MAX_PIECES_PER_SEGMENT } from '../shared/limits.ts';
import type { TokenBucket } from '../shared/token-bucket.ts';
import type { Link } from './link.ts';
import type { Witness } from './policy/interest.ts';
import type { PieceRef } from '../shared/wire-protocol.ts';

export interface Request {
  seq: number;
  piece: number;
  sentAtMs: number;
}

/** Segments apart by a multiple of this share keys: 12 days of 1 s segments, while the keys' maps hold seconds' worth. */
const KEY_SEQ_SPAN = 2 ** 20;

/**
 * One small integer per piece (piece is below MAX_PIECES_PER_SEGMENT, 2^10,
 * on the wire): a string key cost an allocation and a hash of its characters
 * on every request, cancel and arrival, and seq itself (seconds since 1970)
 * is past V8's small integers. Two segments 2^20 apart cannot both be in
 * flight; a neighbour naming one on purpose reaches only its own requests.
 */
export function pieceKey(seq: number, piece: number): number {
  return (seq % KEY_SEQ_SPAN) * MAX_PIECES_PER_SEGMENT + piece;
}

/** Whether `key` is of a piece of segment `seq`. */
export function keyOfSegment(key: number, seq: number): boolean {
  return key - (key % MAX_PIECES_PER_SEGMENT) === pieceKey(seq, 0);
}

/**
 * What we know of one connected neighbour: the four choke/interest flags of
 * BitTorrent, what it holds, what we asked of it, and how fast it delivers.
 * Plain state; the swarm decides and acts on it.
 */
export class Neighbour {
  peerId: string | null = null;
  handshaken = false;
  amChoking = true;
  amInterested = false;
  /** Counts the pieces it came to hold: our interest in it can only grow when this does. */
  hasVersion = 0;
  /**
   * Our last interest verdict and what it rested on: a piece we lacked and it
   * held, or, when not interested, the versions it saw (swarm.ts updateInterest).
   */
  interest: { witness: Witness | null; hasVersion: number; wantedVersion: number } = {
    witness: null,
    hasVersion: -1,
    wantedVersion: -1,
  };
  /** Since when it holds nothing we lack while we still say we are interested (policy/interest.ts), else null. */
  lackingSinceMs: number | null = null;
  peerChoking = true;
  peerInterested = false;
  /** It takes fresh pieces pushed unasked: until it says `pushes-off` (policy/push-welcome.ts). */
  wantsPushes = true;
  everUnchokedUs = false;
  /** Its bitfield arrived: we know what it held when it met us. */
  bitfieldSeen = false;
  /** seq -> pieces the neighbour announced. Entries go only through markHas and forgetBefore. */
  readonly has = new Map<number, boolean[]>();
  /**
   * The last segment `holds` found in `has`, and its pieces: most calls ask
   * of the segment the one before did. Segment numbers count seconds since
   * 1970, past the small integers, and a map lookup by one is slow.
   */
  private lastSeq = Number.NaN;
  private lastBits: boolean[] | undefined = undefined;
  /** Haves it has not heard yet, waiting for the idle batch (have-batcher.ts). */
  readonly haveBacklog: PieceRef[] = [];
  /** Our outstanding requests to it. */
  readonly inFlight = new Map<number, Request>();
  /** Pieces it refused recently, not asked again until the time given. */
  readonly refusedUntil = new Map<number, number>();
  /** Requests of its we accepted, waiting for our upload bandwidth, and their bytes; a cancel or a choke removes them. */
  readonly uploadWaiting = new Map<number, number>();
  /** Pieces handed to its link whose send has not completed, and their bytes: they still count against its queue. */
  piecesInSocket = 0;
  pieceBytesInSocket = 0;
  /** Bytes of every frame handed to its link whose send has not completed. */
  unsentBytes = 0;
  /** When a send to it last completed (or the wait for one began): a neighbour that stops reading shows here. */
  lastDrainAtMs: number;
  /** Choked for not reading what we sent; it may ask again once it has taken all of it. */
  uploadStalled = false;
  /** Requests of ours it let time out since it last delivered a piece. */
  requestTimeouts = 0;
  roundDownloadedBytes = 0;
  /** Piece bytes it gave us since we connected, requested or pushed. */
  downloadedBytes = 0;
  /** While it holds our optimistic slot: the share of our upload it may use; null otherwise. */
  trialShare: TokenBucket | null = null;
  /**
   * All we upload to it, however it came to be unchoked, until it has sent us
   * a piece: bytes that do not refill. Null when we never upload.
   */
  newcomerAllowance: TokenBucket | null = null;
  /** Unchoked at once on arrival, whatever the choker says, until this time (or its allowance is spent). */
  welcomeUntilMs = 0;
  lastPieceAtMs: number | null = null;
  hashFailures = 0;
  strikes = 0;
  lastSentAtMs: number;
  lastReceivedAtMs: number;
  private lastArrivalMs: number | null = null;
  private serviceMsEwma: number | null = null;
  private latencyEwmaMs: number | null = null;

  constructor(
    readonly link: Link,
    readonly outbound: boolean,
    readonly connectedAtMs: number,
    readonly expectedPeerId: string | null,
    /** The remote address it connects from or we dialled, for the per-address cap. */
    readonly address: string,
  ) {
    this.lastSentAtMs = connectedAtMs;
    this.lastReceivedAtMs = connectedAtMs;
    this.lastDrainAtMs = connectedAtMs;
  }

  /** Accepted pieces not yet taken by its socket. */
  get queuedPieces(): number {
    return this.uploadWaiting.size + this.piecesInSocket;
  }

  get queuedBytes(): number {
    let bytes = this.pieceBytesInSocket;
    for (const b of this.uploadWaiting.values()) bytes += b;
    return bytes;
  }

  holds(seq: number, piece: number): boolean {
    if (seq !== this.lastSeq) {
      const bits = this.has.get(seq);
      if (bits === undefined) return false;
      this.lastSeq = seq;
      this.lastBits = bits;
    }
    return (this.lastBits as boolean[])[piece] === true;
  }

  /** Forgets what it told of holding of `seq` (the number now stands for other bytes). */
  forget(seq: number): void {
    this.has.delete(seq);
    if (this.lastSeq === seq) {
      this.lastSeq = Number.NaN;
      this.lastBits = undefined;
    }
  }

  /** Forgets what it holds of segments before `oldest`. */
  forgetBefore(oldest: number): void {
    for (const seq of this.has.keys()) if (seq < oldest) this.has.delete(seq);
    if (this.lastSeq < oldest) {
      this.lastSeq = Number.NaN;
      this.lastBits = undefined;
    }
  }

  /**
   * Records that it holds a piece of a segment of at most `maxPieces`. Its
   * bits grow as it tells of more: a segment still open here (or not known
   * yet) may have more pieces than we know of, and what it held of them
   * counts once we know them.
   */
  markHas(seq: number, piece: number, maxPieces: number): void {
    if (piece < 0 || piece >= maxPieces) return;
    let bits = this.has.get(seq);
    if (!bits) this.has.set(seq, (bits = []));
    if (bits[piece] === true) return;
    while (bits.length < piece) bits.push(false);
    bits[piece] = true;
    this.hasVersion++;
  }

  /**
   * Learns from a piece that answered request `r`. Pipelined pieces arrive
   * back to back, so the time since the previous arrival (or since the request,
   * if later) is the neighbour's service time per piece: its deliverable rate.
   */
  recordArrival(r: Request, bytes: number, nowMs: number): void {
    const service = Math.max(1, nowMs - Math.max(r.sentAtMs, this.lastArrivalMs ?? 0));
    this.serviceMsEwma = this.serviceMsEwma === null ? service : 0.7 * this.serviceMsEwma + 0.3 * service;
    const rtt = nowMs - r.sentAtMs;
    if (this.inFlight.size === 0 || this.latencyEwmaMs === null) {
      this.latencyEwmaMs = this.latencyEwmaMs === null ? rtt : 0.7 * this.latencyEwmaMs + 0.3 * rtt;
    }
    this.lastArrivalMs = nowMs;
    this.roundDownloadedBytes += bytes;
    this.downloadedBytes += bytes;
    this.lastPieceAtMs = nowMs;
    this.requestTimeouts = 0;
  }

  /** A piece it pushed to us unasked, and we kept: it counts toward tit-for-tat as a requested one does. */
  recordPush(bytes: number, nowMs: number): void {
    this.roundDownloadedBytes += bytes;
    this.downloadedBytes += bytes;
    this.lastPieceAtMs = nowMs;
  }

  /** A request of ours went unanswered: what we measured of its rate no longer holds. */
  recordTimeout(): void {
    this.requestTimeouts++;
    this.serviceMsEwma = null;
    this.lastArrivalMs = null;
  }

  /** Bytes per second it has been delivering to us (0 until measured). */
  rateBytesPerSec(pieceSize: number): number {
    return this.serviceMsEwma === null ? 0 : (pieceSize * 1000) / this.serviceMsEwma;
  }

  latencyMs(): number {
    return this.latencyEwmaMs ?? 0;
  }
}
