import { FIGURE_KEYS, type FigureKey, type Figures } from './figures.ts';

/** Figures whose value the swarm is for: they get ratios to the baseline and to their physical limit. */
const LIMITS: Partial<Record<FigureKey, (f: Figures) => number | undefined>> = {
  offload: (f) => (f.peers ? 1 - 1 / f.peers : undefined),
  originCopies: () => 1,
  continuity: () => 1,
  continuityContributors: () => 1,
};

function format(key: FigureKey, v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '-';
  if (key.endsWith('P50') || key.endsWith('P95') || key === 'peers' || key === 'corruptPlayed') return String(Math.round(v));
  if (key === 'overhead' || key === 'duplicates' || key === 'offload' || key === 'rebufferRatio' || key === 'freeRiderShare') return `${(100 * v).toFixed(2)} %`;
  return v.toFixed(key === 'continuity' || key === 'continuityContributors' ? 4 : 2);
}

const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? '-' : `${(a / b).toFixed(2)}x`);

/** One scenario's figures as a text table, with ratios to baseline-http and to the physical limit. */
export function renderTable(name: string, f: Figures, baseline: Figures | null): string {
  const rows = [['figure', 'value', 'vs baseline-http', 'vs limit']];
  for (const key of FIGURE_KEYS) {
    if (!(key in f)) continue;
    const limit = LIMITS[key]?.(f);
    rows.push([key, format(key, f[key]), baseline && name !== 'baseline-http' ? ratio(f[key], baseline[key]) : '', limit === undefined ? '' : ratio(f[key], limit)]);
  }
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ');
  return [`== ${name}`, line(rows[0] as string[]), ...rows.slice(1).map(line)].join('\n');
}
