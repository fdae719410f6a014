/**
 * `npm run sim -- --sweep`: one row per swarm size, each bounded figure beside
 * its physical bound, then what the run cost the machine. Pure: rows in, text out.
 */
import type { Figures } from '../bench/figures.ts';
import type { Bounds } from './bounds.ts';

/** One simulated run of the sweep. */
export interface SweepRow {
  peers: number;
  figures: Figures;
  bounds: Bounds;
  /** Wall-clock time the simulation took, ms. */
  wallMs: number;
  /** Peak resident memory of the simulator process, MB. */
  peakRssMb: number;
  /** Simulation events processed. */
  events: number;
  /** Simulator memory per simulated viewer, bytes. */
  bytesPerViewer: number;
}

/** What a missing (or not-a-number) figure prints. */
export const MISSING = '–';

const num = (v: number | undefined, digits: number) => (v === undefined || !Number.isFinite(v) ? MISSING : v.toFixed(digits));
const pct = (v: number | undefined, digits: number) => (v === undefined || !Number.isFinite(v) ? MISSING : `${(100 * v).toFixed(digits)} %`);
/** A figure with its bound: `97.10 % (≤ 98.00)`. The same rounding for both keeps a figure within its bound on paper too. */
const bounded = (value: string, relation: '≤' | '≥', bound: string) => `${value} (${relation} ${bound.replace(/ %$/, '')})`;

interface Column {
  /** Two header lines: a name over its percentile or unit, or the name alone on the second. */
  header: readonly [string, string];
  cell: (r: SweepRow) => string;
}

const COLUMNS: readonly Column[] = [
  { header: ['', 'peers'], cell: (r) => num(r.peers, 0) },
  { header: ['', 'offload'], cell: (r) => bounded(pct(r.figures.offload, 2), '≤', pct(r.bounds.offload, 2)) },
  { header: ['', 'originCopies'], cell: (r) => bounded(num(r.figures.originCopies, 2), '≥', num(r.bounds.originCopies, 2)) },
  { header: ['', 'continuity'], cell: (r) => bounded(num(r.figures.continuity, 4), '≤', num(r.bounds.continuity, 3)) },
  { header: ['', 'rebuffer'], cell: (r) => pct(r.figures.rebufferRatio, 2) },
  { header: ['lag', 'p50 ms'], cell: (r) => num(r.figures.lagMsP50, 0) },
  { header: ['lag', 'p95 ms'], cell: (r) => num(r.figures.lagMsP95, 0) },
  { header: ['behind', 'p50 ms'], cell: (r) => num(r.figures.behindLiveMsP50, 0) },
  { header: ['startup', 'p50 ms'], cell: (r) => num(r.figures.startupMsP50, 0) },
  { header: ['', 'overhead'], cell: (r) => pct(r.figures.overhead, 2) },
  { header: ['', 'corrupt'], cell: (r) => num(r.figures.corruptPlayed, 0) },
  { header: ['wall', 's'], cell: (r) => num(r.wallMs / 1000, 1) },
  { header: ['events', '/s'], cell: (r) => (r.wallMs > 0 ? num((1000 * r.events) / r.wallMs, 0) : MISSING) },
  { header: ['peak RSS', 'MB'], cell: (r) => num(r.peakRssMb, 0) },
  { header: ['bytes', '/viewer'], cell: (r) => num(r.bytesPerViewer, 0) },
];

/** Lines of the header, above the rows. */
export const HEADER_LINES = 2;

/**
 * The sweep as a text table: a header of two lines, then one line per row in
 * the order given, right-aligned, in about 155 columns up to N = 10,000.
 * `rebuffer` is `rebufferRatio`, `behind` is `behindLiveMsP50`, `corrupt` is
 * `corruptPlayed`; events/s is events over wall time.
 */
export function renderSweepTable(rows: readonly SweepRow[]): string {
  const table = [COLUMNS.map((c) => c.header[0]), COLUMNS.map((c) => c.header[1]), ...rows.map((r) => COLUMNS.map((c) => c.cell(r)))];
  const widths = COLUMNS.map((_, c) => Math.max(...table.map((r) => (r[c] ?? '').length)));
  return table.map((r) => r.map((cell, c) => cell.padStart(widths[c] ?? 0)).join('  ')).join('\n');
}
