import type { Clock, TimerHandle } from '../shared/clock.ts';
import type { Rng } from '../shared/rng.ts';
import type { PieceRef, WireMessage } from '../shared/wire-protocol.ts';
import type { PeerConfig } from './config.ts';
import { type DeadlineSegment, segmentDeadlines, type PlayerPosition } from './deadlines.ts';
import type { LinkShaper } from './link.ts';
import { startSeq } from './listing.ts';
import { type Neighbour, keyOfSegment, pieceKey } from './neighbour.ts';
import { type Lacking, interestLingers, interestWitness, lackedPieces } from './policy/interest.ts';
import { ORIGIN, type PickerSegment, type PlannedRequest, planRequests } from './policy/picker.ts';
import { requestBudget } from './policy/request-budget.ts';
import { windowForSegment } from './policy/segment-timing.ts';
import { holdOffFresh, wantedSegments } from './policy/wanted.ts';
import type { RequestsOut } from './requests-out.ts';
import type { SegmentStore } from './segment-store.ts';
import type { SwarmCounters } from './swarm-counters.ts';

/**
 * With push at the live edge, fresh pieces travel without a plan, and plans
 * repair: measured in the simulator (4 seeds, 60 s), a plan at most every
 * 100 ms instead of 25 ms meant 16-19 % fewer events in swarm-50, churn,
 * flash-crowd, free-riders and low-latency, with origin copies and lag P95
 * the same or lower; at 1,000 viewers x 30 s (seeds 1-2) 19 % fewer events,
 * 21 % less wall time, origin copies 2.13 -> 1.92, lag P95 2,114 -> 2,044 ms.
 * At 200 ms lag P95 at 1,000 viewers rose again (2,155 ms). In the real
 * benchmark (swarm-50, two runs each) the peers' CPU barely moved (1.66 ->
 * 1.64 % of a core): their cost is mostly I/O.
 */
const PICK_MIN_GAP_MS = 100;

export type FetchPlannerConfig = Pick<
  PeerConfig,
  'picker' | 'urgentWindowMs' | 'rescueWindowMs' | 'holdBackSegments' | 'maxInFlightPerPeer' | 'maxInFlightTotal' | 'maxOriginInFlight'
>;

export interface FetchPlannerDeps {
  config: FetchPlannerConfig;
  clock: Clock;
  rng: Rng;
  store: SegmentStore;
  shaper: LinkShaper;
  counters: SwarmCounters;
  /** Our requests out, shared with the swarm, which ends them as pieces, rejects and timeouts come. */
  requests: RequestsOut;
  /** Connected, handshaken neighbours (the swarm's list, shared). */
  handshaken(): readonly Neighbour[];
  send(n: Neighbour, msg: WireMessage): void;
  /** Whether our neighbours may push us fresh pieces now: then pull leaves freshly heard ones to them a moment. */
  pushesComing(): boolean;
  /** Fetches one piece from the origin, as SwarmDeps.fetchFromOrigin. */
  fetchFromOrigin(seq: number, piece: number, done: (data: Uint8Array | null, refusedUntilMs?: number) => void): void;
  /** A piece fetched from the origin was stored. */
  stored(seq: number, piece: number): void;
}

/**
 * What this node fetches, from whom and when: where it starts in the stream,
 * which segments it wants and by when (the player's position), our interest
 * in each neighbour, and the picker's plan (policy/picker.ts) turned into
 * requests to neighbours and to the origin. The swarm tells it what happens
 * on the wire; it decides nothing the policies do not.
 */
export class FetchPlanner {
  /** Segments the local player asked for over HTTP, and when: a hint of where it is when it reports nothing. */
  private readonly playerAsked = new Map<number, number>();
  private player: PlayerPosition | null = null;
  private firstWantedSeq: number | null = null;
  /** No segment before this is wanted, wherever the start would be (wantFrom). */
  private wantFloor = Number.NEGATIVE_INFINITY;
  private pickScheduled = false;
  private lastPickMs = Number.NEGATIVE_INFINITY;
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
  /** When it last went from relaying to fetching; -Infinity if it has fetched from the start. */
  private fetchingSince = Number.NEGATIVE_INFINITY;

  constructor(private readonly deps: FetchPlannerDeps) {}

  close(): void {
    this.closed = true;
    this.holdOffTimer?.cancel();
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
    const held = (seq: number) => this.deps.handshaken().some((n) => n.has.get(seq)?.some((b) => b) === true);
    this.firstWantedSeq = Math.max(this.wantFloor, Math.min(this.firstWantedSeq, startSeq(newest, this.deps.config.holdBackSegments, held, lonely)));
    this.schedulePick();
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

  /** When it last went from relaying to fetching; -Infinity if it has fetched from the start. */
  get fetchingSinceMs(): number {
    return this.fetchingSince;
  }

  /**
   * `n` told us it holds `pieces` (it holds them in its `has` already): news
   * of pieces we lack may call for a plan, or make us interested in it.
   */
  heard(n: Neighbour, pieces: readonly PieceRef[]): void {
    const store = this.deps.store;
    let news = false;
    /** Some piece in the news no one has been asked for. */
    let unasked = false;
    let wanted = false;
    for (const p of pieces) {
      const slots = store.pieceSlots(p.seq);
      // A piece of an open segment past those we know of yet is news once its hash comes (onPartial), as is the have.
      const beyond = slots !== undefined && p.piece >= slots.length && store.getOpen(p.seq) !== undefined;
      if (!beyond && (!slots || slots[p.piece] !== null)) continue;
      if (!beyond) {
        news = true;
        unasked ||= !this.deps.requests.requested(pieceKey(p.seq, p.piece));
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
  }

  /** The segment `seq` now stands for other bytes: when we heard of its pieces no longer says anything. */
  forget(seq: number): void {
    this.heardAt.delete(seq);
  }

  /** Segments before `oldest` left the store: when we heard of their pieces no longer matters. */
  forgetBefore(oldest: number): void {
    for (const seq of this.heardAt.keys()) if (seq < oldest) this.heardAt.delete(seq);
  }

  /** The player's asks of segments the store no longer holds are over. */
  forgetAsked(): void {
    for (const seq of this.playerAsked.keys()) if (!this.deps.store.get(seq)) this.playerAsked.delete(seq);
  }

  /** Whether a plan now could send `n` a request: it unchokes us and both its pipeline and ours have room. */
  private mayRequestFrom(n: Neighbour): boolean {
    const c = this.deps.config;
    if (n.peerChoking || n.inFlight.size >= c.maxInFlightPerPeer) return false;
    return this.deps.requests.toNeighbours < this.inFlightBudget();
  }

  /** Requests to neighbours out at once: what the download link carries soon (policy/request-budget.ts). */
  private inFlightBudget(): number {
    return requestBudget(this.deps.config.maxInFlightTotal, this.deps.shaper.downloadBytesPerSec(), this.deps.store.pieceSize);
  }

  /**
   * Events (a piece, a have, an unchoke) call for a new plan; a burst of them
   * gets one, at most every PICK_MIN_GAP_MS: planning is most of a node's
   * own work, and a plan a few tens of ms late costs nothing.
   */
  schedulePick(): void {
    if (this.pickScheduled || this.closed) return;
    this.pickScheduled = true;
    const wait = Math.max(0, this.lastPickMs + PICK_MIN_GAP_MS - this.deps.clock.nowMs());
    this.deps.clock.setTimeout(() => {
      this.pickScheduled = false;
      if (!this.closed) this.pick();
    }, wait);
  }

  /**
   * Builds the picker's snapshot, runs it, and applies the plan. `onlyIfUrgent`
   * is the tick's: events plan for themselves, so what time alone changes is
   * the urgent pieces (a deadline nearing, a request overdue for the origin's
   * rescue), and with none urgent a plan would ask for nothing new.
   */
  pick(onlyIfUrgent = false): void {
    const now = this.deps.clock.nowMs();
    // A tick that plans nothing must not hold back the next event's plan by the coalescing gap.
    if (!onlyIfUrgent) this.lastPickMs = now;
    const store = this.deps.store;
    const entries = store.all();
    const first = entries[0];
    const firstWanted = this.firstWantedSeq;
    if (!first || firstWanted === null) return;
    const peers = this.deps.handshaken();
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
    if (this.deps.pushesComing()) this.holdOffFresh(segments, now, urgentWindowMs);
    this.lastPickMs = now;
    // Requests for segments no longer wanted are of no concern to the plan; the few wanted segments are found by a scan.
    const addInFlight = (r: { seq: number; piece: number; sentAtMs: number }, from: string) => {
      for (const seg of segments) if (seg.seq === r.seq) return void seg.inFlight.push({ piece: r.piece, from, sentAtMs: r.sentAtMs });
    };
    for (const n of peers) if (n.inFlight.size > 0) for (const r of n.inFlight.values()) addInFlight(r, n.peerId as string);
    for (const r of this.deps.requests.origin.values()) addInFlight(r, ORIGIN);

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
        originInFlight: this.deps.requests.origin.size,
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
    this.deps.send(n, { type: interested ? 'interested' : 'not-interested' });
  }

  private apply(r: PlannedRequest, now: number, peers: readonly Neighbour[]): void {
    const key = pieceKey(r.seq, r.piece);
    if (r.from === 'origin') {
      if (this.deps.requests.origin.has(key)) return;
      this.deps.requests.origin.set(key, { seq: r.seq, piece: r.piece, sentAtMs: now });
      this.deps.counters.originRequests++;
      this.deps.fetchFromOrigin(r.seq, r.piece, (data, refusedUntilMs) => {
        this.deps.requests.origin.delete(key);
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
          this.deps.stored(r.seq, r.piece);
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
    this.deps.requests.add(n, key, { seq: r.seq, piece: r.piece, sentAtMs: now });
    this.deps.counters.peerRequests++;
    this.deps.send(n, { type: 'request', seq: r.seq, piece: r.piece });
  }
}
