/**
 * A small SVG time-series chart: lines (optionally filled or stepped) over a
 * time axis with a few round ticks. Geometry is computed by `chartGeometry`
 * (pure, no DOM) and drawn by `drawChart` into an <svg> sized by CSS, in
 * pixel units so text stays crisp. Only presentation attributes are used, so
 * the page's Content-Security-Policy needs no inline styles.
 */

export interface Series {
  name: string;
  color: string;
  /** One value per time in `ChartData.tMs`; null leaves a gap. */
  values: readonly (number | null)[];
  /** Fill the area under the line. */
  area?: boolean;
  dash?: string;
  /** Hold each value until the next (counts such as peers). */
  step?: boolean;
}

export interface ChartData {
  tMs: readonly number[];
  series: readonly Series[];
  fromMs: number;
  toMs: number;
  formatY(v: number): string;
  /** Fixed top of the y axis (1 for a ratio); otherwise a round number above the data. */
  yMax?: number;
  /** The least top of the y axis when the data is all near zero. */
  yMinTop?: number;
  /** Counts: every tick on a whole number. */
  integer?: boolean;
}

export interface Geometry {
  paths: { name: string; color: string; line: string; area: string | null; dash: string | null; points: number }[];
  yTicks: { y: number; label: string }[];
  xTicks: { x: number; label: string }[];
  plot: { left: number; top: number; right: number; bottom: number };
}

const MARGIN = { left: 52, right: 10, top: 8, bottom: 20 };

/** The smallest of 1, 2, 2.5, 5 times a power of ten that is >= v. */
export function niceCeil(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v * (1 - 1e-9)) return m * p;
  return 10 * p;
}

/** A top for counts whose four tick steps are whole and round: 4, 8, 12, 16, 20, 24, 32, 40, 48, 60, 80, 100, 120... */
export function integerTop(dataMax: number): number {
  const step = Math.max(1, Math.ceil(dataMax / 4));
  const p = 10 ** Math.floor(Math.log10(step));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
    const s = m * p;
    if (Number.isInteger(s) && s >= step) return 4 * s;
  }
  return 40 * p;
}

/** Room for one time label (HH:MM:SS at the chart's font size) and a gap. */
const X_LABEL_PX = 64;

function xTickEveryMs(spanMs: number, widthPx: number): number {
  const most = Math.max(2, Math.min(6, Math.floor(widthPx / X_LABEL_PX)));
  for (const every of [5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000]) if (spanMs / every <= most) return every;
  return 1_800_000;
}

function clockLabel(tMs: number, withSeconds: boolean): string {
  const d = new Date(tMs);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}${withSeconds ? `:${two(d.getSeconds())}` : ''}`;
}

const r1 = (v: number) => Math.round(v * 10) / 10;

export function chartGeometry(data: ChartData, width: number, height: number): Geometry {
  const plot = { left: MARGIN.left, top: MARGIN.top, right: Math.max(MARGIN.left + 10, width - MARGIN.right), bottom: Math.max(MARGIN.top + 10, height - MARGIN.bottom) };
  const span = Math.max(1, data.toMs - data.fromMs);
  let dataMax = 0;
  for (const s of data.series) {
    s.values.forEach((v, i) => {
      const t = data.tMs[i] ?? -Infinity;
      if (v !== null && Number.isFinite(v) && t >= data.fromMs && t <= data.toMs) dataMax = Math.max(dataMax, v);
    });
  }
  const yMax = data.yMax ?? (data.integer ? integerTop(dataMax) : niceCeil(Math.max(dataMax * 1.05, data.yMinTop ?? 1)));
  const x = (t: number) => plot.left + ((t - data.fromMs) / span) * (plot.right - plot.left);
  const y = (v: number) => plot.bottom - (Math.min(Math.max(v, 0), yMax) / yMax) * (plot.bottom - plot.top);

  const paths = data.series.map((s) => {
    let line = '';
    let area = '';
    let points = 0;
    let run: [number, number][] = [];
    const flush = () => {
      if (run.length === 0) return;
      const [x0, y0] = run[0] as [number, number];
      let d = `M${r1(x0)} ${r1(y0)}`;
      for (let k = 1; k < run.length; k++) {
        const [xk, yk] = run[k] as [number, number];
        d += s.step ? `H${r1(xk)}V${r1(yk)}` : `L${r1(xk)} ${r1(yk)}`;
      }
      line += d;
      if (s.area) area += `${d}V${r1(plot.bottom)}H${r1(x0)}Z`;
      run = [];
    };
    s.values.forEach((v, i) => {
      const t = data.tMs[i];
      if (t === undefined || t < data.fromMs || t > data.toMs) return;
      if (v === null || !Number.isFinite(v)) {
        flush();
        return;
      }
      run.push([x(t), y(v)]);
      points++;
    });
    flush();
    return { name: s.name, color: s.color, line, area: s.area ? area : null, dash: s.dash ?? null, points };
  });

  const yTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => ({ y: r1(y(f * yMax)), label: data.formatY(f * yMax) }));
  const every = xTickEveryMs(span, plot.right - plot.left);
  const xTicks: Geometry['xTicks'] = [];
  for (let t = Math.ceil(data.fromMs / every) * every; t <= data.toMs; t += every) xTicks.push({ x: r1(x(t)), label: clockLabel(t, every < 60_000) });
  return { paths, yTicks, xTicks, plot };
}

const SVG_NS = 'http://www.w3.org/2000/svg';

function el(name: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Redraws `svg` from scratch at its current CSS size. Sets data-points (points of the first series) for tests. */
export function drawChart(svg: SVGSVGElement, data: ChartData): void {
  const width = Math.max(100, Math.round(svg.clientWidth));
  const height = Math.max(60, Math.round(svg.clientHeight));
  const g = chartGeometry(data, width, height);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const parts: SVGElement[] = [];
  for (const t of g.yTicks) {
    parts.push(el('line', { class: 'grid', x1: g.plot.left, x2: g.plot.right, y1: t.y, y2: t.y }));
    parts.push(el('text', { x: g.plot.left - 6, y: t.y + 3.5, 'text-anchor': 'end' }, t.label));
  }
  for (const t of g.xTicks) {
    parts.push(el('line', { class: 'grid', x1: t.x, x2: t.x, y1: g.plot.bottom, y2: g.plot.bottom + 4 }));
    parts.push(el('text', { x: t.x, y: g.plot.bottom + 15, 'text-anchor': 'middle' }, t.label));
  }
  for (const p of g.paths) {
    if (p.area) parts.push(el('path', { class: 'area', d: p.area, fill: p.color }));
  }
  for (const p of g.paths) {
    const attrs: Record<string, string> = { class: 'line', d: p.line, stroke: p.color, 'data-series': p.name, 'data-points': String(p.points) };
    if (p.dash) attrs['stroke-dasharray'] = p.dash;
    parts.push(el('path', attrs));
  }
  if (g.paths.every((p) => p.points === 0)) {
    parts.push(el('text', { class: 'nodata', x: (g.plot.left + g.plot.right) / 2, y: (g.plot.top + g.plot.bottom) / 2, 'text-anchor': 'middle' }, 'waiting for samples…'));
  }
  svg.replaceChildren(...parts);
  svg.dataset.points = String(g.paths[0]?.points ?? 0);
}
