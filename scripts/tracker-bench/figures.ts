/**
 * The figures of `npm run bench:tracker`, from what was measured: pure
 * functions over plain data, so the arithmetic is tested apart from the run.
 */
import { percentile as benchPercentile } from '../bench/figures.ts';
import type { SegmentReceipts } from './protocol.ts';

/** The targets, printed beside the figures (issue 13, "Load"). */
export const TARGETS = { trackerCpuPct: 100, rssKbPerConnection: 20, lastReceiptMsP99: 500 } as const;

export interface TrackerBenchFigures {
  /** Connections asked for, and joined when measuring began. */
  connections: number;
  joined: number;
  /** Connections closed or refused after they joined or while joining, before the end. */
  lost: number;
  joinSeconds: number;
  /** Tracker CPU, % of one core: while the connections joined, and over the measured window. */
  joinCpuPct: number | null;
  trackerCpuPct: number | null;
  /** The tracker's event loop runnable but without a core, % of the measured window: what the machine's other load costs it. */
  trackerWaitingPct: number | null;
  /** Growth of the tracker's resident memory and V8 heap (after GC) from before the first join to all joined, per connection. */
  rssKbPerConnection: number | null;
  heapKbPerConnection: number | null;
  /** Segments measured, and (connection, segment) announcements that never arrived. */
  segments: number;
  missingReceipts: number;
  /** Per segment: origin publishing it to the last connection receiving its announcement. */
  lastReceiptMsP50: number;
  lastReceiptMsP99: number;
  lastReceiptMsMax: number;
  /** Per (connection, segment): origin publishing it to that connection receiving its announcement. */
  receiptMsP50: number;
  receiptMsP99: number;
  /** Mean CPU of one load worker process, % of one core, over the measured window: near 100 means the generator was the bottleneck. */
  workerCpuPct: number;
  /** Mean of the load workers' event loops waiting for a core, % of the measured window. */
  workerWaitingPct: number | null;
  workers: number;
}

/** Nearest-rank percentile (p in [0, 1]) as npm run bench computes it; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  return benchPercentile(values, 100 * p) ?? Number.NaN;
}

export interface SegmentFigure {
  seq: number;
  receipts: number;
  missing: number;
  /** Publish to the last receipt, over the connections that received it. */
  lastMs: number;
}

/** One segment's figure from every worker's receipts of it. */
export function segmentFigure(parts: readonly SegmentReceipts[]): SegmentFigure {
  let lastMs = Number.NEGATIVE_INFINITY;
  let receipts = 0;
  let missing = 0;
  for (const p of parts) {
    for (const l of p.latenciesMs) if (l > lastMs) lastMs = l;
    receipts += p.latenciesMs.length;
    missing += p.missing;
  }
  return { seq: parts[0]?.seq ?? -1, receipts, missing, lastMs: receipts === 0 ? Number.NaN : lastMs };
}

/** What the run measured; the figures it gives as they are, the rest as computeFigures turns it into figures. */
export interface Measured extends Pick<TrackerBenchFigures, 'connections' | 'joined' | 'lost' | 'joinSeconds' | 'joinCpuPct' | 'trackerCpuPct' | 'trackerWaitingPct'> {
  /** Tracker memory before the first join and with all joined, both after GC (heap null when only /proc could be read). */
  memoryBefore: { rssBytes: number; heapUsedBytes: number | null } | null;
  memoryJoined: { rssBytes: number; heapUsedBytes: number | null } | null;
  segments: readonly (readonly SegmentReceipts[])[];
  workerCpuMs: readonly number[];
  /** Each worker's run-queue wait over the window, ms (empty when it could not be read). */
  workerWaitMs: readonly number[];
  windowMs: number;
}

export function computeFigures(m: Measured): TrackerBenchFigures {
  const perSegment = m.segments.map(segmentFigure);
  const last = perSegment.map((s) => s.lastMs).filter(Number.isFinite);
  const all = m.segments.flatMap((parts) => parts.flatMap((p) => p.latenciesMs));
  const perConnKb = (before: number | null | undefined, after: number | null | undefined) =>
    before == null || after == null || m.joined === 0 ? null : (after - before) / m.joined / 1024;
  return {
    connections: m.connections,
    joined: m.joined,
    lost: m.lost,
    joinSeconds: m.joinSeconds,
    joinCpuPct: m.joinCpuPct,
    trackerCpuPct: m.trackerCpuPct,
    trackerWaitingPct: m.trackerWaitingPct,
    rssKbPerConnection: perConnKb(m.memoryBefore?.rssBytes, m.memoryJoined?.rssBytes),
    heapKbPerConnection: perConnKb(m.memoryBefore?.heapUsedBytes, m.memoryJoined?.heapUsedBytes),
    segments: perSegment.length,
    missingReceipts: perSegment.reduce((n, s) => n + s.missing, 0),
    lastReceiptMsP50: percentile(last, 0.5),
    lastReceiptMsP99: percentile(last, 0.99),
    lastReceiptMsMax: percentile(last, 1),
    receiptMsP50: percentile(all, 0.5),
    receiptMsP99: percentile(all, 0.99),
    workerCpuPct: m.windowMs > 0 && m.workerCpuMs.length > 0 ? (100 * m.workerCpuMs.reduce((a, b) => a + b, 0)) / m.workerCpuMs.length / m.windowMs : Number.NaN,
    workerWaitingPct: m.windowMs > 0 && m.workerWaitMs.length > 0 ? (100 * m.workerWaitMs.reduce((a, b) => a + b, 0)) / m.workerWaitMs.length / m.windowMs : null,
    workers: m.workerCpuMs.length,
  };
}

const fmt = (v: number | null, digits: number) => (v === null || Number.isNaN(v) ? '-' : v.toFixed(digits));
const verdict = (v: number | null, limit: number) => (v === null || Number.isNaN(v) ? '' : v < limit ? 'met' : 'MISSED');

/** The summary table: every figure, with the target and whether it was met where there is one. */
export function renderTable(f: TrackerBenchFigures): string {
  const rows: string[][] = [
    ['figure', 'value', 'target', ''],
    ['connections joined', `${f.joined} / ${f.connections}`, '', f.joined === f.connections ? '' : 'SHORT'],
    ['connections lost', String(f.lost), '0', f.lost === 0 ? '' : 'LOST'],
    ['join time, s', fmt(f.joinSeconds, 1), '', ''],
    ['tracker CPU while joining, % of a core', fmt(f.joinCpuPct, 1), '', ''],
    ['tracker CPU, all joined, % of a core', fmt(f.trackerCpuPct, 1), `< ${TARGETS.trackerCpuPct}`, verdict(f.trackerCpuPct, TARGETS.trackerCpuPct)],
    ['tracker waiting for a core, % of the time', fmt(f.trackerWaitingPct, 1), '', ''],
    ['tracker RSS per connection, KB', fmt(f.rssKbPerConnection, 2), `< ${TARGETS.rssKbPerConnection}`, verdict(f.rssKbPerConnection, TARGETS.rssKbPerConnection)],
    ['tracker heap per connection, KB', fmt(f.heapKbPerConnection, 2), '', ''],
    ['segments measured', String(f.segments), '', ''],
    ['announcements missing', String(f.missingReceipts), '0', f.missingReceipts === 0 ? '' : 'MISSING'],
    ['publish to last receipt p50, ms', fmt(f.lastReceiptMsP50, 1), '', ''],
    ['publish to last receipt p99, ms', fmt(f.lastReceiptMsP99, 1), `< ${TARGETS.lastReceiptMsP99}`, verdict(f.lastReceiptMsP99, TARGETS.lastReceiptMsP99)],
    ['publish to last receipt max, ms', fmt(f.lastReceiptMsMax, 1), '', ''],
    ['publish to receipt p50 (per connection), ms', fmt(f.receiptMsP50, 1), '', ''],
    ['publish to receipt p99 (per connection), ms', fmt(f.receiptMsP99, 1), '', ''],
    [`load worker CPU (mean of ${f.workers}), % of a core`, fmt(f.workerCpuPct, 1), '', ''],
    ['load worker waiting for a core, % of the time', fmt(f.workerWaitingPct, 1), '', ''],
  ];
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ').trimEnd();
  return rows.map(line).join('\n');
}
