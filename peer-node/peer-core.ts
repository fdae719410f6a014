import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { DEFAULT_CHANNEL } from '../shared/channel.ts';
import type { Clock, TimerHandle } from '../shared/clock.ts';
import {
  DEFAULT_PIECE_SIZE,
  MAX_PENDING_PEER_CONNECTIONS,
  MAX_PENDING_PEER_CONNECTIONS_PER_ADDRESS,
  PROTOCOL_VERSION,
} from '../shared/limits.ts';
import type { PlayerReport } from '../shared/player-api.ts';
import type { Rng } from '../shared/rng.ts';
import type { SegmentAnnouncement } from '../shared/segment.ts';
import type { PeerAddress, PeerStats, PeerToTracker, SignedAnnouncement, SignedPartial, TrackerToPeer } from '../shared/tracker-protocol.ts';
import type { Verifier } from '../shared/verifier.ts';
import { hostOf } from './address.ts';
import { AnnouncementTrust } from './announcement-trust.ts';
import type { PeerConfig } from './config.ts';
import { type Link, LinkShaper, type ShaperConfig } from './link.ts';
import { segmentsToList } from './listing.ts';
import { REFERENCE_SEGMENT_MS, windowForSegment } from './policy/segment-timing.ts';
import { Neighbourhood } from './neighbourhood.ts';
import { SegmentStore } from './segment-store.ts';
import { type SwarmCounters, newCounters } from './swarm-counters.ts';
import { Swarm, type SwarmConfig } from './swarm.ts';

export type PeerCoreConfig = SwarmConfig &
  ShaperConfig &
  Pick<PeerConfig, 'streamId' | 'storeSegments' | 'neighbours' | 'maxNeighbours' | 'maxNeighboursPerAddress' | 'listDelayMs' | 'playlistSegments'>;

export type Welcome = Extract<TrackerToPeer, { type: 'welcome' }>;

/** The edges a peer core drives: its transports, tracker and origin, as plain functions. */
export interface PeerCoreDeps {
  peerId: string;
  clock: Clock;
  rng: Rng;
  log: Logger;
  /** The origin's public key (--origin-key); null: pinned from the first welcome. */
  originKey?: KeyObject | null;
  /** The channel whose announcements this node takes: signatures name it (shared/announcement-signature.ts). */
  channel?: string;
  /** Hash and signature checks (default: made here, each time). */
  verifier?: Verifier;
  /** The node's emulated access link, when several cores share it (one per rendition); else the core makes its own. */
  shaper?: LinkShaper;
  /**
   * Lists a segment for the player only once it is whole here, or once the
   * node has known it (and fetched its stream) for the hold-back, when the
   * player is due to play it anyway. A ladder's player times each download to
   * choose its rung (policy/pacing.ts), and a request that waited for the
   * swarm would read as a slow link.
   */
  listsWholeSegments?: boolean;
  /** The URL other peers dial to reach this node, as told to the tracker. */
  advertisedUrl(): string;
  /**
   * Opens a connection to a peer. The edge answers each dial once, later:
   * `addOutbound` when it opened, `dialFailed` when it did not.
   */
  dial(remoteId: string, url: string): void;
  /** Sends to the tracker; the edge drops what it cannot send. */
  trackerSend(msg: PeerToTracker): void;
  trackerJoined(): boolean;
  /**
   * Fetches one piece of a segment from the origin, carrying `fetchToken`
   * (null before the first welcome); `done` gets its bytes, or null on failure.
   */
  fetchOrigin(seq: number, piece: number, segmentSize: number, pieceSize: number, fetchToken: string | null, done: (data: Uint8Array | null, refusedUntilMs?: number) => void): void;
}

/**
 * Everything a peer node is apart from its sockets: the store, the swarm, whom
 * to dial and whom to let in, what the player is listed, what the tracker is
 * told. The edges (node.ts over ws and http, a simulator over memory links)
 * feed it events and carry out what it asks.
 */
export interface PeerCore {
  readonly peerId: string;
  readonly counters: SwarmCounters;
  readonly store: SegmentStore;
  readonly swarm: Swarm;
  /** The node's emulated access link, which an origin fetch also goes through. */
  readonly shaper: LinkShaper;
  start(): void;
  /** Idempotent. Stops the core's timers and says goodbye to every neighbour. */
  close(): void;

  joinMessage(): PeerToTracker;
  onWelcome(w: Welcome): void;
  onSegment(a: SignedAnnouncement): void;
  /** The next piece hashes of a segment the origin is still receiving: its pieces are traded before it is whole. */
  onPartial(a: SignedPartial): void;
  onPeers(peers: readonly PeerAddress[]): void;
  onSeed(seq: number, piece: number, data: Uint8Array): void;

  /** A dial opened: the core takes the link, or closes it if it needs it no more. */
  addOutbound(link: Link, remoteId: string, url: string): void;
  /** A dial failed (or a connection we dialled broke with an error): the peer is not dialled again for a while. */
  dialFailed(remoteId: string): void;
  /** Why an inbound connection from `address` is refused now, or null. */
  refusal(address: string): string | null;
  /** An inbound connection the edge let in (after asking `refusal`). */
  acceptInbound(link: Link, address: string): void;

  onPlayerReport(r: PlayerReport): void;
  /**
   * The ladder's player, playing another rung, asked for this one, and needs
   * `next` on (the one after the last it asked of the other rung; null if it
   * asked none): the node fetches from there, and its first playlist lists
   * from there, with no hold-back of segments (the player has its buffer),
   * where a player starting here would start behind live.
   */
  switchedHere(next: number | null): void;
  /** The player asked for segment `seq` of this stream (whole or not). */
  segmentAsked(seq: number): void;
  /** The last segment the player asked for, or null. */
  readonly lastAskedSeq: number | null;
  /** Stops or resumes fetching (a rung of a ladder the player is not on); the tracker is told, so the origin seeds only peers that fetch. */
  setRelayOnly(on: boolean): void;
  /** The segments the playlist lists now, oldest first. */
  listed(): SegmentAnnouncement[];
  /** In how many ms time alone may change what is listed, or null if it will not. */
  nextListingChangeMs(): number | null;
  /** Resolves with the listing once it is not empty, or with what there is after `timeoutMs` or once `gone()`. */
  waitListed(timeoutMs: number, gone: () => boolean): Promise<SegmentAnnouncement[]>;
  stats(): PeerStats;
}

const MAINTAIN_MS = 1000;
const GET_PEERS_EVERY_MS = 10_000;
/** A declared capacity of "unlimited", as the tracker's seeder should weigh it. */
const UNLIMITED_KBPS = 1_000_000;
const READY_WAIT_MS = 1000;

export function createPeerCore(config: PeerCoreConfig, deps: PeerCoreDeps): PeerCore {
  const { peerId, clock, rng, log } = deps;
  const counters = newCounters();
  const store = new SegmentStore(config.storeSegments, DEFAULT_PIECE_SIZE, clock, deps.verifier);
  const shaper = deps.shaper ?? new LinkShaper(config, clock);
  const neighbourhood = new Neighbourhood(peerId);
  const trust = new AnnouncementTrust(deps.channel ?? DEFAULT_CHANNEL, deps.originKey ?? null, log, counters, deps.verifier);
  const timers: TimerHandle[] = [];
  let lastGetPeersMs = -Infinity;
  let announceTimer: TimerHandle | null = null;
  let welcomedAtMs: number | null = null;
  /** The latest welcome's: a token of a connection that ended names nobody at the origin. */
  let fetchToken: string | null = null;
  let started = false;
  let playlistStarted = false;
  /** The ladder's player was playing another rung when it first asked for this one (a switch, not a start). */
  let joinedBySwitch = false;
  let lastAskedSeq: number | null = null;
  let playerStalls = { stalls: 0, stallMs: 0 };
  let closed = false;
  /** Dials in progress, per peer: they count towards the neighbours we want. */
  const dialling = new Map<string, number>();
  let diallingCount = 0;
  /** Playlist requests waiting for something to list: a new neighbour may be what they wait for. */
  const listingWaiters = new Set<() => void>();
  /** Inbound links not handshaken yet, and the address each came from. */
  const pendingInbound = new Map<Link, string>();
  /**
   * Slots kept for neighbours we dial ourselves. Inbound connections cannot
   * take them, so however many connections others open to us (sybils, a
   * crowd), the node still reaches peers of its own choosing.
   */
  const reservedOutbound = Math.min(Math.ceil(config.neighbours / 2), Math.floor(config.maxNeighbours / 2));
  const perAddressFull = (address: string) => config.maxNeighboursPerAddress > 0 && swarm.countFrom(address) >= config.maxNeighboursPerAddress;

  const swarm = new Swarm({
    config,
    peerId,
    streamId: config.streamId,
    clock,
    rng,
    log,
    store,
    shaper,
    counters,
    fetchFromOrigin: (seq, piece, done) => {
      const e = store.get(seq);
      if (e) deps.fetchOrigin(seq, piece, e.info.size, store.pieceSize, fetchToken, done);
      else done(null);
    },
    onBan: (id) => neighbourhood.ban(id),
    isBanned: (id) => neighbourhood.isBanned(id),
    onNeighboursChanged: () => {
      for (const n of swarm.handshaken()) pendingInbound.delete(n.link);
      for (const w of [...listingWaiters]) w();
    },
  });

  /** `ageMs` tells how long ago each segment was published, so old ones are not mistaken for new. */
  function announce(segments: readonly SegmentAnnouncement[], ageMs: (s: SegmentAnnouncement) => number = () => 0): void {
    const now = clock.nowMs();
    let last: number | null = null;
    for (const s of segments) if (store.announce(s, now, ageMs(s))) last = s.seq;
    if (last !== null) swarm.onAnnounced(last);
  }

  /**
   * The player gets a playlist once the node can feed it from the swarm: it
   * has a neighbour, or knows of none, or has waited long enough. Before
   * that, its first segments would all come from the origin.
   */
  function ready(): boolean {
    if (started) return true;
    // Not while the welcome's segments are still being taken (a player's request may ask in between): where to start is chosen from the live edge.
    if (welcomedAtMs === null || swarm.firstWanted === null) return false;
    const lonely = neighbourhood.size === 0;
    // Not before a neighbour's bitfield: without it the node knows of no older segment to start from and starts at the live edge.
    if (!swarm.heardHoldings() && !lonely && clock.nowMs() - welcomedAtMs < READY_WAIT_MS) return false;
    started = true;
    swarm.chooseStart(lonely);
    return true;
  }

  /**
   * When a segment's list delay starts: its publication; for a node that
   * lists whole segments, when the node learned of it or began fetching, if
   * later. A rung just joined has older segments in its window that the node
   * has yet to fetch, a rung relayed ahead of the player has fetched nothing,
   * and a player switching to it would otherwise ask for them at once and
   * time the wait as a slow link.
   */
  function listDelayFromMs(e: { publishedLocalMs: number; announcedAtMs: number }): number {
    return deps.listsWholeSegments ? Math.max(e.announcedAtMs, swarm.fetchingSinceMs) : e.publishedLocalMs;
  }

  /** --list-delay-ms for the stream's segments (policy/segment-timing.ts), as the swarm's windows are; the hold-back for a node that lists whole segments. */
  function listDelayMs(): number {
    const newest = store.all().at(-1);
    if (deps.listsWholeSegments) return config.holdBackSegments * (newest?.info.durationMs ?? REFERENCE_SEGMENT_MS);
    return newest ? windowForSegment(config.listDelayMs, newest.info.durationMs) : config.listDelayMs;
  }

  /**
   * The playlist stays empty until it can list the hold-back, so a player
   * starts as far behind live as it expects rather than at the very edge.
   */
  function listed(): SegmentAnnouncement[] {
    if (!ready()) return [];
    const list = segmentsToList(
      store.all().map((e) => ({
        seq: e.info.seq,
        complete: e.complete !== null,
        delayFromMs: listDelayFromMs(e),
        info: { ...e.info, discontinuity: e.localDiscontinuity },
      })),
      swarm.firstWanted,
      clock.nowMs(),
      listDelayMs(),
      config.playlistSegments,
    ).map((e) => e.info);
    // A player switching here from another rung has its buffer: it needs the next segment, not a hold-back.
    if (!playlistStarted && list.length < (joinedBySwitch ? 1 : config.holdBackSegments)) return [];
    playlistStarted = true;
    return list;
  }

  /**
   * When time alone, with no new piece or neighbour, may change what is
   * listed: the end of the wait for a first neighbour, or a segment's list delay.
   */
  function nextListingChangeMs(): number | null {
    const now = clock.nowMs();
    let next = welcomedAtMs !== null && !started ? welcomedAtMs + READY_WAIT_MS : Number.POSITIVE_INFINITY;
    const delayMs = listDelayMs();
    for (const e of store.all()) {
      const at = listDelayFromMs(e) + delayMs;
      if (e.complete === null && at > now) next = Math.min(next, at);
    }
    return Number.isFinite(next) ? next - now : null;
  }

  /** Rechecked when pieces, announcements or neighbours change, and when time alone would change the listing. */
  function waitListed(timeoutMs: number, gone: () => boolean): Promise<SegmentAnnouncement[]> {
    const now = listed();
    if (now.length > 0) return Promise.resolve(now);
    return new Promise((resolve) => {
      let timeChange: TimerHandle | null = null;
      const check = () => {
        const list = listed();
        if (list.length > 0 || gone()) return finish(list);
        timeChange?.cancel();
        const wait = nextListingChangeMs();
        timeChange = wait === null ? null : clock.setTimeout(check, wait);
      };
      const finish = (list: SegmentAnnouncement[]) => {
        stopStore();
        listingWaiters.delete(check);
        timeChange?.cancel();
        deadline.cancel();
        resolve(list);
      };
      const stopStore = store.onChange(check);
      listingWaiters.add(check);
      const deadline = clock.setTimeout(() => finish(listed()), timeoutMs);
      check();
    });
  }

  function stats(): PeerStats {
    return {
      p2pBytes: counters.p2pBytes,
      originBytes: counters.originBytes,
      uploadedBytes: counters.uploadedBytes,
      stalls: counters.stalls,
      stallMs: counters.stallMs,
      neighbours: swarm.handshaken().length,
      hashFailures: counters.hashFailures,
    };
  }

  /**
   * Keeps the neighbour count near its target, and at least the reserved
   * share of it dialled by us: dial known peers, ask the tracker for more when
   * we run out.
   */
  function maintain(): void {
    if (closed) return;
    ready();
    const now = clock.nowMs();
    const skip = (id: string, url: string) => swarm.connectedTo(id) || perAddressFull(hostOf(url));
    const outbound = swarm.size - swarm.inbound;
    const wanted = Math.min(
      Math.max(config.neighbours - swarm.size, reservedOutbound - outbound) - diallingCount,
      config.maxNeighbours - swarm.size - diallingCount,
    );
    const targets = neighbourhood.toDial(wanted, skip, now, rng);
    for (const t of targets) {
      dialling.set(t.peerId, (dialling.get(t.peerId) ?? 0) + 1);
      diallingCount++;
      deps.dial(t.peerId, t.url);
    }
    if (targets.length < wanted && now - lastGetPeersMs >= GET_PEERS_EVERY_MS && deps.trackerJoined()) {
      lastGetPeersMs = now;
      deps.trackerSend({ type: 'get-peers', max: Math.min(50, config.neighbours * 2) });
    }
  }

  /** A dial to `remoteId` is over, if one was in progress. */
  function endDial(remoteId: string): void {
    const count = dialling.get(remoteId);
    if (count === undefined) return;
    if (count > 1) dialling.set(remoteId, count - 1);
    else dialling.delete(remoteId);
    diallingCount--;
  }

  /**
   * Every connection counts against maxNeighbours; those not handshaken yet
   * also against a smaller bound, in all and per address, so a flood of idle
   * sockets cannot hold the slots neighbours need.
   */
  function refusal(address: string): string | null {
    if (swarm.size >= config.maxNeighbours) return 'too many neighbours';
    if (swarm.inbound >= config.maxNeighbours - reservedOutbound) return 'too many incoming neighbours';
    if (perAddressFull(address)) return 'too many neighbours from this address';
    if (pendingInbound.size >= MAX_PENDING_PEER_CONNECTIONS) return 'too many connections awaiting a handshake';
    let fromAddress = 0;
    for (const a of pendingInbound.values()) if (a === address) fromAddress++;
    if (fromAddress >= MAX_PENDING_PEER_CONNECTIONS_PER_ADDRESS) return 'too many connections awaiting a handshake from this address';
    return null;
  }

  return {
    peerId,
    counters,
    store,
    swarm,
    shaper,
    start() {
      swarm.start();
      timers.push(clock.setInterval(maintain, MAINTAIN_MS));
    },
    close() {
      if (closed) return;
      closed = true;
      for (const t of timers) t.cancel();
      announceTimer?.cancel();
      swarm.close();
    },

    joinMessage: () => ({
      type: 'join',
      version: PROTOCOL_VERSION,
      streamId: config.streamId,
      peerId,
      url: deps.advertisedUrl(),
      uploadKbps: config.uploadKbps < 0 ? UNLIMITED_KBPS : config.uploadKbps,
      // Proves a rejoin is this peer, so another tracker replica takes it over from one that died.
      ...(fetchToken === null ? {} : { resume: fetchToken }),
    }),
    onWelcome(w) {
      store.setPieceSize(w.pieceSize);
      fetchToken = w.fetchToken;
      neighbourhood.learn(w.peers);
      welcomedAtMs ??= clock.nowMs();
      trust.offered(w.originKey);
      // Checked before the store sees a hash: the store takes pieces only of segments it was told of.
      const segments = w.segments.filter((a) => trust.verified(a)).map((a) => a.segment);
      announce(segments, (s) => w.originTimeMs - s.publishedAtMs);
      announceTimer?.cancel();
      announceTimer = clock.setInterval(() => deps.trackerSend({ type: 'announce', stats: stats() }), w.announceIntervalMs);
      // A tracker (a new one, after a reconnect) takes every joiner for one that fetches.
      if (swarm.isRelayOnly) deps.trackerSend({ type: 'relay-only', on: true });
      maintain();
    },
    onSegment(a) {
      if (trust.verified(a)) announce([a.segment]);
    },
    onPartial(a) {
      if (trust.verifiedPartial(a) && store.extend(a.partial, clock.nowMs())) swarm.onPartial();
    },
    onPeers(peers) {
      neighbourhood.learn(peers);
      maintain();
    },
    onSeed(seq, piece, data) {
      shaper.download(data.byteLength, () => {
        if (store.putPiece(seq, piece, data, clock.nowMs()) !== 'stored') return;
        counters.originBytes += data.byteLength;
        counters.seedBytes += data.byteLength;
        swarm.onPieceStored(seq, piece, true);
      });
    },

    addOutbound(link, remoteId, url) {
      endDial(remoteId);
      if (closed || swarm.size >= config.maxNeighbours || swarm.connectedTo(remoteId) || perAddressFull(hostOf(url))) {
        link.close(1000, 'not needed');
        return;
      }
      swarm.addLink(link, true, remoteId, hostOf(url));
    },
    dialFailed(remoteId) {
      endDial(remoteId);
      neighbourhood.dialFailed(remoteId, clock.nowMs());
    },
    refusal,
    acceptInbound(link, address) {
      const watched = onClosed(link, () => pendingInbound.delete(watched));
      pendingInbound.set(watched, address);
      swarm.addLink(watched, false, null, address);
    },

    onPlayerReport(r) {
      // Players speak in media sequence numbers, this node's own; deadlines are kept by the origin's.
      const seq = store.seqOfLocal(r.seq);
      if (seq !== null) swarm.setPlayerPosition({ seq, offsetMs: r.offsetMs, atMs: clock.nowMs() });
      // The page reports totals since it loaded; a reload starts it over, so growth is what counts.
      counters.stalls += Math.max(0, r.stalls - playerStalls.stalls);
      counters.stallMs += Math.max(0, r.stallMs - playerStalls.stallMs);
      playerStalls = { stalls: r.stalls, stallMs: r.stallMs };
    },
    switchedHere(next) {
      joinedBySwitch = true;
      if (next !== null) swarm.wantFrom(next);
    },
    segmentAsked(seq) {
      lastAskedSeq = Math.max(lastAskedSeq ?? seq, seq);
    },
    get lastAskedSeq() {
      return lastAskedSeq;
    },
    setRelayOnly(on) {
      if (on === swarm.isRelayOnly) return;
      swarm.setRelayOnly(on);
      // Dropped while not joined: the next welcome says it again.
      deps.trackerSend({ type: 'relay-only', on });
    },
    listed,
    nextListingChangeMs,
    waitListed,
    stats,
  };
}

/**
 * `link`, also calling `closed` when it closes. A link takes one close
 * listener on some transports (memory links), and the swarm registers its
 * own, so ours rides along with it.
 */
function onClosed(link: Link, closed: () => void): Link {
  return {
    send: (frame, done) => link.send(frame, done),
    close: (code, reason) => link.close(code, reason),
    onMessage: (cb) => link.onMessage(cb),
    onClose: (cb) =>
      link.onClose((code, reason) => {
        closed();
        cb(code, reason);
      }),
    get bufferedAmount() {
      return link.bufferedAmount;
    },
  };
}
