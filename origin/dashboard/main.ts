/**
 * The origin dashboard page: polls `/api/dashboard` once a second for the
 * samples it has not seen and the per-peer table, keeps at most the origin's
 * history, and redraws the cards, charts and table. Time runs on the origin's
 * clock (its `nowMs`), so a browser whose clock is off still sees "now".
 */
import { bitRate, bytes, clockTime, count, duration, percent } from '../../web/format.ts';
import type { DashboardPeer, DashboardPoint, DashboardRendition, DashboardSnapshot } from './api.ts';
import { type ChartData, drawChart } from './chart.ts';

const POLL_EVERY_MS = 1000;
const REQUEST_TIMEOUT_MS = 4000;
/** A newest sample older than this (on the origin's clock) means the sampler stopped. */
const STALE_AFTER_MS = 5000;
const COLOR = { p2p: '#3ddc97', origin: '#5b8def', originHttp: '#9db8f5', peers: '#e6e9ef', segments: '#f5b942' };

export interface DashboardDebugStats {
  updates: number;
  failures: number;
  lastError: string | null;
  points: number;
  peers: string[];
  channels: string[];
}

declare global {
  interface Window {
    __dashboard?: { stats(): DashboardDebugStats };
  }
}

function must<T extends Element>(selector: string): T {
  const el = document.querySelector<T>(selector);
  if (!el) throw new Error(`dashboard page is missing ${selector}`);
  return el;
}

const state = {
  points: [] as DashboardPoint[],
  last: null as DashboardSnapshot | null,
  rangeMs: 300_000,
  updates: 0,
  failures: 0,
  lastError: null as string | null,
};

const stats = new Map<string, HTMLElement>();
for (const el of document.querySelectorAll<HTMLElement>('[data-stat]')) stats.set(el.dataset.stat ?? '', el);

/** Sets a card's text, and its raw number in data-value for tests. */
function setStat(name: string, text: string, raw: number | null): void {
  const el = stats.get(name);
  if (!el) return;
  el.textContent = text;
  if (raw === null || !Number.isFinite(raw)) delete el.dataset.value;
  else el.dataset.value = String(raw);
}

function setStatus(kind: 'starting' | 'live' | 'waiting' | 'error', text: string): void {
  const s = must<HTMLElement>('#status');
  s.dataset.state = kind;
  must<HTMLElement>('#status-text').textContent = text;
}

function legend(id: string, items: { color: string; name: string; value: string }[]): void {
  const host = must<HTMLElement>(id);
  host.replaceChildren(
    ...items.map((it) => {
      const span = document.createElement('span');
      const key = document.createElement('span');
      key.className = 'key';
      key.style.background = it.color;
      const b = document.createElement('b');
      b.textContent = it.value;
      span.append(key, `${it.name} `, b);
      return span;
    }),
  );
}

function renderCards(snap: DashboardSnapshot, latest: DashboardPoint | undefined): void {
  const egress = latest ? latest.originHttpBps + latest.originSeedBps : null;
  setStat('offload', percent(latest?.offload), latest?.offload ?? null);
  setStat('offload-total', percent(snap.totals.offloadRatio), snap.totals.offloadRatio);
  const bar = must<HTMLElement>('.share');
  const fill = must<HTMLElement>('#share-fill');
  if (latest?.offload === null || latest?.offload === undefined) {
    bar.dataset.empty = '';
    fill.style.width = '0';
  } else {
    delete bar.dataset.empty;
    fill.style.width = `${(latest.offload * 100).toFixed(1)}%`;
  }
  setStat('egress', bitRate(egress), egress);
  setStat('egress-http', bitRate(latest?.originHttpBps), latest?.originHttpBps ?? null);
  setStat('egress-seed', bitRate(latest?.originSeedBps), latest?.originSeedBps ?? null);
  setStat('p2p', bitRate(latest?.p2pBps), latest?.p2pBps ?? null);
  setStat('p2p-bytes', bytes(snap.totals.p2pBytes), snap.totals.p2pBytes);
  setStat('peers', count(snap.peerCount), snap.peerCount);
  setStat('peers-reachable', count(snap.reachablePeers), snap.reachablePeers);
  setStat('peers-unreachable', count(snap.unreachablePeers), snap.unreachablePeers);
  setStat('segments', count(snap.totals.segments), snap.totals.segments);
  setStat('stalls', count(snap.totals.stalls), snap.totals.stalls);
  setStat('hash-failures', count(snap.totals.hashFailures), snap.totals.hashFailures);
}

function renderCharts(snap: DashboardSnapshot): void {
  const toMs = snap.nowMs;
  // A young origin has less history than the range: show what there is (a minute at least) across the whole width.
  const fromMs = Math.max(toMs - state.rangeMs, Math.min(snap.startedAtMs, toMs - 60_000));
  const shown = state.points.filter((p) => p.tMs >= fromMs);
  const tMs = shown.map((p) => p.tMs);
  const latest = shown.at(-1);
  const base = { tMs, fromMs, toMs };
  const bytesChart: ChartData = {
    ...base,
    series: [
      { name: 'p2p', color: COLOR.p2p, values: shown.map((p) => p.p2pBps), area: true },
      { name: 'origin', color: COLOR.origin, values: shown.map((p) => p.originHttpBps + p.originSeedBps), area: true },
      { name: 'origin-http', color: COLOR.originHttp, values: shown.map((p) => p.originHttpBps), dash: '4 3' },
    ],
    formatY: bitRate,
    yMinTop: 125_000 / 8,
  };
  drawChart(must<SVGSVGElement>('#chart-bytes'), bytesChart);
  legend('#legend-bytes', [
    { color: COLOR.p2p, name: 'peer to peer (reported)', value: bitRate(latest?.p2pBps) },
    { color: COLOR.origin, name: 'origin egress', value: bitRate(latest ? latest.originHttpBps + latest.originSeedBps : null) },
    { color: COLOR.originHttp, name: 'of which HTTP', value: bitRate(latest?.originHttpBps) },
  ]);
  drawChart(must<SVGSVGElement>('#chart-offload'), {
    ...base,
    series: [{ name: 'offload', color: COLOR.p2p, values: shown.map((p) => p.offload), area: true }],
    formatY: (v) => `${Math.round(v * 100)} %`,
    yMax: 1,
  });
  legend('#legend-offload', [{ color: COLOR.p2p, name: 'now', value: percent(latest?.offload) }]);
  drawChart(must<SVGSVGElement>('#chart-peers'), {
    ...base,
    series: [{ name: 'peers', color: COLOR.peers, values: shown.map((p) => p.peers), step: true }],
    formatY: String,
    integer: true,
  });
  legend('#legend-peers', [{ color: COLOR.peers, name: 'now', value: count(latest?.peers) }]);
  const first = shown[0]?.segments ?? 0;
  drawChart(must<SVGSVGElement>('#chart-segments'), {
    ...base,
    // Counted from the left edge of the chart, so the slope (one per segment duration) shows at any uptime.
    series: [{ name: 'segments', color: COLOR.segments, values: shown.map((p) => p.segments - first), step: true }],
    formatY: (v) => `+${v}`,
    integer: true,
  });
  legend('#legend-segments', [{ color: COLOR.segments, name: 'total', value: count(latest?.segments) }]);
}

function cell(text: string, raw: number | null, className = ''): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  if (raw !== null) td.dataset.value = String(raw);
  return td;
}

const REACHABILITY_TEXT: Record<DashboardPeer['reachability'], string> = { probing: 'checking', reachable: 'yes', unreachable: 'no' };

function peerRow(p: DashboardPeer, nowMs: number): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.dataset.peerId = p.peerId;
  tr.dataset.channel = p.channel;
  const id = cell(p.peerId, null, 'peer-id');
  id.title = `${p.url ?? 'gave no address (dials out only)'} · declared upload ${p.uploadKbps} kbit/s`;
  const since = cell(`${clockTime(p.joinedAtMs)} `, p.joinedAtMs);
  const age = document.createElement('span');
  age.className = 'muted';
  age.textContent = `(${duration(nowMs - p.joinedAtMs)})`;
  since.append(age);
  since.dataset.stat = 'joined';
  const c = (stat: string, text: string, raw: number, className = 'num') => {
    const td = cell(text, raw, className);
    td.dataset.stat = stat;
    return td;
  };
  const reach = cell(REACHABILITY_TEXT[p.reachability], null, p.reachability === 'unreachable' ? 'warn' : '');
  reach.dataset.stat = 'reachability';
  reach.dataset.state = p.reachability;
  tr.append(
    cell(p.channel, null, 'channel-col'),
    id,
    reach,
    c('neighbours', count(p.neighbours), p.neighbours),
    c('p2p-rate', bitRate(p.p2pBps), p.p2pBps),
    c('origin-rate', bitRate(p.originBps), p.originBps),
    c('upload-rate', bitRate(p.uploadBps), p.uploadBps),
    c('stalls', count(p.stalls), p.stalls, p.stalls > 0 ? 'num warn' : 'num'),
    c('stall-ms', duration(p.stallMs), p.stallMs, p.stallMs > 0 ? 'num warn' : 'num'),
    c('hash-failures', count(p.hashFailures), p.hashFailures, p.hashFailures > 0 ? 'num bad' : 'num'),
    since,
  );
  return tr;
}

function channelRow(c: DashboardRendition, name = c.name): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.dataset.channel = name;
  const stat = (name: string, td: HTMLTableCellElement) => {
    td.dataset.stat = name;
    return td;
  };
  tr.append(
    cell(name, null, 'peer-id'),
    cell(c.playlistPath, null),
    stat('channel-peers', cell(count(c.peers), c.peers, 'num')),
    stat('channel-segments', cell(count(c.segments), c.segments, 'num')),
    stat('channel-offload', cell(c.audienceBytes > 0 ? percent(c.offloadRatio) : '–', c.offloadRatio, 'num')),
    stat('channel-egress', cell(bytes(c.egressBytes), c.egressBytes, 'num')),
    stat('channel-audience', cell(bytes(c.audienceBytes), c.audienceBytes, 'num')),
  );
  return tr;
}

/** Several swarms: several channels, or a ladder's renditions. */
function severalSwarms(snap: DashboardSnapshot): boolean {
  return snap.channels.length > 1 || snap.channels.some((c) => (c.renditions?.length ?? 0) > 0);
}

/** One row per channel, then one per rendition of its ladder; an origin of one stream has its figures in the cards already, so the table stays hidden. */
function renderChannels(snap: DashboardSnapshot): void {
  must<HTMLElement>('#channels-card').hidden = !severalSwarms(snap);
  must<HTMLTableSectionElement>('#channels tbody').replaceChildren(
    ...snap.channels.flatMap((c) => [channelRow(c), ...(c.renditions ?? []).map((r) => channelRow(r, `${c.name}/${r.name}`))]),
  );
  must<HTMLElement>('#channel-count').textContent = `(${snap.channels.length})`;
}

function renderPeers(snap: DashboardSnapshot): void {
  must<HTMLTableElement>('#peers').classList.toggle('one-channel', !severalSwarms(snap));
  const body = must<HTMLTableSectionElement>('#peers tbody');
  body.replaceChildren(...snap.peers.map((p) => peerRow(p, snap.nowMs)));
  must<HTMLElement>('#peers-empty').hidden = snap.peers.length > 0;
  must<HTMLElement>('#peer-count').textContent =
    snap.peerCount === 0 ? '' : snap.peers.length < snap.peerCount ? `(${snap.peers.length} of ${snap.peerCount} shown)` : `(${snap.peerCount})`;
}

function render(): void {
  const snap = state.last;
  if (!snap) return;
  const latest = state.points.at(-1);
  renderCards(snap, latest);
  renderCharts(snap);
  renderChannels(snap);
  renderPeers(snap);
  const channels = snap.channels.length > 1 ? ` · ${snap.channels.length} channels` : '';
  must<HTMLElement>('#meta').textContent = `stream ${snap.streamId}${channels} · origin up ${duration(snap.nowMs - snap.startedAtMs)} · updated ${clockTime(snap.nowMs)}`;
  if (!latest) setStatus('waiting', 'Waiting for samples');
  else if (snap.nowMs - latest.tMs > STALE_AFTER_MS) setStatus('waiting', 'Samples stopped');
  else setStatus('live', `Live · ${snap.peerCount} ${snap.peerCount === 1 ? 'peer' : 'peers'}`);
}

async function poll(): Promise<void> {
  const since = state.points.at(-1)?.tMs;
  const url = since === undefined ? '/api/dashboard' : `/api/dashboard?since=${since}`;
  try {
    const res = await fetch(url, { cache: 'no-store', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const snap = (await res.json()) as DashboardSnapshot;
    // An origin that restarted has a new history: start over rather than splice two.
    if (state.last && snap.startedAtMs !== state.last.startedAtMs) state.points = [];
    const lastT = state.points.at(-1)?.tMs ?? -Infinity;
    for (const p of snap.series) if (p.tMs > lastT) state.points.push(p);
    const keepFrom = snap.nowMs - snap.historyMs;
    const drop = state.points.findIndex((p) => p.tMs >= keepFrom);
    if (drop > 0) state.points.splice(0, drop);
    else if (drop === -1) state.points = [];
    state.last = snap;
    state.updates++;
    state.lastError = null;
    render();
  } catch (e) {
    state.failures++;
    state.lastError = (e as Error).message;
    setStatus('error', 'Origin not answering');
  }
}

async function loop(): Promise<void> {
  for (;;) {
    const started = performance.now();
    await poll();
    await new Promise((r) => setTimeout(r, Math.max(100, POLL_EVERY_MS - (performance.now() - started))));
  }
}

for (const button of document.querySelectorAll<HTMLButtonElement>('.range button')) {
  button.addEventListener('click', () => {
    state.rangeMs = Number(button.dataset.range);
    for (const b of document.querySelectorAll<HTMLButtonElement>('.range button')) b.setAttribute('aria-pressed', String(b === button));
    render();
  });
}

let resizeTimer: ReturnType<typeof setTimeout> | null = null;
window.addEventListener('resize', () => {
  if (resizeTimer) clearTimeout(resizeTimer);
  resizeTimer = setTimeout(render, 100);
});

window.__dashboard = {
  stats: () => ({
    updates: state.updates,
    failures: state.failures,
    lastError: state.lastError,
    points: state.points.length,
    peers: state.last?.peers.map((p) => p.peerId) ?? [],
    channels: state.last?.channels.map((c) => c.name) ?? [],
  }),
};

void loop();
