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
import type { PlayerPosition } from './deadlines.ts';
import type { Link, LinkShaper } from './link.ts';
import { Neighbour, keyOfSegment, pieceKey } from './neighbour.ts';
import { DEFAULT_PATIENCE, type NeighbourRecord, missVerdict, patienceMs, raceLostIsMiss, strikeVerdict } from './policy/patience.ts';
import { DEFAULT_UPLOAD_LIMITS, drainVerdict } from './policy/upload.ts';
import type { SegmentStore } from './segment-store.ts';
import { type SwarmCounters, frameOverheadBytes } from './swarm-counters.ts';
import { TokenBucket } from '../shared/token-bucket.ts';
import { RequestsOut } from './requests-out.ts';
import { Uploader } from './uploader.ts';
import { ChokeRounds } from './choke-rounds.ts';
import { FetchPlanner } from './fetch-planner.ts';
import { HaveBatcher } from './have-batcher.ts';
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
 * The peer node's neighbours and the wire between us: each neighbour's
 * session (handshake, what it holds, its requests and ours, its abuse), the
 * dispatch of what it sends, and what we send it. What we fetch, from whom
 * and when is the FetchPlanner's (fetch-planner.ts); the choke rounds are
 * ChokeRounds' (choke-rounds.ts); what we send for our neighbours' requests,
 * and push, is the Uploader's (uploader.ts). Decide in policy/, apply here:
 * nothing here chooses a piece or a peer.
 */
export class Swarm {
  private readonly neighbours = new Set<Neighbour>();
  private readonly requests = new RequestsOut((n) => this.neighbours.has(n));
  /** Per neighbour, the requests it may still send: one that floods us is cut off. */
  private readonly requestAllowance = new WeakMap<Neighbour, TokenBucket>();
  private tickTimer: TimerHandle | null = null;
  private prunedBelow: number | null = null;
  private closed = false;
  /** What we last told our neighbours: whether they may push us fresh pieces. */
  private welcomesPushes = true;
  /** `handshaken()`'s answer, kept until a neighbour goes or completes its handshake: most plans and uploads ask for it. */
  private handshakenList: Neighbour[] | null = null;

  /** Segment numbers the origin reused for other bytes while we traded them: a piece of the old bytes still on its way is no neighbour's fault. */
  private readonly reusedSeqs = new Set<number>();

  private readonly uploader: Uploader;
  private readonly haves: HaveBatcher;
  private readonly chokeRounds: ChokeRounds;
  private readonly fetch: FetchPlanner;

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
    this.haves = new HaveBatcher({
      clock: deps.clock,
      handshaken: () => this.handshaken(),
      send: (n, msg) => this.send(n, msg),
      slotFree: () => this.unchokeSlotFree(),
    });
    this.chokeRounds = new ChokeRounds({
      config: deps.config,
      clock: deps.clock,
      rng: deps.rng,
      shaper: deps.shaper,
      handshaken: () => this.handshaken(),
      allowanceSpent: (n, now) => this.uploader.allowanceSpent(n, now),
      setChoking: (n, choke) => this.setChoking(n, choke),
    });
    this.fetch = new FetchPlanner({
      config: deps.config,
      clock: deps.clock,
      rng: deps.rng,
      store: deps.store,
      shaper: deps.shaper,
      counters: deps.counters,
      requests: this.requests,
      handshaken: () => this.handshaken(),
      send: (n, msg) => this.send(n, msg),
      // Told not to push us, our neighbours will not: nothing is on its way unasked.
      pushesComing: () => deps.config.relay === 'push' && this.welcomesPushes,
      fetchFromOrigin: (seq, piece, done) => deps.fetchFromOrigin(seq, piece, done),
      stored: (seq, piece) => this.onPieceStored(seq, piece),
    });
    deps.store.onReplaced((seq) => this.forgetSegment(seq));
  }

  /**
   * The segment `seq` now stands for other bytes: what neighbours told of
   * holding under it, and what we asked of them, were of the old ones.
   */
  private forgetSegment(seq: number): void {
    this.reusedSeqs.add(seq);
    this.fetch.forget(seq);
    for (const n of this.neighbours) {
      n.forget(seq);
      for (const key of [...n.inFlight.keys()]) {
        if (!keyOfSegment(key, seq)) continue;
        const r = this.requests.end(n, key);
        if (r) this.send(n, { type: 'cancel', seq, piece: r.piece });
      }
    }
    this.fetch.schedulePick();
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
    this.fetch.close();
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
    return this.fetch.firstWanted;
  }

  setPlayerPosition(p: PlayerPosition): void {
    this.fetch.setPlayerPosition(p);
  }

  /** The player asked for a segment we do not have whole yet (its request waits). */
  playerRequested(seq: number): void {
    this.fetch.playerRequested(seq);
  }

  /** A new announcement from the tracker. The first ones decide where this node starts in the stream. */
  onAnnounced(seq: number): void {
    this.fetch.onAnnounced(seq);
  }

  /** The origin told of more pieces of a segment it is still receiving (the store took them). */
  onPartial(): void {
    this.fetch.onPartial();
  }

  /** The player needs nothing before `seq` (it switched here from another rung with the segments before in its buffer). */
  wantFrom(seq: number): void {
    this.fetch.wantFrom(seq);
  }

  /** Once, when the node is ready for its player: how far back to start, given what the neighbours hold. */
  chooseStart(lonely: boolean): void {
    this.fetch.chooseStart(lonely);
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
    this.fetch.schedulePick();
  }

  /** Tells every neighbour when our download comes near full, or has room again (policy/push-welcome.ts). */
  private updatePushWelcome(): void {
    const shaper = this.deps.shaper;
    const welcome = pushesWelcome(this.welcomesPushes, shaper.receivedBytesPerSec(), shaper.downloadBytesPerSec());
    if (welcome === this.welcomesPushes) return;
    this.welcomesPushes = welcome;
    for (const n of this.handshaken()) this.send(n, { type: welcome ? 'pushes-on' : 'pushes-off' });
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
    return this.fetch.isRelayOnly;
  }

  /** Stops or resumes fetching; uploads go on either way. */
  setRelayOnly(on: boolean): void {
    this.fetch.setRelayOnly(on);
  }

  /** When the swarm last went from relaying to fetching; -Infinity if it has fetched from the start. */
  get fetchingSinceMs(): number {
    return this.fetch.fetchingSinceMs;
  }

  /** Whether an interested neighbour would be unchoked at once: fewer are unchoked than the choker has slots. */
  private unchokeSlotFree(): boolean {
    if (this.deps.config.choker === 'all-unchoked') return true;
    let unchoked = 0;
    for (const n of this.handshaken()) if (!n.amChoking) unchoked++;
    return unchoked < this.deps.config.regularSlots + this.deps.config.optimisticSlots;
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
    this.fetch.schedulePick();
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
        this.fetch.schedulePick();
        return;
      }
      case 'have': {
        const newest = store.newestSeq();
        let kept = 0;
        for (const p of msg.pieces) {
          if (!this.keepsHave(p.seq, newest)) continue;
          kept++;
          // Not announced to us yet, or open: room for any piece, so the segment's later pieces are not lost.
          n.markHas(p.seq, p.piece, store.maxPieces(p.seq));
        }
        this.fetch.heard(n, kept === msg.pieces.length ? msg.pieces : msg.pieces.filter((p) => this.keepsHave(p.seq, newest)));
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
        this.fetch.schedulePick();
        return;
      case 'unchoke':
        n.peerChoking = false;
        this.haves.unchoked(n);
        n.everUnchokedUs = true;
        // Not interested: it holds nothing we want, so there is nothing to ask of it.
        if (n.amInterested) this.fetch.schedulePick();
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
        this.fetch.schedulePick();
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
    this.fetch.forgetAsked();
    this.pruneOld();
    this.fetch.pick(!freed);
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
    else this.haves.unchoked(n);
    this.send(n, { type: choke ? 'choke' : 'unchoke' });
    if (!choke) this.uploader.pump();
  }

  private pruneOld(): void {
    const oldest = this.deps.store.all()[0]?.info.seq;
    // Haves are kept only for segments in the store or ahead of it, so there is something to prune only once the oldest has gone.
    if (oldest === undefined || oldest === this.prunedBelow) return;
    this.prunedBelow = oldest;
    this.fetch.forgetBefore(oldest);
    for (const seq of this.reusedSeqs) if (seq < oldest) this.reusedSeqs.delete(seq);
    for (const n of this.neighbours) n.forgetBefore(oldest);
  }
}
