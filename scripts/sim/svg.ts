/**
 * The sweep as a picture: offload, origin copies and continuity against the
 * number of peers (log scale), each with its physical bound dashed. One
 * self-contained SVG string (no fonts, scripts or links to fetch), the same
 * string for the same rows. Pure: rows in, text out.
 */
import type { SweepRow } from './sweep-table.ts';

export interface SweepSvgOptions {
  title?: string;
}

interface Panel {
  figure: 'offload' | 'originCopies' | 'continuity';
  title: string;
  yLabel: string;
  /** Where the quantity can lie at all: the y axis never goes past these. */
  min: number;
  max: number;
}

const PANELS: readonly Panel[] = [
  { figure: 'offload', title: 'Offload', yLabel: 'P2P share of segment bytes', min: 0, max: 1 },
  { figure: 'originCopies', title: 'Origin copies', yLabel: 'copies of each segment', min: 0, max: Infinity },
  { figure: 'continuity', title: 'Continuity', yLabel: 'segments on time / due', min: 0, max: 1 },
];

const WIDTH = 900;
const HEIGHT = 300;
const PANEL_WIDTH = WIDTH / PANELS.length;
/** The plot area of a panel, from the panel's left edge and the picture's top. */
const PLOT = { left: 62, right: 282, top: 58, bottom: 238 } as const;
const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
const INK = '#262626';
const SPINE = '#4d4d4d';
const GRID = '#e6e6e6';
const SERIES = '#1f77b4';
const BOUND = '#7f7f7f';
const DASH = '5 4';
/** Rough advance of a character at the tick font size, to keep x labels from overlapping. */
const TICK_FONT_PX = 10;
const CHAR_PX = 0.62 * TICK_FONT_PX;

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/** Coordinates to two decimals, so the output does not depend on the last bits of a float. */
const n = (x: number) => String(Math.round(x * 100) / 100);

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${n(x)}" y="${n(y)}"${attrs ? ` ${attrs}` : ''}>${escapeXml(content)}</text>`;
}

function line(x1: number, y1: number, x2: number, y2: number, attrs: string): string {
  return `<line x1="${n(x1)}" y1="${n(y1)}" x2="${n(x2)}" y2="${n(y2)}" ${attrs}/>`;
}

/** A peer count as a tick label: 50, 200, 1000, 10k, 250k, 1M. */
export function formatPeers(peers: number): string {
  if (peers >= 1e6 && peers % 1e5 === 0) return `${peers / 1e6}M`;
  if (peers >= 1e4 && peers % 1e3 === 0) return `${peers / 1e3}k`;
  return String(peers);
}

interface Ticks {
  values: number[];
  decimals: number;
}

/** Round ticks (1, 2 or 5 × 10^k apart) covering [lo, hi], 3 to 7 of them. */
export function niceTicks(lo: number, hi: number): Ticks {
  const exponent = Math.floor(Math.log10((hi - lo) / 5));
  const magnitude = 10 ** exponent;
  const norm = (hi - lo) / 5 / magnitude;
  const mult = norm <= 1 + 1e-9 ? 1 : norm <= 2 + 1e-9 ? 2 : norm <= 5 + 1e-9 ? 5 : 10;
  const step = mult * magnitude;
  // i × mult scaled by a power of ten, so 0.97 is 97 / 100 and not 97 × 0.01 = 0.9700000000000001.
  const at = (i: number) => (exponent < 0 ? (i * mult) / 10 ** -exponent : i * mult * magnitude);
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const values: number[] = [];
  for (let i = first; i <= last; i++) values.push(at(i));
  return { values, decimals: Math.max(0, -Math.floor(Math.log10(step) + 1e-9)) };
}

/** The y axis of a panel: its data and its bounds with a small margin, inside what the quantity allows, out to round ticks. */
function yAxis(values: readonly number[], panel: Panel): Ticks {
  let lo = values.length > 0 ? Math.min(...values) : panel.min;
  let hi = values.length > 0 ? Math.max(...values) : Math.min(panel.max, 1);
  const pad = hi > lo ? 0.05 * (hi - lo) : Math.abs(lo) * 0.05 || 1;
  lo = Math.max(panel.min, lo - pad);
  hi = Math.min(panel.max, hi + pad);
  return niceTicks(lo, hi);
}

const finite = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);

/** A path through the points in order; a missing value ends one stretch and the next point starts another. */
function pathData(points: readonly ({ x: number; y: number } | null)[]): string {
  const parts: string[] = [];
  let pen = false;
  for (const p of points) {
    if (p === null) pen = false;
    else {
      parts.push(`${pen ? 'L' : 'M'}${n(p.x)} ${n(p.y)}`);
      pen = true;
    }
  }
  return parts.join(' ');
}

interface XAxis {
  lo: number;
  hi: number;
  /** Tick values: the powers of ten in range and every N. */
  ticks: number[];
  /** Which of them get a label: the powers of ten first, then every N with room for it. */
  labelled: Set<number>;
}

function xAxis(peers: readonly number[]): XAxis {
  const logs = peers.map(Math.log10);
  const min = logs.length > 0 ? Math.min(...logs) : 1;
  const max = logs.length > 0 ? Math.max(...logs) : 4;
  const pad = max > min ? 0.05 * (max - min) : 0.5;
  const lo = min - pad;
  const hi = max + pad;
  const powers: number[] = [];
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) powers.push(10 ** e);
  const ticks = [...new Set([...powers, ...peers])].sort((a, b) => a - b);
  const span = PLOT.right - PLOT.left;
  const taken: [number, number][] = [];
  const labelled = new Set<number>();
  for (const v of [...powers, ...[...new Set(peers)].sort((a, b) => a - b)]) {
    if (labelled.has(v)) continue;
    const x = ((Math.log10(v) - lo) / (hi - lo)) * span;
    const half = (formatPeers(v).length * CHAR_PX) / 2 + 3;
    if (taken.some(([a, b]) => x - half < b && x + half > a)) continue;
    taken.push([x - half, x + half]);
    labelled.add(v);
  }
  return { lo, hi, ticks, labelled };
}

function renderPanel(index: number, panel: Panel, rows: readonly SweepRow[], x: XAxis): string[] {
  const left = index * PANEL_WIDTH + PLOT.left;
  const right = index * PANEL_WIDTH + PLOT.right;
  const { top, bottom } = PLOT;
  const values = rows.map((r) => r.figures[panel.figure]);
  const bounds = rows.map((r) => r.bounds[panel.figure]);
  const y = yAxis([...values, ...bounds].filter(finite), panel);
  const yLo = y.values[0] ?? 0;
  const yHi = y.values[y.values.length - 1] ?? 1;
  const px = (peers: number) => left + ((Math.log10(peers) - x.lo) / (x.hi - x.lo)) * (right - left);
  const py = (v: number) => bottom - ((v - yLo) / (yHi - yLo)) * (bottom - top);
  const out: string[] = [`<g class="panel" data-figure="${panel.figure}">`];

  out.push(text((left + right) / 2, top - 10, panel.title, 'text-anchor="middle" font-size="12" font-weight="bold"'));
  for (const v of y.values) {
    const yy = py(v);
    out.push(line(left, yy, right, yy, `stroke="${GRID}" stroke-width="1"`));
    out.push(line(left - 4, yy, left, yy, `stroke="${SPINE}" stroke-width="1"`));
    out.push(text(left - 7, yy, v.toFixed(y.decimals), `text-anchor="end" dy="0.32em"`));
  }
  for (const v of x.ticks) {
    const xx = px(v);
    out.push(line(xx, bottom, xx, bottom + 4, `stroke="${SPINE}" stroke-width="1"`));
    if (x.labelled.has(v)) out.push(text(xx, bottom + 16, formatPeers(v), 'text-anchor="middle"'));
  }
  out.push(line(left, top, left, bottom, `stroke="${SPINE}" stroke-width="1"`));
  out.push(line(left, bottom, right, bottom, `stroke="${SPINE}" stroke-width="1"`));
  out.push(text((left + right) / 2, bottom + 36, 'peers (N, log scale)', 'text-anchor="middle" font-size="11"'));
  const yLabelX = index * PANEL_WIDTH + 16;
  out.push(`<text transform="translate(${n(yLabelX)} ${n((top + bottom) / 2)}) rotate(-90)" text-anchor="middle" font-size="11">${escapeXml(panel.yLabel)}</text>`);

  // The bound: one level across the whole axis when it is the same for every N, else a line through its value at each N.
  const finiteBounds = bounds.filter(finite);
  const dashed = `fill="none" stroke="${BOUND}" stroke-width="1.2" stroke-dasharray="${DASH}"`;
  if (finiteBounds.length > 0 && finiteBounds.every((b) => b === finiteBounds[0])) {
    const yy = py(finiteBounds[0] as number);
    out.push(`<path class="bound" d="M${n(left)} ${n(yy)} L${n(right)} ${n(yy)}" ${dashed}/>`);
  } else if (finiteBounds.length > 0) {
    const d = pathData(rows.map((r, i) => (finite(bounds[i]) ? { x: px(r.peers), y: py(bounds[i]) } : null)));
    out.push(`<path class="bound" d="${d}" ${dashed}/>`);
  }

  const points = rows.map((r, i) => (finite(values[i]) ? { x: px(r.peers), y: py(values[i]) } : null));
  if (points.some((p) => p !== null)) {
    out.push(`<path class="series" d="${pathData(points)}" fill="none" stroke="${SERIES}" stroke-width="1.6" stroke-linejoin="round"/>`);
    rows.forEach((r, i) => {
      const p = points[i];
      if (p) out.push(`<circle class="point" data-peers="${r.peers}" cx="${n(p.x)}" cy="${n(p.y)}" r="2.8" fill="${SERIES}"/>`);
    });
  } else {
    out.push(text((left + right) / 2, (top + bottom) / 2, 'no data', `text-anchor="middle" fill="${BOUND}"`));
  }
  out.push('</g>');
  return out;
}

/**
 * Three panels side by side, 900 × 300: offload, origin copies and continuity
 * against N on a log10 axis (ticks at the powers of ten and at each N), points
 * joined by a line, the physical bound dashed. Rows are drawn in order of N.
 */
export function renderSweepSvg(rows: readonly SweepRow[], options: SweepSvgOptions = {}): string {
  for (const r of rows) {
    if (!(Number.isFinite(r.peers) && r.peers > 0)) throw new RangeError(`peers must be a number > 0 to sit on a log axis, got ${r.peers}`);
  }
  const sorted = [...rows].sort((a, b) => a.peers - b.peers);
  const x = xAxis(sorted.map((r) => r.peers));
  const title = options.title ?? 'Simulated swarm: figures against their physical bounds';
  const legendX = WIDTH - 220;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="${FONT}" font-size="${TICK_FONT_PX}" fill="${INK}" role="img">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    text(WIDTH / 2 - 90, 24, title, 'text-anchor="middle" font-size="14"'),
    `<g class="legend">`,
    line(legendX, 20, legendX + 22, 20, `stroke="${SERIES}" stroke-width="1.6"`),
    `<circle cx="${n(legendX + 11)}" cy="20" r="2.8" fill="${SERIES}"/>`,
    text(legendX + 28, 20, 'simulated', 'dy="0.32em"'),
    line(legendX + 90, 20, legendX + 112, 20, `stroke="${BOUND}" stroke-width="1.2" stroke-dasharray="${DASH}"`),
    text(legendX + 118, 20, 'physical bound', 'dy="0.32em"'),
    '</g>',
    ...PANELS.flatMap((panel, i) => renderPanel(i, panel, sorted, x)),
    '</svg>',
  ];
  return `${out.join('\n')}\n`;
}
