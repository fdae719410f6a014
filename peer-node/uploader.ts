import type { Clock, TimerHandle } from '../shared/clock.ts';
import type { TokenBucket } from '../shared/token-bucket.ts';
import type { WireMessage } from '../shared/wire-protocol.ts';
import type { PeerConfig } from './config.ts';
import type { LinkShaper } from './link.ts';
import { type Neighbour, pieceKey } from './neighbour.ts';
import { DEFAULT_MAX_PUSHES_PER_PIECE, DEFAULT_MAX_QUEUED_FOR_PUSH, DEFAULT_PUSH_WINDOW_MS, type FreshPiece, type RelayNeighbour, expireFresh, nextUpload, seedAwaitsPush } from './policy/relay.ts';
import { DEFAULT_UPLOAD_LIMITS, admitRequest } from './policy/upload.ts';
import type { SegmentStore } from './segment-store.ts';
import type { SwarmCounters } from './swarm-counters.ts';

/**
 * Piece bytes handed to the upload and not yet passed to a link, at most,
 * before the next upload is chosen: enough to keep the upload busy through
 * its latency, few enough that what goes next is decided late, on what
 * neighbours hold by then.
 */
const MAX_UPLOAD_IN_PROGRESS_BYTES = 64 * 1024;

export interface UploaderDeps {
  relay: PeerConfig['relay'];
  clock: Clock;
  store: SegmentStore;
  shaper: LinkShaper;
  counters: SwarmCounters;
  /** Connected, handshaken neighbours (the swarm's list, shared). */
  handshaken(): readonly Neighbour[];
  /** Whether `n` is still one of the swarm's neighbours. */
  isConnected(n: Neighbour): boolean;
  /** Sends `msg` to `n` (`frame`: its encoding, when at hand); a piece comes back through handedToShaper and leftShaper. */
  send(n: Neighbour, msg: WireMessage, frame?: Uint8Array): void;
  /** A neighbour's allowance ran out: the choker should take its slot back. */
  rerunChoker(): void;
}

/** Shaped as the relay policy's QueuedUpload, so the queue is handed to it as is. */
interface QueuedRequest {
  n: Neighbour;
  neighbour: -1;
  seq: number;
  piece: number;
  queuedAtMs: number;
}

/**
 * Our upload: requests accepted (policy/upload.ts) and fresh pieces to push,
 * sent one at a time in the order the relay policy (policy/relay.ts) chooses,
 * whenever the upload has room. Decide in policy/, apply here.
 */
export class Uploader {
  /** Requests accepted and not yet sent, in arrival order; ones cancelled or choked since are skipped when met. */
  private readonly queue: QueuedRequest[] = [];
  /** Pieces stored lately, in arrival order: what push may still relay. */
  private readonly fresh: FreshPiece[] = [];
  /** Piece bytes handed to the shaper and not yet passed to a link. */
  private inProgress = 0;
  private pumpTimer: TimerHandle | null = null;
  private pumping = false;
  private pumpAgain = false;
  private closed = false;

  constructor(private readonly deps: UploaderDeps) {}

  close(): void {
    this.closed = true;
    this.pumpTimer?.cancel();
  }

  /** `n` asked for a piece: queued for our upload, or refused. */
  serve(n: Neighbour, seq: number, piece: number): void {
    const { store, clock } = this.deps;
    // Asked for what we sent it, the two crossing (or for what it told us it holds): the piece on its way answers the request.
    if (n.holds(seq, piece) && store.hasPiece(seq, piece)) return;
    const key = pieceKey(seq, piece);
    const data = store.getPiece(seq, piece);
    const admission = admitRequest(
      {
        uploads: this.deps.shaper.uploads,
        amChoking: n.amChoking,
        pieceBytes: data === null ? null : data.byteLength,
        alreadyQueued: n.uploadWaiting.has(key),
        queuedPieces: n.queuedPieces,
        queuedBytes: n.queuedBytes,
        backlogMs: this.backlogMs(),
        stalled: n.uploadStalled,
      },
      DEFAULT_UPLOAD_LIMITS,
    );
    const now = clock.nowMs();
    const share = uploadShare(n);
    const trialSpent = share !== null && data !== null && admission === 'accept' && !share.tryTake(data.byteLength, now);
    // Spent: the choker takes back its slot.
    if (this.allowanceSpent(n, now)) this.deps.rerunChoker();
    if (admission !== 'accept' || trialSpent || data === null) {
      this.deps.send(n, { type: 'reject', seq, piece });
      return;
    }
    n.uploadWaiting.set(key, data.byteLength);
    this.queue.push({ n, neighbour: -1, seq, piece, queuedAtMs: clock.nowMs() });
    this.pump();
  }

  /** A piece we just stored: with push, ours to relay for a while; `seeded`, ahead of the requests queued. */
  stored(seq: number, piece: number, nowMs: number, seeded = false): void {
    if (this.deps.relay !== 'push' || !this.deps.shaper.uploads) return;
    // Expired here too: a pump that finds no room for long never reaches its own expiry.
    expireFresh(this.fresh, nowMs, DEFAULT_PUSH_WINDOW_MS);
    this.fresh.push({ seq, piece, storedAtMs: nowMs, pushes: 0, seeded });
    this.pump();
  }

  /** A piece's frame went to the shaper, to wait for bandwidth. */
  handedToShaper(bytes: number): void {
    this.inProgress += bytes;
  }

  /** The shaper let a piece's frame through: true if it still goes out (not cancelled, nor its neighbour choked, meanwhile). */
  leftShaper(n: Neighbour, seq: number, piece: number, bytes: number): boolean {
    this.inProgress -= bytes;
    if (n.uploadWaiting.delete(pieceKey(seq, piece))) return true;
    this.pump();
    return false;
  }

  /**
   * Whether `n`, still on its newcomer's allowance (see uploadShare), has
   * taken all of it: the choke rounds then give its slot to others.
   */
  allowanceSpent(n: Neighbour, now: number): boolean {
    return onAllowance(n) && n.newcomerAllowance !== null && n.newcomerAllowance.available(now) < this.deps.store.pieceSize;
  }

  /**
   * Sends what our upload should send next (policy/relay.ts) for as long as
   * it has room: its bandwidth is free and the links have taken what it
   * handed on. Called again whenever either frees up or there is something
   * new to send.
   */
  pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        while (this.room() && this.sendOne());
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
  }

  /** How long a request accepted now would wait for our upload: what is queued, at our rate. */
  private backlogMs(): number {
    const rate = this.deps.shaper.uploadBytesPerSec();
    if (!rate) return 0;
    let bytes = this.inProgress;
    for (const q of this.queue) bytes += q.n.uploadWaiting.get(pieceKey(q.seq, q.piece)) ?? 0;
    return (1000 * bytes) / rate;
  }

  private room(): boolean {
    if (this.closed || !this.deps.shaper.uploads) return false;
    if (this.inProgress >= MAX_UPLOAD_IN_PROGRESS_BYTES) return false;
    const backlog = this.deps.shaper.uploadBacklogMs();
    if (backlog <= 0) return true;
    this.pumpTimer ??= this.deps.clock.setTimeout(() => {
      this.pumpTimer = null;
      this.pump();
    }, backlog);
    return false;
  }

  /** Sends one piece; false if there is nothing to send. */
  private sendOne(): boolean {
    const now = this.deps.clock.nowMs();
    // Requests cancelled, choked away or from neighbours gone since they were queued.
    const queue = this.queue;
    let kept = 0;
    for (const q of queue) if (q.n.uploadWaiting.has(pieceKey(q.seq, q.piece)) && this.deps.isConnected(q.n)) queue[kept++] = q;
    queue.length = kept;
    const push = this.deps.relay === 'push';
    if (push) expireFresh(this.fresh, now, DEFAULT_PUSH_WINDOW_MS);
    if (queue.length === 0 && this.fresh.length === 0) return false;
    // Neighbours' views are built only when a push may come of them.
    const peers = queue.length === 0 || seedAwaitsPush(this.fresh, DEFAULT_MAX_PUSHES_PER_PIECE) ? this.deps.handshaken() : [];
    const choice = nextUpload(
      queue,
      this.fresh,
      peers.map((n) => this.relayView(n, now)),
      now,
      { mode: this.deps.relay, pushWindowMs: DEFAULT_PUSH_WINDOW_MS, maxQueuedForPush: DEFAULT_MAX_QUEUED_FOR_PUSH, maxPushesPerPiece: DEFAULT_MAX_PUSHES_PER_PIECE },
    );
    if (choice === null) return false;
    if (choice.kind === 'request') {
      const [q] = queue.splice(choice.index, 1) as [QueuedRequest];
      this.sendPiece(q.n, q.seq, q.piece);
      return true;
    }
    const n = peers[choice.neighbour] as Neighbour;
    const bytes = this.deps.store.getPiece(choice.seq, choice.piece)?.byteLength;
    if (bytes === undefined) return false;
    uploadShare(n)?.tryTake(bytes, now);
    n.uploadWaiting.set(pieceKey(choice.seq, choice.piece), bytes);
    this.deps.counters.piecesPushed++;
    const f = this.fresh.find((p) => p.seq === choice.seq && p.piece === choice.piece);
    if (f) f.pushes++;
    this.sendPiece(n, choice.seq, choice.piece);
    return true;
  }

  private relayView(n: Neighbour, now: number): RelayNeighbour {
    const share = uploadShare(n);
    return new RelayView(n, n.uploadStalled || (share !== null && share.available(now) < this.deps.store.pieceSize));
  }

  /** A piece accepted or pushed goes out. */
  private sendPiece(n: Neighbour, seq: number, piece: number): void {
    const frame = this.deps.store.getPieceFrame(seq, piece);
    const data = this.deps.store.getPiece(seq, piece);
    if (!frame || !data) {
      n.uploadWaiting.delete(pieceKey(seq, piece));
      return;
    }
    this.deps.send(n, { type: 'piece', seq, piece, data }, frame);
  }
}

/**
 * What bounds our upload to `n` beyond its slot: its newcomer's allowance
 * while it has neither sent us a piece nor ever unchoked us (a node that
 * uploads unchokes each newcomer at once), else an optimistic trial's share.
 * One that unchoked us but never sent anything may simply never have held
 * what we lacked first, as a viewer behind all its neighbours does: it is
 * served as the choker says.
 */
function uploadShare(n: Neighbour): TokenBucket | null {
  return onAllowance(n) ? n.newcomerAllowance : n.trialShare;
}

function onAllowance(n: Neighbour): boolean {
  return n.lastPieceAtMs === null && !n.everUnchokedUs;
}

/**
 * A neighbour as the relay policy sees it. A class rather than an object of
 * closures: the upload builds one per neighbour each time it has room.
 */
class RelayView implements RelayNeighbour {
  readonly unchoked: boolean;
  readonly interested: boolean;
  readonly blocked: boolean;
  readonly wantsPushes: boolean;
  readonly queuedPieces: number;
  readonly givesBytes: number;

  constructor(
    private readonly n: Neighbour,
    /** Not reading what we send, or out of its upload share. */
    blocked: boolean,
  ) {
    this.unchoked = !n.amChoking;
    this.interested = n.peerInterested;
    this.blocked = blocked;
    this.wantsPushes = n.wantsPushes;
    this.queuedPieces = n.queuedPieces;
    this.givesBytes = n.roundDownloadedBytes;
  }

  /** A piece waiting for our upload is as good as held: it is on its way. */
  holds(seq: number, piece: number): boolean {
    return this.n.holds(seq, piece) || (this.n.uploadWaiting.size > 0 && this.n.uploadWaiting.has(pieceKey(seq, piece)));
  }

  /** The last answer, kept: the push choice asks it of each neighbour again for every fresh piece. */
  private heldSeq = -1;
  private held = 0;

  heldOf(seq: number): number {
    if (seq === this.heldSeq) return this.held;
    let held = 0;
    for (const b of this.n.has.get(seq) ?? []) if (b) held++;
    this.heldSeq = seq;
    this.held = held;
    return held;
  }
}
