/**
 * One simulated run: the real origin-side mechanism (live window, tracker,
 * seeding, egress) and one real peer core per viewer, on one virtual clock,
 * wired by in-memory links. What is modelled here is only what the real run
 * gets from the operating system: the network between the programs, the
 * loopback HTTP of each player, and the broadcast itself.
 */
import { pino } from 'pino';
import { originConfig, progressiveAnnouncement } from '../../origin/config.ts';
import { Egress } from '../../origin/egress.ts';
import { LiveWindow } from '../../origin/live-window.ts';
import { createOriginMetrics } from '../../origin/metrics.ts';
import { OpenSegments } from '../../origin/open-segments.ts';
import type { ProbeResult } from '../../origin/reachability-probe.ts';
import { OriginSeeding } from '../../origin/seeding.ts';
import { spareBudgetBytesPerSec } from '../../origin/spare-budget.ts';
import { TrackerServer } from '../../origin/tracker-server.ts';
import { peerConfig } from '../../peer-node/config.ts';
import { memoryLinkPair } from '../../peer-node/memory-link.ts';
import { FETCH_TIMEOUT_MS, OriginFetcher, type OriginRange } from '../../peer-node/origin-fetch.ts';
import { type PeerCore, createPeerCore } from '../../peer-node/peer-core.ts';
import { type SwarmCounters, newCounters } from '../../peer-node/swarm-counters.ts';
import { TrackerClient } from '../../peer-node/tracker-client.ts';
import { memoryTrackerConnect } from '../../harness/memory-tracker.ts';
import type { PlaybackResult } from '../../harness/playout.ts';
import { generateSigner } from '../../shared/announcement-signature.ts';
import { ManualClock } from '../../shared/clock.ts';
import { seededRng } from '../../shared/rng.ts';
import type { RunRecord, ViewerRecord } from '../bench/figures.ts';
import type { PeerPlan, ScenarioPlan } from '../bench/scenarios.ts';
import { SimPlayer } from './player.ts';
import { sharedDigest, sharedVerifier } from './shared-verifier.ts';
import { originSource, peerSource } from './sources.ts';
import { type StreamShape, segmentBytes, segmentContent } from './stream.ts';

export interface WorldOptions {
  plan: ScenarioPlan;
  stream: StreamShape;
  seed: number;
  /** Share of viewers that cannot accept connections (behind a NAT): they dial out only, and the tracker lists none of them. */
  unreachableShare: number;
  /** Every viewer's download limit (0 = unlimited, as in the benchmark). */
  downloadKbps: number;
  /** The origin's --spare-egress-percent (default: the origin's). */
  spareEgressPercent?: number;
  /** The origin's --fallback-wait-ms (default: the origin's). */
  fallbackWaitMs?: number;
  /** The origin's --piece-size (its default unless given). */
  pieceSize?: number;
  /** The origin's --whole-segments: with --low-latency, announce each segment only once it is whole (default: as its pieces arrive). */
  wholeSegments?: boolean;
  progress?: (line: string) => void;
}

export interface WorldOutcome {
  record: RunRecord;
  /** Timers fired: the simulation's events. */
  events: number;
  /** Most viewers present at once. */
  peakViewers: number;
  /** Resident memory before the first viewer joined, and at its highest during the run. */
  baseRssBytes: number;
  peakRssBytes: number;
}

/** Simulated time starts here: the origin numbers its first segment from the clock's seconds. */
const EPOCH_MS = Date.UTC(2026, 0, 1);
/** The simulated ffmpeg's one run. */
const RUN = 'sim';
/** Virtual time between two looks at pending promises (the tracker's probes): they settle then. */
const STEP_MS = 10;
const LAG_SAMPLE_MS = 1000;
/** A dial opens (or fails) this long after it is made: a TCP and WebSocket handshake on a LAN. */
const DIAL_MS = 2;
/** A progress line every this many simulated ms, or every PROGRESS_WALL_MS of real time if that comes first (10,000 viewers take minutes per simulated second). */
const PROGRESS_EVERY_MS = 10_000;
const PROGRESS_WALL_MS = 60_000;
const RSS_SAMPLE_MS = 1000;

/** Where a run is, and when it will end at the pace so far (which slows while a crowd joins). */
function progressLine(plan: ScenarioPlan, simulatedMs: number, viewers: number, events: number, wallMs: number): string {
  const etaS = simulatedMs > 0 ? Math.round(((plan.durationMs - simulatedMs) * wallMs) / simulatedMs / 1000) : null;
  return `${plan.name}: ${(simulatedMs / 1000).toFixed(1)}/${plan.durationMs / 1000} simulated s, ${viewers} viewers, ${events} events, ${Math.round(wallMs / 1000)} s wall${etaS === null ? '' : `, ~${etaS} s to go`}`;
}

interface Viewer {
  plan: PeerPlan;
  url: string;
  address: string;
  reachable: boolean;
  /** Null for a plain HLS viewer (the baseline): it plays from the origin, with no peer node. */
  core: PeerCore | null;
  tracker: TrackerClient | null;
  player: SimPlayer;
  joinedAtMs: number;
  lags: Map<number, number>;
  atWarm: SwarmCounters | null;
}

interface Done {
  plan: PeerPlan;
  counters: SwarmCounters;
  atWarm: SwarmCounters | null;
  playback: PlaybackResult;
  lags: Map<number, number>;
  joinedAtMs: number;
  leftAtMs: number;
}

export async function runWorld(o: WorldOptions): Promise<WorldOutcome> {
  const clock = new ManualClock(EPOCH_MS);
  const log = pino({ level: 'silent' });
  const plan = o.plan;
  const rng = seededRng(o.seed);
  const config = originConfig({
    lowLatency: plan.lowLatency,
    wholeSegments: o.wholeSegments ?? false,
    egressKbps: plan.originEgressKbps,
    seedCopies: plan.p2p ? 1 : 0,
    maxPeers: 100_000,
    ...(o.spareEgressPercent !== undefined && { spareEgressPercent: o.spareEgressPercent }),
    ...(o.fallbackWaitMs !== undefined && { fallbackWaitMs: o.fallbackWaitMs }),
    ...(o.pieceSize !== undefined && { pieceSize: o.pieceSize }),
  });
  // Signed once per segment, as the origin does; every viewer verifies with the key its welcome names.
  const signer = generateSigner();
  const window = new LiveWindow(config.windowSegments, config.pieceSize, signer, Math.floor(clock.nowMs() / 1000));
  const egress = new Egress(config.egressKbps, clock, () => spareBudgetBytesPerSec(config.spareEgressPercent, window.announcements()), config.fallbackWaitMs);
  let originEgressBytes = 0;
  const viewers = new Map<string, Viewer>();
  const byUrl = new Map<string, Viewer>();
  // Every viewer checks the same shared bytes and signatures: each check is made once for all of them.
  const verifier = sharedVerifier();
  const digest = sharedDigest();

  const probe = (url: string, peerId: string): Promise<ProbeResult> => {
    const v = byUrl.get(url);
    if (!v || !v.reachable) return Promise.resolve({ ok: false, code: 'PROBE_UNREACHABLE', message: 'no answer' });
    return Promise.resolve(v.plan.id === peerId ? { ok: true } : { ok: false, code: 'PROBE_WRONG_PEER', message: 'another peer answered' });
  };
  const tracker = new TrackerServer({
    config,
    clock,
    rng: seededRng(o.seed ^ 0x5eed),
    log,
    metrics: createOriginMetrics(),
    window: () => window.signedAnnouncements(),
    originKey: signer.publicKeyBase64,
    probe,
    onPeerLeft: (peerId) => seeding.reseed(peerId),
    openPartials: () => open?.signedPartials() ?? [],
  });
  const seeding = new OriginSeeding({
    config,
    window,
    tracker,
    egress,
    clock,
    countEgress: (bytes) => (originEgressBytes += bytes),
    openBytes: (seq) => open?.bytes(seq) ?? null,
  });
  // With progressive announcement, the origin's own handling of a segment still arriving (origin/open-segments.ts).
  const open = progressiveAnnouncement(config)
    ? new OpenSegments({ pieceSize: config.pieceSize, window, signer, announce: (p) => tracker.announcePart(p), seeding, clock })
    : null;
  tracker.start();

  // The broadcast: a segment every segmentMs, announced and seeded as the origin does.
  const published = new Map<number, { sha256: string; size: number; atMs: number }>();
  let segmentIndex = 0;
  const contentRng = seededRng(o.seed ^ 0xc0ffee);
  const publish = (data: Buffer, index: number) => {
    // As StreamSwarm publishes: under the number its partials named, seeding only what they did not.
    const closed = open?.close(RUN, index) ?? null;
    const stored = window.publishAt(closed ? closed.seq : window.next, data, o.stream.segmentMs, false, clock.nowMs());
    if (!stored) throw new Error(`segment ${index} behind the window`);
    published.set(stored.info.seq, { sha256: stored.info.sha256, size: stored.info.size, atMs: stored.info.publishedAtMs });
    tracker.announce(stored.signed);
    seeding.seed(stored, closed?.seeded ?? 0);
  };
  const next = () => {
    const index = segmentIndex++;
    return { index, data: segmentContent(segmentBytes(o.stream, index), contentRng) };
  };
  if (!open) {
    clock.setInterval(() => {
      const s = next();
      publish(s.data, s.index);
    }, o.stream.segmentMs);
  } else {
    // ffmpeg's segment muxer: each segment's bytes arrive over its duration, piece i whole at (i + 1) / n of it,
    // handed to the origin's growth handling as the ingest receiver does; the segment is published at its end.
    const arrive = (s: { index: number; data: Buffer }) => {
      const n = Math.ceil(s.data.byteLength / config.pieceSize);
      for (let i = 0; i < n - 1; i++) {
        const bytes = s.data.subarray(0, (i + 1) * config.pieceSize);
        clock.setTimeout(() => open.grow({ run: RUN, index: s.index, bytes }), Math.round(((i + 1) * o.stream.segmentMs) / n));
      }
      return s;
    };
    let arriving = arrive(next());
    clock.setInterval(() => {
      open.grow({ run: RUN, index: arriving.index, bytes: arriving.data });
      publish(arriving.data, arriving.index);
      arriving = arrive(next());
    }, o.stream.segmentMs);
  }

  // The origin's HTTP answer to a fallback Range request: its bytes leave through the egress queue, in the class
  // its token earns, unless the asker has gone or given up by then. The node aborts a fetch after FETCH_TIMEOUT_MS;
  // without that bound here, a fallback stuck in the queue would hold one of its node's origin slots until served.
  // A free-rider over the spare budget is refused at once, with the Retry-After the origin would send.
  const originRange = (watching: () => boolean): OriginRange => (seq, start, end, fetchToken, done) => {
    const found = window.lookup(seq);
    if (found.state !== 'live') {
      clock.setTimeout(() => done(null), 0);
      return;
    }
    const body = found.segment.data.subarray(start, end);
    let gaveUp = false;
    const timeout = clock.setTimeout(() => {
      gaveUp = true;
      done(null);
    }, FETCH_TIMEOUT_MS);
    const refused = egress.send(
      tracker.fetchClass(fetchToken).cls,
      body.byteLength,
      () => {
        // Given up while on the wire: the bytes left all the same, and the node has its answer already.
        originEgressBytes += body.byteLength;
        if (gaveUp) return;
        timeout.cancel();
        done(body);
      },
      () => !gaveUp && watching(),
    );
    if (refused) {
      timeout.cancel();
      clock.setTimeout(() => done(null, 1000 * refused.retryAfterS), 0);
    }
  };

  const dial = (from: Viewer, remoteId: string, url: string) => {
    clock.setTimeout(() => {
      if (viewers.get(from.plan.id) !== from) return;
      const to = byUrl.get(url);
      const fromCore = from.core as PeerCore;
      if (!to?.core || !to.reachable || viewers.get(to.plan.id) !== to || to.core.refusal(from.address) !== null) {
        fromCore.dialFailed(remoteId);
        return;
      }
      // The one-way delay is the sender's shaper's (its --latency-ms), as in the benchmark: none on the wire.
      const [mine, theirs] = memoryLinkPair(clock, { latencyMs: 0 });
      to.core.acceptInbound(theirs, from.address);
      fromCore.addOutbound(mine, remoteId, url);
    }, DIAL_MS);
  };

  let nextIndex = 0;
  const join = (p: PeerPlan) => {
    const index = nextIndex++;
    const address = `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`;
    const url = `ws://${address}:7000/peer`;
    const common = { plan: p, url, address, reachable: rng() >= o.unreachableShare, joinedAtMs: clock.nowMs(), lags: new Map<number, number>(), atWarm: null };
    if (!plan.p2p) {
      const v: Viewer = { ...common, core: null, tracker: null, player: new SimPlayer(clock, originSource(window, egress, config.playlistSegments, (bytes) => (originEgressBytes += bytes)), digest) };
      viewers.set(p.id, v);
      v.player.start();
      return;
    }
    // What the viewer's closures act for; they run on the clock, once it is set.
    let self: Viewer | null = null;
    const peer = peerConfig({
      peerId: p.id,
      seed: o.seed + index,
      maxNeighboursPerAddress: 0,
      uploadKbps: p.uploadKbps,
      downloadKbps: o.downloadKbps,
      latencyMs: p.latencyMs,
      picker: plan.picker,
      choker: plan.choker,
      relay: plan.relay,
    });
    const core = createPeerCore(peer, {
      peerId: p.id,
      clock,
      rng: seededRng(o.seed + index),
      log,
      verifier,
      advertisedUrl: () => url,
      dial: (remoteId, remoteUrl) => {
        if (self) dial(self, remoteId, remoteUrl);
      },
      trackerSend: (msg) => client.send(msg),
      trackerJoined: () => client.joined,
      fetchOrigin: (seq, piece, size, pieceSize, fetchToken, done) => fetcher.piece(seq, piece, size, pieceSize, fetchToken, done),
    });
    const fetcher = new OriginFetcher(originRange(() => self !== null && viewers.get(p.id) === self), core.shaper, clock);
    const client = new TrackerClient({
      url: 'ws://origin/tracker',
      clock,
      log,
      counters: core.counters,
      // The benchmark emulates no latency to the tracker (it is on loopback): none here either.
      connect: memoryTrackerConnect(clock, 0, tracker, address),
      joinMessage: () => core.joinMessage(),
      onWelcome: (w) => core.onWelcome(w),
      onSegment: (a) => core.onSegment(a),
      onPartial: (a) => core.onPartial(a),
      onPeers: (peers) => core.onPeers(peers),
      onSeed: (seq, piece, data) => core.onSeed(seq, piece, data),
    });
    const v: Viewer = { ...common, core, tracker: client, player: new SimPlayer(clock, peerSource(core, clock), digest) };
    self = v;
    viewers.set(p.id, v);
    byUrl.set(url, v);
    core.start();
    client.start();
    v.player.start();
  };

  const done: Done[] = [];
  const leave = (v: Viewer) => {
    if (viewers.get(v.plan.id) !== v) return;
    recordLags(v);
    const playback = v.player.stop();
    v.tracker?.close();
    v.core?.close();
    viewers.delete(v.plan.id);
    byUrl.delete(v.url);
    done.push({ plan: v.plan, counters: v.core ? { ...v.core.counters } : plainHlsCounters(playback, published, warmAt), atWarm: v.atWarm, playback, lags: v.lags, joinedAtMs: v.joinedAtMs, leftAtMs: clock.nowMs() });
  };
  const recordLags = (v: Viewer) => {
    if (!v.core) return;
    for (const e of v.core.store.all()) {
      if (e.completedAtMs !== null && !v.lags.has(e.info.seq)) v.lags.set(e.info.seq, e.completedAtMs - e.info.publishedAtMs);
    }
  };

  // As in the benchmark, viewers come once the stream is live with four segments out.
  const t0 = clock.nowMs() + 4 * o.stream.segmentMs;
  const warmAt = t0 + plan.warmupMs;
  const endAt = t0 + plan.durationMs;
  for (const p of plan.peers) {
    clock.setTimeout(() => join(p), t0 - clock.nowMs() + p.joinAtMs);
    if (p.leaveAtMs !== null) {
      clock.setTimeout(() => {
        const v = viewers.get(p.id);
        if (v) leave(v);
      }, t0 - clock.nowMs() + p.leaveAtMs);
    }
  }
  let egressAtWarm = 0;
  clock.setTimeout(() => {
    egressAtWarm = originEgressBytes;
    for (const v of viewers.values()) if (v.core) v.atWarm = { ...v.core.counters };
  }, warmAt - clock.nowMs());
  clock.setInterval(() => {
    for (const v of viewers.values()) recordLags(v);
  }, LAG_SAMPLE_MS);

  let peakViewers = 0;
  let lastProgress = clock.nowMs();
  const wallStart = performance.now();
  let lastProgressWall = wallStart;
  let lastRssAt = clock.nowMs();
  const baseRssBytes = process.memoryUsage().rss;
  let peakRssBytes = baseRssBytes;
  while (clock.nowMs() < endAt) {
    clock.advance(Math.min(STEP_MS, endAt - clock.nowMs()));
    // Promises settle here: only the tracker's probes and its close use them.
    await new Promise<void>((resolve) => setImmediate(resolve));
    peakViewers = Math.max(peakViewers, viewers.size);
    if (clock.nowMs() - lastRssAt >= RSS_SAMPLE_MS) {
      lastRssAt = clock.nowMs();
      peakRssBytes = Math.max(peakRssBytes, process.memoryUsage().rss);
    }
    if (o.progress && (clock.nowMs() - lastProgress >= PROGRESS_EVERY_MS || performance.now() - lastProgressWall >= PROGRESS_WALL_MS)) {
      lastProgress = clock.nowMs();
      lastProgressWall = performance.now();
      o.progress(progressLine(plan, clock.nowMs() - t0, viewers.size, clock.events, lastProgressWall - wallStart));
    }
  }
  for (const v of [...viewers.values()]) leave(v);
  egress.close();
  // The tracker's goodbyes travel on the clock too: it runs on until they are through.
  let trackerClosed = false;
  void tracker.close().then(() => (trackerClosed = true));
  while (!trackerClosed) {
    clock.advance(STEP_MS);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  const records: ViewerRecord[] = done.map((d) => {
    const w = d.atWarm ?? newCounters();
    const c = d.counters;
    return {
      freeRider: d.plan.freeRider,
      p2pBytes: c.p2pBytes - w.p2pBytes,
      duplicateBytes: c.duplicateBytes - w.duplicateBytes,
      originBytes: c.originBytes - w.originBytes,
      controlBytes: c.controlBytesOut - w.controlBytesOut + (c.trackerBytesIn - w.trackerBytesIn) + (c.trackerBytesOut - w.trackerBytesOut),
      activeMs: Math.max(0, d.leftAtMs - Math.max(d.joinedAtMs, warmAt)),
      playback: d.playback,
      lagsMs: [...d.lags].filter(([seq]) => (published.get(seq)?.atMs ?? 0) >= warmAt).map(([, lag]) => lag),
    };
  });
  const publishedBytes = [...published.values()].filter((s) => s.atMs >= warmAt && s.atMs <= endAt).reduce((n, s) => n + s.size, 0);
  return {
    record: {
      viewers: records,
      originEgressBytes: originEgressBytes - egressAtWarm,
      publishedBytes,
      originSha256: new Map([...published].map(([seq, s]) => [seq, s.sha256])),
      peerCpuMs: 0,
      peerTimeMs: 0,
      peerProcessRssMb: [],
      p2p: plan.p2p,
    },
    events: clock.events,
    peakViewers,
    baseRssBytes,
    peakRssBytes,
  };
}

/** A plain HLS viewer's bytes, as the benchmark counts them: every segment it fetched came from the origin. */
function plainHlsCounters(playback: PlaybackResult, published: ReadonlyMap<number, { size: number; atMs: number }>, warmAt: number): SwarmCounters {
  const counters = newCounters();
  for (const d of playback.digests) {
    const s = published.get(d.seq);
    if (s && s.atMs >= warmAt) counters.originBytes += s.size;
  }
  return counters;
}
