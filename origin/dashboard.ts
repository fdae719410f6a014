/**
 * The offload dashboard's data: once a second the origin samples its own
 * egress and audience counters (the headline figures, offload.ts) and what
 * peers reported to the tracker (shown as reported, clamped) into a bounded ring
 * of points, and keeps a short trailing history per peer for rates. The page
 * (origin/dashboard/, bundled into origin/dashboard/dist) polls
 * `GET /api/dashboard?since=<tMs>` for the points it has not seen yet and the
 * current per-peer table; `/dashboard` serves the page itself.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type Request, type Response, Router } from 'express';
import type { Clock, TimerHandle } from '../shared/clock.ts';
import type { OriginConfig } from './config.ts';
import type { DashboardChannel, DashboardPeer, DashboardPoint, DashboardSnapshot, DashboardTotals } from './dashboard/api.ts';
import { DASHBOARD_DIST_DIR } from './dashboard/dist-dir.ts';
import type { OriginEvents } from './events.ts';
import { type OriginMetrics, counterTotal } from './metrics.ts';
import { offloadRatio } from './offload.ts';
import type { PeerRecord } from './peer-registry.ts';

export const SAMPLE_EVERY_MS = 1000;
/** Ten minutes of one-second samples: ~600 small objects whatever the uptime. */
export const HISTORY_MS = 10 * 60_000;
/** Rows of the per-peer table at most, so a large swarm does not make the answer large. */
export const MAX_PEER_ROWS = 500;

/** A fixed-capacity FIFO: pushing onto a full ring drops the oldest item. */
export class Ring<T> {
  private readonly items: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
    this.items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(item: T): void {
    this.items[(this.head + this.count) % this.capacity] = item;
    if (this.count < this.capacity) this.count++;
    else this.head = (this.head + 1) % this.capacity;
  }

  /** Items oldest first. */
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.items[(this.head + i) % this.capacity] as T);
    return out;
  }

  last(): T | undefined {
    return this.count === 0 ? undefined : this.items[(this.head + this.count - 1) % this.capacity];
  }
}

/** Cumulative counters at one instant. */
export interface Reading {
  tMs: number;
  values: Record<string, number>;
}

/**
 * Per-second growth of each counter from a baseline to the newest reading:
 * the baseline is the newest reading at least `windowMs` older, or the oldest
 * one held while the history is shorter. A counter that went down (a restart)
 * counts as no growth. Null with fewer than two readings.
 */
export function trailingRates(history: readonly Reading[], windowMs: number): Record<string, number> | null {
  const last = history.at(-1);
  if (!last || history.length < 2) return null;
  let base = history[0] as Reading;
  for (const r of history) {
    if (r.tMs <= last.tMs - windowMs) base = r;
    else break;
  }
  const dtS = (last.tMs - base.tMs) / 1000;
  if (dtS <= 0) return null;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(last.values)) out[k] = Math.max(0, v - (base.values[k] ?? 0)) / dtS;
  return out;
}

/** Drops readings older than the one a window of `windowMs` ending now still needs as its baseline. */
function trim(history: Reading[], nowMs: number, windowMs: number): void {
  while (history.length > 2 && (history[1] as Reading).tMs <= nowMs - windowMs) history.shift();
}

/** A joined peer and the channel whose tracker it joined: peer ids are unique within a channel only. */
export interface ChannelPeer {
  channel: string;
  record: PeerRecord;
}

export interface DashboardDeps {
  config: Pick<OriginConfig, 'streamId' | 'announceIntervalMs'>;
  clock: Clock;
  metrics: OriginMetrics;
  /** Segments are counted as they are published, from the dashboard's creation until close(). */
  events: OriginEvents;
  /** Every channel's tracker's joined peers, each with its channel's name. */
  peers: () => Iterable<ChannelPeer>;
  /** Offload since start as the origin measures it (offload.ts), over all channels. */
  offloadRatio: () => number;
  /** Each channel's own figures (none: an origin of one stream, whose totals say it all). */
  channels?: () => DashboardChannel[];
  /** The bundled page, or null to serve only the API. */
  distDir?: string | null;
}

export interface Dashboard {
  readonly router: Router;
  /** Takes one sample now (the timer does this every second). */
  sample(): Promise<void>;
  snapshot(sinceMs?: number): Promise<DashboardSnapshot>;
  start(): void;
  close(): void;
}

export function createDashboard(deps: DashboardDeps): Dashboard {
  const { clock, metrics } = deps;
  // Peers report every announce interval: a window of two of them holds whole reports, so rates do not saw-tooth.
  const rateWindowMs = Math.max(4000, 2 * deps.config.announceIntervalMs);
  const points = new Ring<DashboardPoint>(Math.ceil(HISTORY_MS / SAMPLE_EVERY_MS));
  const readings: Reading[] = [];
  const peerReadings = new Map<string, Reading[]>();
  const startedAtMs = clock.nowMs();
  let timer: TimerHandle | null = null;
  let sampling: Promise<void> | null = null;
  let segments = 0;
  const countSegment = () => void segments++;
  deps.events.on('segmentPublished', countSegment);

  async function totals(): Promise<DashboardTotals> {
    const [originHttpBytes, originSeedBytes, audienceBytes, p2pBytes, peerOriginBytes, uploadedBytes, stalls, hashFailures] = await Promise.all([
      counterTotal(metrics.httpSegmentBytes),
      counterTotal(metrics.seedBytes),
      counterTotal(metrics.audienceBytes),
      counterTotal(metrics.peerP2pBytes),
      counterTotal(metrics.peerOriginBytes),
      counterTotal(metrics.peerUploadedBytes),
      counterTotal(metrics.peerStalls),
      counterTotal(metrics.peerHashFailures),
    ]);
    return { offloadRatio: deps.offloadRatio(), originHttpBytes, originSeedBytes, audienceBytes, p2pBytes, peerOriginBytes, uploadedBytes, segments, stalls, hashFailures };
  }

  async function takeSample(): Promise<void> {
    const t = await totals();
    const tMs = clock.nowMs();
    readings.push({ tMs, values: { http: t.originHttpBytes, seed: t.originSeedBytes, audience: t.audienceBytes, p2p: t.p2pBytes, peerOrigin: t.peerOriginBytes } });
    trim(readings, tMs, rateWindowMs);
    let peerCount = 0;
    const seen = new Set<string>();
    for (const { channel, record: p } of deps.peers()) {
      peerCount++;
      const key = `${channel}/${p.peerId}`;
      seen.add(key);
      let h = peerReadings.get(key);
      if (!h) peerReadings.set(key, (h = []));
      h.push({ tMs, values: { p2p: p.stats.p2pBytes, origin: p.stats.originBytes, uploaded: p.stats.uploadedBytes } });
      trim(h, tMs, rateWindowMs);
    }
    for (const id of peerReadings.keys()) if (!seen.has(id)) peerReadings.delete(id);
    const r = trailingRates(readings, rateWindowMs);
    if (!r) return;
    const originHttpBps = Math.round(r.http ?? 0);
    const originSeedBps = Math.round(r.seed ?? 0);
    const audienceBps = Math.round(r.audience ?? 0);
    const offload = offloadRatio({ egressBytes: originHttpBps + originSeedBps, audienceBytes: audienceBps });
    points.push({
      tMs,
      originHttpBps,
      originSeedBps,
      audienceBps,
      p2pBps: Math.round(r.p2p ?? 0),
      peerOriginBps: Math.round(r.peerOrigin ?? 0),
      offload: audienceBps > 0 ? Math.round(offload * 10_000) / 10_000 : null,
      peers: peerCount,
      segments: t.segments,
      stalls: t.stalls,
    });
  }

  function peerRows(): { rows: DashboardPeer[]; count: number; reachable: number; unreachable: number } {
    const all = [...deps.peers()].sort(
      ({ channel: ca, record: a }, { channel: cb, record: b }) => a.joinedAtMs - b.joinedAtMs || (ca < cb ? -1 : ca > cb ? 1 : a.peerId < b.peerId ? -1 : 1),
    );
    const rows = all.slice(0, MAX_PEER_ROWS).map(({ channel, record: p }): DashboardPeer => {
      const rates = trailingRates(peerReadings.get(`${channel}/${p.peerId}`) ?? [], rateWindowMs);
      return {
        channel,
        peerId: p.peerId,
        url: p.url,
        reachability: p.reachability,
        uploadKbps: p.uploadKbps,
        neighbours: p.stats.neighbours,
        p2pBps: Math.round(rates?.p2p ?? 0),
        originBps: Math.round(rates?.origin ?? 0),
        uploadBps: Math.round(rates?.uploaded ?? 0),
        p2pBytes: p.stats.p2pBytes,
        originBytes: p.stats.originBytes,
        uploadedBytes: p.stats.uploadedBytes,
        stalls: p.stats.stalls,
        stallMs: p.stats.stallMs,
        hashFailures: p.stats.hashFailures,
        joinedAtMs: p.joinedAtMs,
        lastSeenMs: p.lastSeenMs,
      };
    });
    const reachable = all.filter((p) => p.record.reachability === 'reachable').length;
    const unreachable = all.filter((p) => p.record.reachability === 'unreachable').length;
    return { rows, count: all.length, reachable, unreachable };
  }

  const dashboard: Dashboard = {
    router: Router(),
    sample() {
      // One sample at a time: a slow one is waited for, not overlapped.
      sampling ??= takeSample().finally(() => {
        sampling = null;
      });
      return sampling;
    },
    async snapshot(sinceMs = -Infinity) {
      const { rows, count, reachable, unreachable } = peerRows();
      return {
        nowMs: clock.nowMs(),
        startedAtMs,
        streamId: deps.config.streamId,
        sampleEveryMs: SAMPLE_EVERY_MS,
        rateWindowMs,
        historyMs: HISTORY_MS,
        totals: await totals(),
        channels: deps.channels?.() ?? [],
        series: points.toArray().filter((p) => p.tMs > sinceMs),
        peers: rows,
        peerCount: count,
        reachablePeers: reachable,
        unreachablePeers: unreachable,
      };
    },
    start() {
      if (timer) return;
      // A sample that fails (it reads only in-memory counters) is a gap in the charts, never a crash.
      const tick = () => void dashboard.sample().catch(() => undefined);
      tick();
      timer = clock.setInterval(tick, SAMPLE_EVERY_MS);
    },
    close() {
      timer?.cancel();
      timer = null;
      deps.events.off('segmentPublished', countSegment);
    },
  };

  const router = dashboard.router;
  router.get('/api/dashboard', async (req: Request, res: Response) => {
    const since = Number(typeof req.query.since === 'string' ? req.query.since : Number.NaN);
    const snap = await dashboard.snapshot(Number.isFinite(since) ? since : undefined);
    res.set('Cache-Control', 'no-store').json(snap);
  });

  const dist = deps.distDir === undefined ? DASHBOARD_DIST_DIR : deps.distDir;
  router.get(['/dashboard', '/dashboard/'], (_req: Request, res: Response) => {
    if (!dist || !existsSync(join(dist, 'index.html'))) {
      res.status(503).type('text/plain').send('dashboard page not built: run npm run build:dashboard\n');
      return;
    }
    res.set('Cache-Control', 'no-cache').sendFile(join(dist, 'index.html'));
  });
  if (dist) router.use('/dashboard', express.static(dist, { index: false, dotfiles: 'deny', redirect: false, fallthrough: true }));

  return dashboard;
}
