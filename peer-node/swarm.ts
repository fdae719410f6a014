import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../shared/clock.ts';
import type { Rng } from '../shared/rng.ts';
import {
  MAX_HAVE_AHEAD_SEGMENTS,
  MAX_PEER_REQUESTS_PER_SEC,
  PEER_REQUEST_BURST,
  PROTOCOL_VERSION,
} from '../shared/limits.ts';
import { type WireMessage, bitsetBytes, decodeWire, encodeWire, hasBit, setBit } from '../shared/wire-protocol.ts';
import type { PeerConfig } from './config.ts';
import { type DeadlineSegment, segmentDeadlines, type PlayerPosition } from './deadlines.ts';
import type { Link, LinkShaper } from './link.ts';
import { startSeq } from './listing.ts';
import { Neighbour, keyOfSegment, pieceKey } from './neighbour.ts';
import { DEFAULT_PATIENCE, type NeighbourRecord, missVerdict, patienceMs, raceLostIsMiss, strikeVerdict } from './policy/patience.ts';
import { type Lacking, interestLingers, interestWitness, lackedPieces } from './policy/interest.ts';
import { holdOffFresh, wantedSegments } from './policy/wanted.ts';
import { ORIGIN, type PickerSegment, type PlannedRequest, planRequests } from './policy/picker.ts';
import { windowForSegment } from './policy/segment-timing.ts';
import { DEFAULT_UPLOAD_LIMITS, drainVerdict } from './policy/upload.ts';
import type { SegmentStore } from './segment-store.ts';
import { type SwarmCounters, frameOverheadBytes } from './swarm-counters.ts';
import { TokenBucket } from '../shared/token-bucket.ts';
import { RequestsOut } from './requests-out.ts';
import { Uploader } from './uploader.ts';
import { ChokeRounds } from './choke-rounds.ts';
import { HaveBatcher } from './have-batcher.ts';
import { requestBudget } from './policy/request-budget.ts';
import { pushesWelcome } from './policy/push-welcome.ts';

export type SwarmConfig = Pick<
  PeerConfig,
  | 'picker'
  | 'relay'
  | 'choker'
  | 'urgentWindowMs'
  | 'rescueWindowMs'
  | 'holdBackSegments'
  | 'maxInFlightPerPeer'
  | 'maxInFlightTotal'
  | 'maxOriginInFlight'
  | 'regularSlots'
  | 'optimisticSlots'
  | 'rechokeIntervalMs'
  | 'optimisticIntervalMs'
  | 'maxHashFailures'
  | 'neighbourIdleMs'
>;

export interface SwarmDeps {
  config: SwarmConfig;
  peerId: string;
  streamId: string;
  clock: Clock;
  rng: Rng;
  log: Logger;
  store: SegmentStore;
  shaper: LinkShaper;
  counters: SwarmCounters;
  /**
   * Fetches one piece from the origin; `done` gets its bytes, or null on
   * failure, at once or later. A callback, not a promise, so a simulator on a
   * manual clock decides exactly when it lands. A refusal (the origin's spare
   * budget) says until when the origin asked to be left alone.
   */
  fetchFromOrigin(seq: number, piece: number, done: (data: Uint8Array | null, refusedUntilMs?: number) => void): void;
  /** A neighbour was banned (it sent bad pieces): never connect to it again. */
  onBan(peerId: string): void;
  isBanned(peerId: string): boolean;
  onNeighboursChanged(): void;
}

const TICK_MS = 100;
const PICK_MIN_GAP_MS = 25;
const HANDSHAKE_TIMEOUT_MS = 5000;
const REFUSAL_BACKOFF_MS = 1000;
/**
 * All a neighbour that never unchoked us may take from us until it sends us
 * a piece: its welcome, its newcomer's grace and its optimistic trials
 * together. With a dozen neighbours, a newcomer gets its first segments at
 * its full download rate; a free-rider gets a few seconds of stream, once,
 * rather than a free first minute from every neighbour that tries it.
 */
const NEWCOMER_ALLOWANCE_BYTES = 96 * 1024;
/** A newcomer is unchoked at once, so it can start from what we hold, until the next choke round or this long at most. */
const WELCOME_MS = 10_000;

/**
 * The peer node's scheduler: it owns the neighbours, feeds plain snapshots to
 * the picker, and applies its decisions as wire messages; the choke rounds
 * are ChokeRounds' (choke-rounds.ts), and what it sends for its neighbours'
 * requests, and pushes, is the Uploader's (uploader.ts). Decide in policy/,
 * apply here: nothing here chooses a piece or a peer.
 */
export class Swarm {
  private readonly neighbours = new Set<Neighbour>();
  private readonly requests = new RequestsOut((n) => this.neighbours.has(n));
  /** Segments the local player asked for over HTTP, and when: a hint of where it is when it reports nothing. */
  private readonly playerAsked = new Map<number, number>();
  /** Per neighbour, the requests it may still send: one that floods us is cut off. */
  private readonly requestAllowance = new WeakMap<Neighbour, TokenBucket>();
  private tickTimer: TimerHandle | null = null;
  private player: PlayerPosition | null = null;
  private firstWantedSeq: number | null = null;
  /** No segment before this is wanted, wherever the start would be (wantFrom). */
  private wantFloor = Number.NEGATIVE_INFINITY;
  private pickScheduled = false;
  private lastPickMs = Number.NEGATIVE_INFINITY;
  private prunedBelow: number | null = null;
  /** The segments the last plan wanted pieces of: a have of one of their missing pieces makes us interested without a plan. */
  private readonly wantedSeqs = new Set<number>();
  /** Grows whenever a segment joins wantedSeqs: a neighbour's lack of interest to us is rechecked then. */
  private wantedVersion = 0;
  /** The origin refused a fetch and asked to be left alone until then. */
  private originRefusedUntilMs = Number.NEGATIVE_INFINITY;
  /** The deadline calculator's view of the store's entries, kept while the store keeps the same list. */
  private deadlineInputs: { of: readonly unknown[]; segments: DeadlineSegment[] } | null = null;
  /** When we first heard of each piece we lack, per segment: with push, pull waits a moment for it. */
  private readonly heardAt = new Map<number, Map<number, number>>();
  private holdOffTimer: TimerHandle | null = null;
  private closed = false;
  /** Fetches nothing, relays what it holds: a rendition the player left (peer-node/policy/renditions.ts). */
  private relayOnly = false;
  /** What we last told our neighbours: whether they may push us fresh pieces. */
  private welcomesPushes = true;
  /** When it last went from relaying to fetching; -Infinity if it has fetched from the start. */
  private fetchingSince = Number.NEGATIVE_INFINITY;
  /** `handshaken()`'s answer, kept until a neighbour goes or completes its handshake: most plans and uploads ask for it. */
  private handshakenList: Neighbour[] | null = null;

  /** Segment numbers the origin reused for other bytes while we traded them: a piece of the old bytes still on its way is no neighbour's fault. */
  private readonly reusedSeqs = new Set<number>();

  private readonly uploader: Uploader;
  private readonly haves: HaveBatcher;
  private readonly chokeRounds: ChokeRounds;

  constructor(private readonly deps: SwarmDeps) {
    this.uploader = new Uploader({
      relay: deps.config.relay,
      clock: deps.clock,
      store: deps.store,
      shaper: deps.shaper,
      counters: deps.counters,
      handshaken: () => this.handshaken(),
      isConnected: (n) => this.neighbours.has(n),
      send: (n, msg, frame) => this.send(n, msg, frame),
      rerunChoker: () => this.chokeRounds.rerun(),
    });
    this.haves = new HaveBatcher({ clock: deps.clock, handshaken: () => this.handshaken(), send: (n, msg) => this.send(n, msg) });
    this.chokeRounds = new ChokeRounds({
      config: deps.config,
      clock: deps.clock,
      rng: deps.rng,
      shaper: deps.shaper,
      handshaken: () => this.handshaken(),
      allowanceSpent: (n, now) => this.uploader.allowanceSpent(n, now),
      setChoking: (n, choke) => this.setChoking(n, choke),
    });
    deps.store.onReplaced((seq) => this.forgetSegment(seq));
  }

  /**
   * The segment `seq` now stands for other bytes: what neighbours told of
   * holding under it, and what we asked of them, were of the old ones.
   */
  private forgetSegment(seq: number): void {
    this.reusedSeqs.add(seq);
    this.heardAt.delete(seq);
    for (const n of this.neighbours) {
      n.forget(seq);
      for (const key of [...n.inFlight.keys()]) {
        if (!keyOfSegment(key, seq)) continue;
        const r = this.requests.end(n, key);
        if (r) this.send(n, { type: 'cancel', seq, piece: r.piece });
      }
    }
    this.schedulePick();
  }

  start(): void {
    this.tickTimer = this.deps.clock.setInterval(() => this.tick(), TICK_MS);
    this.chokeRounds.start();
  }

  close(): void {
    this.closed = true;
    this.tickTimer?.cancel();
    this.haves.close();
    this.uploader.close();
    this.chokeRounds.close();
    this.holdOffTimer?.cancel();
    for (const n of this.neighbours) n.link.close(1001, 'peer shutting down');
    this.neighbours.clear();
    this.handshakenList = null;
  }

  /** Whether some neighbour has told us what it holds: enough to choose where to start. */
  heardHoldings(): boolean {
    for (const n of this.neighbours) if (n.handshaken && n.bitfieldSeen) return true;
    return false;
  }

  /** Connected, handshaken neighbours, in the order they connected; the array is shared, not to be changed. */
  handshaken(): readonly Neighbour[] {
    if (this.handshakenList) return this.handshakenList;
    const out: Neighbour[] = [];
    for (const n of this.neighbours) if (n.handshaken) out.push(n);
    this.handshakenList = out;
    return out;
  }

  connectedTo(peerId: string): boolean {
    for (const n of this.neighbours) if (n.peerId === peerId || n.expectedPeerId === peerId) return true;
    return false;
  }

  get size(): number {
    return this.neighbours.size;
  }

  /** The first segment this node fetches and lists for its player; null until the tracker spoke. */
  get firstWanted(): number | null {
    return this.firstWantedSeq;
  }

  setPlayerPosition(p: PlayerPosition): void {
    this.player = p;
    this.schedulePick();
  }

  /** The player asked for a segment we do not have whole yet (its request waits). */
  playerRequested(seq: number): void {
    if (!this.playerAsked.has(seq)) this.playerAsked.set(seq, this.deps.clock.nowMs());
    this.schedulePick();
  }

  /** A new announcement from the tracker. The first ones decide where this node starts in the stream. */
  onAnnounced(seq: number): void {
    // Until the node knows its neighbours (chooseStart), it fetches only from the live edge on.
    this.firstWantedSeq ??= this.deps.store.newestSeq() ?? seq;
    this.schedulePick();
  }

  /**
   * The origin told of more pieces of a segment it is still receiving (the
   * store took them). They are wanted at once, and what neighbours told us of
   * them before we knew them counts now: a neighbour found of no interest
   * may hold them.
   */
  onPartial(): void {
    this.wantedVersion++;
    this.schedulePick();
  }

  /** The player needs nothing before `seq` (it switched here from another rung with the segments before in its buffer). */
  wantFrom(seq: number): void {
    this.wantFloor = Math.max(this.wantFloor, seq);
    this.firstWantedSeq = Math.max(this.firstWantedSeq ?? seq, seq);
    this.schedulePick();
  }

  /** Once, when the node is ready for its player: how far back to start, given what the neighbours hold. */
  chooseStart(lonely: boolean): void {
    const newest = this.deps.store.newestSeq();
    if (newest === null || this.firstWantedSeq === null) return;
    const held = (seq: number) => this.handshaken().some((n) => n.has.get(seq)?.some((b) => b) === true);
    this.firstWantedSeq = Math.max(this.wantFloor, Math.min(this.firstWantedSeq, startSeq(newest, this.deps.config.holdBackSegments, held, lonely)));
    this.schedulePick();
  }

  /** A piece verified and stored from any source (neighbour, origin, seed); `seeded`: the origin's seed, its one copy in the swarm. */
  onPieceStored(seq: number, piece: number, seeded = false): void {
    if (this.deps.store.getOpen(seq)) this.deps.counters.earlyPieces++;
    this.haves.stored(seq, piece);
    const key = pieceKey(seq, piece);
    const now = this.deps.clock.nowMs();
    if (this.requests.askedOfNeighbour(key)) for (const n of this.neighbours) {
      const r = this.requests.end(n, key);
      if (!r) continue;
      // Beaten by another source long after it should have answered: as good as a timeout for judging whether it delivers.
      if (raceLostIsMiss(this.record(n), now - r.sentAtMs, this.deps.store.pieceSize, DEFAULT_PATIENCE)) n.recordTimeout();
      this.send(n, { type: 'cancel', seq, piece });
    }
    this.uploader.stored(seq, piece, now, seeded);
    this.schedulePick();
  }

  /** Whether a plan now could send `n` a request: it unchokes us and both its pipeline and ours have room. */
  private mayRequestFrom(n: Neighbour): boolean {
    const c = this.deps.config;
    if (n.peerChoking || n.inFlight.size >= c.maxInFlightPerPeer) return false;
    return this.requests.toNeighbours < this.inFlightBudget();
  }

  /** Tells every neighbour when our download comes near full, or has room again (policy/push-welcome.ts). */
  private updatePushWelcome(): void {
    const shaper = this.deps.shaper;
    const welcome = pushesWelcome(this.welcomesPushes, shaper.receivedBytesPerSec(), shaper.downloadBytesPerSec());
    if (welcome === this.welcomesPushes) return;
    this.welcomesPushes = welcome;
    for (const n of this.handshaken()) this.send(n, { type: welcome ? 'pushes-on' : 'pushes-off' });
  }

  /** Requests to neighbours out at once: what the download link carries soon (policy/request-budget.ts). */
  private inFlightBudget(): number {
    return requestBudget(this.deps.config.maxInFlightTotal, this.deps.shaper.downloadBytesPerSec(), this.deps.store.pieceSize);
  }

  /** What the patience policy judges a neighbour by. */
  private record(n: Neighbour): NeighbourRecord {
    return { rateBytesPerSec: n.rateBytesPerSec(this.deps.store.pieceSize), latencyMs: n.latencyMs(), everDelivered: n.lastPieceAtMs !== null };
  }

  /** Neighbours (handshaken or not) at `address`. */
  countFrom(address: string): number {
    let count = 0;
    for (const n of this.neighbours) if (n.address === address) count++;
    return count;
  }

  get isRelayOnly(): boolean {
    return this.relayOnly;
  }

  /** Stops or resumes fetching; uploads go on either way. */
  setRelayOnly(on: boolean): void {
    if (on === this.relayOnly) return;
    this.relayOnly = on;
    if (!on) this.fetchingSince = this.deps.clock.nowMs();
    this.schedulePick();
  }

  /** When the swarm last went from relaying to fetching; -Infinity if it has fetched from the start. */
  get fetchingSinceMs(): number {
    return this.fetchingSince;
  }

  /** Neighbours that dialled us. */
  get inbound(): number {
    let count = 0;
    for (const n of this.neighbours) if (!n.outbound) count++;
    return count;
  }

  addLink(link: Link, outbound: boolean, expectedPeerId: string | null, address: string): void {
    const now = this.deps.clock.nowMs();
    const n = new Neighbour(link, outbound, now, expectedPeerId, address);
    this.neighbours.add(n);
    link.onMessage((frame) => {
      n.lastReceivedAtMs = this.deps.clock.nowMs();
      this.deps.counters.controlBytesIn += frameOverheadBytes(frame.byteLength, !outbound);
      this.deps.shaper.download(frame.byteLength, () => this.onFrame(n, frame));
    });
    link.onClose(() => this.drop(n));
    this.send(n, { type: 'handshake', version: PROTOCOL_VERSION, streamId: this.deps.streamId, peerId: this.deps.peerId });
  }

  private drop(n: Neighbour): void {
    if (!this.neighbours.has(n)) return;
    this.requests.endAll(n);
    this.neighbours.delete(n);
    if (n.handshaken) this.handshakenList = null;
    this.deps.onNeighboursChanged();
    this.schedulePick();
  }

  private disconnect(n: Neighbour, reason: string): void {
    this.deps.log.debug({ neighbour: n.peerId, reason }, 'disconnecting neighbour');
    n.link.close(1008, reason);
    this.drop(n);
  }

  /** `frame` is `msg` encoded, when the caller has it already (a stored piece's frame). */
  private send(n: Neighbour, msg: WireMessage, frame?: Uint8Array): void {
    // Nothing more is queued for a neighbour that is not reading: its rejects and haves would only pile up here.
    if (n.uploadStalled && msg.type !== 'choke') return;
    frame ??= encodeWire(msg);
    const bulk = msg.type === 'piece';
    const payload = bulk ? msg.data.byteLength : 0;
    this.deps.counters.controlBytesOut += frame.byteLength - payload + frameOverheadBytes(frame.byteLength, n.outbound);
    n.lastSentAtMs = this.deps.clock.nowMs();
    if (bulk) this.uploader.handedToShaper(payload);
    this.deps.shaper.upload(frame.byteLength, () => {
      if (bulk) {
        // Cancelled, or the neighbour was choked, while the piece waited for bandwidth.
        // Taken off the upload once the link has it: a neighbour whose socket
        // does not drain is held to its own queue's bound, and must not stall
        // what we send everyone else.
        if (!this.uploader.leftShaper(n, msg.seq, msg.piece, payload)) return;
        // It holds the piece from now on, so hears no have of it, and asks for it no more.
        n.markHas(msg.seq, msg.piece, this.deps.store.maxPieces(msg.seq));
        n.piecesInSocket++;
        n.pieceBytesInSocket += payload;
      }
      this.transmit(n, frame, payload);
    }, bulk);
  }


  /** Hands a frame to the link and keeps count of it until the link has taken it. */
  private transmit(n: Neighbour, frame: Uint8Array, payload: number): void {
    if (n.unsentBytes === 0) n.lastDrainAtMs = this.deps.clock.nowMs();
    n.unsentBytes += frame.byteLength;
    n.link.send(frame, (sent) => {
      n.unsentBytes -= frame.byteLength;
      n.lastDrainAtMs = this.deps.clock.nowMs();
      if (payload === 0) return;
      n.piecesInSocket--;
      n.pieceBytesInSocket -= payload;
      if (sent) this.deps.counters.uploadedBytes += payload;
      // Its queue has room again, for a push.
      this.uploader.pump();
    });
  }

  private onFrame(n: Neighbour, frame: Uint8Array): void {
    if (this.closed || !this.neighbours.has(n)) return;
    const decoded = decodeWire(frame);
    if (!decoded.ok) {
      this.deps.counters.protocolErrors++;
      return this.disconnect(n, `${decoded.error.code}: ${decoded.error.message}`);
    }
    const msg = decoded.value;
    if (msg.type !== 'piece') this.deps.counters.controlBytesIn += frame.byteLength;
    else this.deps.counters.controlBytesIn += frame.byteLength - msg.data.byteLength;
    if (!n.handshaken && msg.type !== 'handshake') return this.disconnect(n, 'expected handshake');
    this.handle(n, msg, frame);
  }

  /** `frame` is what `msg` was decoded from: a stored piece keeps the frame it came in. */
  private handle(n: Neighbour, msg: WireMessage, frame: Uint8Array): void {
    const store = this.deps.store;
    switch (msg.type) {
      case 'handshake': {
        if (n.handshaken) return this.disconnect(n, 'second handshake');
        if (msg.version !== PROTOCOL_VERSION) return this.disconnect(n, `protocol version ${msg.version} unsupported`);
        if (msg.streamId !== this.deps.streamId) return this.disconnect(n, 'other stream');
        if (msg.peerId === this.deps.peerId) return this.disconnect(n, 'connected to self');
        if (this.deps.isBanned(msg.peerId)) return this.disconnect(n, 'banned');
        if (n.expectedPeerId !== null && msg.peerId !== n.expectedPeerId) return this.disconnect(n, 'unexpected peer id');
        const twin = [...this.neighbours].find((o) => o !== n && o.handshaken && o.peerId === msg.peerId);
        if (twin) {
          // Both sides dialled each other: keep the connection the smaller id opened.
          const keepOutbound = this.deps.peerId < msg.peerId;
          const loser = n.outbound === keepOutbound ? twin : n;
          this.disconnect(loser, 'duplicate connection');
          if (loser === n) return;
        }
        n.peerId = msg.peerId;
        n.handshaken = true;
        this.handshakenList = null;
        this.sendBitfield(n);
        if (!this.welcomesPushes) this.send(n, { type: 'pushes-off' });
        if (this.deps.shaper.uploads) {
          const now = this.deps.clock.nowMs();
          n.newcomerAllowance = new TokenBucket(0, NEWCOMER_ALLOWANCE_BYTES, now);
          n.welcomeUntilMs = now + WELCOME_MS;
          this.setChoking(n, false);
        }
        this.deps.onNeighboursChanged();
        return;
      }
      case 'bitfield': {
        const first = !n.bitfieldSeen;
        n.bitfieldSeen = true;
        const newest = store.newestSeq();
        for (const seg of msg.segments) {
          if (!this.keepsHave(seg.seq, newest)) continue;
          const max = Math.min(seg.pieceCount, store.maxPieces(seg.seq));
          for (let i = 0; i < max; i++) if (hasBit(seg.bits, i)) n.markHas(seg.seq, i, max);
        }
        // The first one tells whether the node can start from what this neighbour holds (peer-core's ready).
        if (first) this.deps.onNeighboursChanged();
        this.schedulePick();
        return;
      }
      case 'have': {
        const newest = store.newestSeq();
        let news = false;
        /** Some piece in the news no one has been asked for. */
        let unasked = false;
        let wanted = false;
        for (const p of msg.pieces) {
          if (!this.keepsHave(p.seq, newest)) continue;
          // Not announced to us yet, or open: room for any piece, so the segment's later pieces are not lost.
          n.markHas(p.seq, p.piece, store.maxPieces(p.seq));
          const slots = store.pieceSlots(p.seq);
          // A piece of an open segment past those we know of yet is news once its hash comes (onPartial), as is the have.
          const beyond = slots !== undefined && p.piece >= slots.length && store.getOpen(p.seq) !== undefined;
          if (!beyond && (!slots || slots[p.piece] !== null)) continue;
          if (!beyond) {
            news = true;
            unasked ||= !this.requests.requested(pieceKey(p.seq, p.piece));
            wanted ||= this.wantedSeqs.has(p.seq);
          }
          let heard = this.heardAt.get(p.seq);
          if (!heard) this.heardAt.set(p.seq, (heard = new Map()));
          if (!heard.has(p.piece)) heard.set(p.piece, this.deps.clock.nowMs());
        }
        // Most haves name pieces we hold already (every neighbour tells of each piece): those change no plan.
        if (!news) return;
        // Nor does news from a neighbour we cannot ask now (it chokes us, or its
        // pipeline or ours is full): a plan would only reorder what others were
        // already asked, and whatever frees the room plans anew. Nor news of
        // pieces already asked of someone: no neighbour is asked for a piece in
        // flight (only the origin, when overdue, which the tick sees to). Either
        // can still make us interested: a piece of a segment the last plan
        // wanted does so at once; anything else is left to a plan.
        if (!n.amInterested && wanted) this.setInterested(n, true);
        if (!n.amInterested || (this.mayRequestFrom(n) && unasked)) this.schedulePick();
        return;
      }
      case 'interested':
        n.peerInterested = true;
        this.chokeRounds.rerun();
        if (!n.amChoking) this.uploader.pump();
        return;
      case 'not-interested':
        n.peerInterested = false;
        this.chokeRounds.rerun();
        return;
      case 'choke':
        n.peerChoking = true;
        // A choking peer drops our pending requests (BitTorrent semantics): they can go elsewhere now.
        // With none pending, nothing is freed and a plan would ask for nothing new.
        if (n.inFlight.size === 0) return;
        this.requests.endAll(n);
        this.schedulePick();
        return;
      case 'unchoke':
        n.peerChoking = false;
        n.everUnchokedUs = true;
        // Not interested: it holds nothing we want, so there is nothing to ask of it.
        if (n.amInterested) this.schedulePick();
        return;
      case 'request': {
        const now = this.deps.clock.nowMs();
        let allowance = this.requestAllowance.get(n);
        if (!allowance) this.requestAllowance.set(n, (allowance = new TokenBucket(MAX_PEER_REQUESTS_PER_SEC, PEER_REQUEST_BURST, now)));
        if (!allowance.tryTake(1, now)) return this.disconnect(n, 'too many requests');
        return this.uploader.serve(n, msg.seq, msg.piece);
      }
      case 'cancel':
        n.uploadWaiting.delete(pieceKey(msg.seq, msg.piece));
        return;
      case 'reject': {
        const key = pieceKey(msg.seq, msg.piece);
        if (this.requests.end(n, key)) n.refusedUntil.set(key, this.deps.clock.nowMs() + REFUSAL_BACKOFF_MS);
        this.schedulePick();
        return;
      }
      case 'piece':
        return this.receivePiece(n, msg.seq, msg.piece, msg.data, frame);
      case 'keep-alive':
        return;
      case 'pushes-on':
        n.wantsPushes = true;
        this.uploader.pump();
        return;
      case 'pushes-off':
        n.wantsPushes = false;
        return;
    }
  }

  /**
   * Whether to record that a neighbour holds pieces of `seq`: a segment in our
   * store, or one just past our newest that the neighbour heard of first.
   * Anything else is no use to us, and would be memory it could fill at will.
   */
  private keepsHave(seq: number, newest: number | null): boolean {
    if (this.deps.store.knows(seq)) return true;
    return newest !== null && seq > newest && seq <= newest + MAX_HAVE_AHEAD_SEGMENTS;
  }

  private receivePiece(n: Neighbour, seq: number, piece: number, data: Uint8Array, frame: Uint8Array): void {
    const now = this.deps.clock.nowMs();
    const key = pieceKey(seq, piece);
    const request = this.requests.end(n, key);
    if (request) {
      n.recordArrival(request, data.byteLength, now);
    } else if (this.deps.store.hasPiece(seq, piece) || !this.deps.store.knows(seq)) {
      // Unasked-for bytes we cannot use: a push crossing a have, or a cancel
      // crossing a piece, now and then; many in a row and the sender goes.
      if (this.deps.store.hasPiece(seq, piece)) this.deps.counters.duplicateBytes += data.byteLength;
      if (strikeVerdict(++n.strikes, DEFAULT_PATIENCE) === 'drop') this.disconnect(n, 'unrequested pieces');
      return;
    }
    const result = this.deps.store.putPiece(seq, piece, data, now, frame);
    switch (result) {
      case 'stored':
        n.strikes = 0;
        if (!request) n.recordPush(data.byteLength, now);
        this.deps.counters.p2pBytes += data.byteLength;
        n.markHas(seq, piece, this.deps.store.maxPieces(seq));
        this.onPieceStored(seq, piece);
        return;
      case 'duplicate':
        this.deps.counters.duplicateBytes += data.byteLength;
        return;
      case 'bad-hash':
      case 'bad-index':
        if (this.reusedSeqs.has(seq)) return;
        this.deps.counters.hashFailures++;
        n.hashFailures++;
        this.deps.log.warn({ neighbour: n.peerId, seq, piece, failures: n.hashFailures }, 'piece failed its hash');
        if (n.hashFailures >= this.deps.config.maxHashFailures) {
          if (n.peerId) this.deps.onBan(n.peerId);
          this.disconnect(n, 'too many bad pieces');
        }
        return;
      case 'unknown-segment':
      // A piece of an open segment whose hash has not reached us yet: pushed by a neighbour the partial reached first.
      case 'unknown-piece':
        return;
    }
  }

  private sendBitfield(n: Neighbour): void {
    const store = this.deps.store;
    // An open segment's pieces as far as we know them: the neighbour counts what it knows of, and hears of the rest as haves.
    const segments = [...store.all().map((e) => ({ seq: e.info.seq, h: e })), ...store.allOpen().map((e) => ({ seq: e.seq, h: e }))]
      .filter(({ h }) => h.held > 0)
      .map(({ seq, h }) => {
        const bits = new Uint8Array(bitsetBytes(h.pieces.length));
        h.pieces.forEach((p, i) => p && setBit(bits, i));
        return { seq, pieceCount: h.pieces.length, bits };
      });
    this.send(n, { type: 'bitfield', segments });
  }

  /**
   * Events (a piece, a have, an unchoke) call for a new plan; a burst of them
   * gets one, at most every PICK_MIN_GAP_MS, since planning is most of a
   * node's CPU and a plan a few ms late costs nothing.
   */
  private schedulePick(): void {
    if (this.pickScheduled || this.closed) return;
    this.pickScheduled = true;
    const wait = Math.max(0, this.lastPickMs + PICK_MIN_GAP_MS - this.deps.clock.nowMs());
    this.deps.clock.setTimeout(() => {
      this.pickScheduled = false;
      if (!this.closed) this.pick();
    }, wait);
  }

  private tick(): void {
    const now = this.deps.clock.nowMs();
    this.updatePushWelcome();
    const idleMs = this.deps.config.neighbourIdleMs;
    let freed = false;
    for (const n of [...this.neighbours]) {
      // Checked here rather than by a timer per connection, which would outlive the connection.
      if (!n.handshaken && now - n.connectedAtMs > HANDSHAKE_TIMEOUT_MS) {
        this.disconnect(n, 'no handshake');
        continue;
      }
      if (now - n.lastReceivedAtMs > idleMs) {
        this.disconnect(n, `idle: nothing received for ${Math.round(idleMs / 1000)} s`);
        continue;
      }
      if (!this.policeUpload(n, now)) continue;
      const patience = patienceMs(this.record(n), this.deps.store.pieceSize, DEFAULT_PATIENCE);
      for (const [key, r] of n.inFlight) {
        if (now - r.sentAtMs <= patience) continue;
        this.requests.end(n, key);
        n.refusedUntil.set(key, now + REFUSAL_BACKOFF_MS);
        n.recordTimeout();
        freed = true;
      }
      if (missVerdict(n.requestTimeouts, DEFAULT_PATIENCE) === 'drop') {
        this.disconnect(n, `${n.requestTimeouts} requests in a row not answered`);
        continue;
      }
      for (const [key, until] of n.refusedUntil) {
        if (until > now) continue;
        n.refusedUntil.delete(key);
        freed = true;
      }
      // Keep-alives at a third of the idle bound, so a quiet but honest link never reaches it.
      if (n.handshaken && now - n.lastSentAtMs > idleMs / 3) this.send(n, { type: 'keep-alive' });
    }
    for (const seq of this.playerAsked.keys()) if (!this.deps.store.get(seq)) this.playerAsked.delete(seq);
    this.pruneOld();
    this.pick(!freed);
  }

  /**
   * A neighbour that stopped reading what we send is choked and refused until
   * it has taken it all, then dropped; it must not make us buffer without
   * bound. False if it was dropped.
   */
  private policeUpload(n: Neighbour, now: number): boolean {
    const verdict = drainVerdict(
      { unsentBytes: n.unsentBytes, socketBufferedBytes: n.link.bufferedAmount, lastDrainAtMs: n.lastDrainAtMs },
      now,
      DEFAULT_UPLOAD_LIMITS,
    );
    if (verdict === 'drop') {
      this.disconnect(n, 'not reading what we send');
      return false;
    }
    if (verdict === 'stalled' && !n.uploadStalled) {
      this.setChoking(n, true);
      n.uploadStalled = true;
      this.chokeRounds.rerun();
    } else if (n.uploadStalled && n.unsentBytes === 0) {
      n.uploadStalled = false;
      this.chokeRounds.rerun();
    }
    return true;
  }

  private setChoking(n: Neighbour, choke: boolean): void {
    if (choke === n.amChoking) return;
    n.amChoking = choke;
    if (choke) n.uploadWaiting.clear();
    this.send(n, { type: choke ? 'choke' : 'unchoke' });
    if (!choke) this.uploader.pump();
  }

  private pruneOld(): void {
    const oldest = this.deps.store.all()[0]?.info.seq;
    // Haves are kept only for segments in the store or ahead of it, so there is something to prune only once the oldest has gone.
    if (oldest === undefined || oldest === this.prunedBelow) return;
    this.prunedBelow = oldest;
    for (const seq of this.heardAt.keys()) if (seq < oldest) this.heardAt.delete(seq);
    for (const seq of this.reusedSeqs) if (seq < oldest) this.reusedSeqs.delete(seq);
    for (const n of this.neighbours) n.forgetBefore(oldest);
  }

  /**
   * Builds the picker's snapshot, runs it, and applies the plan. `onlyIfUrgent`
   * is the tick's: events plan for themselves, so what time alone changes is
   * the urgent pieces (a deadline nearing, a request overdue for the origin's
   * rescue), and with none urgent a plan would ask for nothing new.
   */
  private pick(onlyIfUrgent = false): void {
    const now = this.deps.clock.nowMs();
    // A tick that plans nothing must not hold back the next event's plan by the coalescing gap.
    if (!onlyIfUrgent) this.lastPickMs = now;
    const store = this.deps.store;
    const entries = store.all();
    const first = entries[0];
    const firstWanted = this.firstWantedSeq;
    if (!first || firstWanted === null) return;
    const peers = this.handshaken();
    // Most plans between two segments find every wanted one whole: nothing to ask, nor anyone to be interested in.
    let anyWanted = false;
    for (const e of entries) {
      if (e.complete || e.info.seq < firstWanted) continue;
      anyWanted = true;
      break;
    }
    const opens = store.allOpen();
    for (const o of opens) if (o.seq >= firstWanted && o.held < o.pieces.length) anyWanted = true;
    if (this.relayOnly || !anyWanted) {
      this.setWanted([]);
      this.updateInterest(peers, []);
      return;
    }
    if (this.deadlineInputs?.of !== entries) {
      this.deadlineInputs = { of: entries, segments: entries.map((e) => ({ seq: e.info.seq, durationMs: e.info.durationMs, announcedAtMs: e.announcedAtMs })) };
    }
    const holdBackMs = this.deps.config.holdBackSegments * first.info.durationMs;
    const urgentWindowMs = windowForSegment(this.deps.config.urgentWindowMs, first.info.durationMs);
    const rescueWindowMs = windowForSegment(this.deps.config.rescueWindowMs, first.info.durationMs);
    const deadlines = segmentDeadlines(
      this.deadlineInputs.segments,
      this.player,
      holdBackMs,
      now,
      this.playerAsked,
    );
    const segments = wantedSegments(entries, opens, {
      firstWanted,
      deadlines,
      asked: this.playerAsked,
      nowMs: now,
      urgentWindowMs,
      segmentMs: first.info.durationMs,
      pieceSize: store.pieceSize,
    });
    this.setWanted(segments);
    this.updateInterest(peers, segments);
    if (segments.length === 0) return;
    if (onlyIfUrgent && !segments.some((s) => s.deadlineMs - now <= urgentWindowMs)) return;
    // Told not to push us, our neighbours will not: nothing is on its way unasked.
    if (this.deps.config.relay === 'push' && this.welcomesPushes) this.holdOffFresh(segments, now, urgentWindowMs);
    this.lastPickMs = now;
    // Requests for segments no longer wanted are of no concern to the plan; the few wanted segments are found by a scan.
    const addInFlight = (r: { seq: number; piece: number; sentAtMs: number }, from: string) => {
      for (const seg of segments) if (seg.seq === r.seq) return void seg.inFlight.push({ piece: r.piece, from, sentAtMs: r.sentAtMs });
    };
    for (const n of peers) if (n.inFlight.size > 0) for (const r of n.inFlight.values()) addInFlight(r, n.peerId as string);
    for (const r of this.requests.origin.values()) addInFlight(r, ORIGIN);

    const pieceSize = store.pieceSize;
    const plan = planRequests(
      {
        segments,
        peers: peers.map((n) => ({
          id: n.peerId as string,
          chokedUs: n.peerChoking,
          has: this.visibleHas(n, segments),
          inFlight: n.inFlight.size,
          rateBytesPerSec: n.rateBytesPerSec(pieceSize),
          latencyMs: n.latencyMs(),
        })),
        originInFlight: this.requests.origin.size,
      },
      now,
      {
        mode: this.deps.config.picker,
        urgentWindowMs,
        rescueWindowMs,
        maxInFlightPerPeer: this.deps.config.maxInFlightPerPeer,
        maxInFlightTotal: this.inFlightBudget(),
        maxOriginInFlight: this.deps.config.maxOriginInFlight,
        pieceSize,
        // A refusing origin is no rescue: an urgent piece goes to the fastest neighbour, late, rather than waiting on it.
        originEnabled: this.deps.config.maxOriginInFlight > 0 && now >= this.originRefusedUntilMs,
      },
      this.deps.rng,
    );
    for (const r of plan) this.apply(r, now, peers);
  }

  /** Pieces we heard of moments ago are left to the pushes (policy/wanted.ts); a plan follows once the first wait ends. */
  private holdOffFresh(segments: readonly PickerSegment[], now: number, urgentWindowMs: number): void {
    const next = holdOffFresh(segments, this.heardAt, now, urgentWindowMs);
    if (next === Number.POSITIVE_INFINITY || this.holdOffTimer) return;
    this.holdOffTimer = this.deps.clock.setTimeout(() => {
      this.holdOffTimer = null;
      this.schedulePick();
    }, next - now);
  }

  /** What a neighbour holds, less what it refused us lately, over the segments we want. */
  private visibleHas(n: Neighbour, segments: readonly PickerSegment[]): ReadonlyMap<number, readonly boolean[]> {
    // The common case, nothing refused lately: the neighbour's own map serves as is.
    if (n.refusedUntil.size === 0) return n.has;
    // Nor need it be copied when what it refused lies outside the segments the picker sees.
    let inView = false;
    for (const key of n.refusedUntil.keys()) {
      for (const s of segments) if (keyOfSegment(key, s.seq)) inView = true;
      if (inView) break;
    }
    if (!inView) return n.has;
    const out = new Map<number, boolean[]>();
    for (const s of segments) {
      const bits = n.has.get(s.seq);
      if (!bits) continue;
      const visible = new Array<boolean>(s.pieceCount);
      for (let i = 0; i < s.pieceCount; i++) visible[i] = bits[i] === true && !n.refusedUntil.has(pieceKey(s.seq, i));
      out.set(s.seq, visible);
    }
    return out;
  }

  private setWanted(segments: readonly PickerSegment[]): void {
    if (segments.some((s) => !this.wantedSeqs.has(s.seq))) this.wantedVersion++;
    this.wantedSeqs.clear();
    for (const seg of segments) this.wantedSeqs.add(seg.seq);
  }

  /**
   * Interested in a neighbour that holds a wanted piece we lack, and for
   * INTEREST_LINGER_MS after it stops (policy/interest.ts). Most plans
   * change no verdict, so each is rechecked only when it may have changed: an
   * interest while the piece it rests on is still wanted, lacked and held
   * stands; a lack of interest stands until the neighbour holds more or more
   * is wanted (our holdings only grow, which never makes it interesting).
   */
  private updateInterest(peers: readonly Neighbour[], segments: readonly PickerSegment[]): void {
    let lacking: Lacking[] | null = null;
    for (const n of peers) {
      const v = n.interest;
      if (n.amInterested && v.witness) {
        const w = v.witness;
        let lacked = false;
        for (const seg of segments) {
          if (seg.seq !== w.seq) continue;
          lacked = seg.have[w.piece] === false;
          break;
        }
        if (lacked && n.holds(w.seq, w.piece)) continue;
      } else if (!n.amInterested && v.hasVersion === n.hasVersion && v.wantedVersion === this.wantedVersion) continue;
      // The pieces we lack, found once per plan rather than once per neighbour.
      lacking ??= lackedPieces(segments);
      const witness = interestWitness(lacking, n.has);
      n.interest = { witness, hasVersion: n.hasVersion, wantedVersion: this.wantedVersion };
      if (witness === null && n.amInterested) {
        const now = this.deps.clock.nowMs();
        n.lackingSinceMs ??= now;
        // Rechecked at every plan, the tick's included, so the verdict comes at most a tick late.
        if (interestLingers(n.lackingSinceMs, now)) continue;
      }
      n.lackingSinceMs = null;
      this.setInterested(n, witness !== null);
    }
  }

  private setInterested(n: Neighbour, interested: boolean): void {
    if (interested === n.amInterested) return;
    n.amInterested = interested;
    this.send(n, { type: interested ? 'interested' : 'not-interested' });
  }

  private apply(r: PlannedRequest, now: number, peers: readonly Neighbour[]): void {
    const key = pieceKey(r.seq, r.piece);
    if (r.from === 'origin') {
      if (this.requests.origin.has(key)) return;
      this.requests.origin.set(key, { seq: r.seq, piece: r.piece, sentAtMs: now });
      this.deps.counters.originRequests++;
      this.deps.fetchFromOrigin(r.seq, r.piece, (data, refusedUntilMs) => {
        this.requests.origin.delete(key);
        if (this.closed) return;
        if (refusedUntilMs !== undefined) {
          this.originRefusedUntilMs = Math.max(this.originRefusedUntilMs, refusedUntilMs);
          // What it awaited from the origin goes to neighbours now.
          this.schedulePick();
        }
        if (!data) return;
        const result = this.deps.store.putPiece(r.seq, r.piece, data, this.deps.clock.nowMs());
        if (result === 'stored') {
          this.deps.counters.originBytes += data.byteLength;
          this.onPieceStored(r.seq, r.piece);
        } else if (result === 'duplicate') {
          this.deps.counters.duplicateBytes += data.byteLength;
          this.deps.counters.originBytes += data.byteLength;
        }
        this.schedulePick();
      });
      return;
    }
    const n = peers.find((p) => p.peerId === r.from);
    if (!n || n.inFlight.has(key)) return;
    this.requests.add(n, key, { seq: r.seq, piece: r.piece, sentAtMs: now });
    this.deps.counters.peerRequests++;
    this.send(n, { type: 'request', seq: r.seq, piece: r.piece });
  }
}
