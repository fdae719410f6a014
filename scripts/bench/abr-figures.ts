/**
 * The figures of a scenario on a bitrate ladder (`abr`), beside the usual
 * ones of figures.ts: offload per rendition, switches per viewer-minute.
 * Pure: what the run recorded in, figures out.
 */

/** A rung of the ladder: its NAME and BANDWIDTH (bits/s) in the master playlist. */
export interface AbrRung {
  name: string;
  bandwidth: number;
}

/** What one viewer's ABR model and peer node did. */
export interface AbrViewerRecord {
  /** Changes of rendition between consecutive segments, over the whole run. */
  switches: number;
  watchMs: number;
  /** The rendition of its last segment, or null if it fetched none. */
  rendition: string | null;
  /** The rendition its download cap carries by the ABR rule's margins (harness/abr-rule.ts settledRung), or null with no cap. */
  fits: string | null;
  /** Segments it fetched from each rendition, over the whole run. */
  segments: ReadonlyMap<string, number>;
  /** Bytes of the segments published after the warm-up it fetched, by rendition: what it watched. */
  playedBytes: ReadonlyMap<string, number>;
  /** What its node downloaded of each rendition after the warm-up, by source. */
  received: ReadonlyMap<string, { p2pBytes: number; originBytes: number }>;
}

export interface AbrRunRecord {
  /** Highest first, as the master playlist lists them. */
  rungs: AbrRung[];
  viewers: AbrViewerRecord[];
  /** Origin segment egress (HTTP + seeding) after the warm-up, by rendition. */
  egressBytes: ReadonlyMap<string, number>;
  /** Bytes of each rendition's segments published after the warm-up. */
  publishedBytes: ReadonlyMap<string, number>;
  /** Media seconds of each rendition published after the warm-up, and the seconds that took: whether the origin's ffmpeg kept real time. */
  publishedSeconds: ReadonlyMap<string, number>;
  runSeconds: number;
}

export interface RenditionFigures {
  name: string;
  bandwidthKbps: number;
  /** Viewers whose download cap carries this rendition and no higher one, by the ABR rule's margins: where they belong. */
  viewersFit: number;
  /** Viewers whose last segment was of this rendition. */
  viewersAtEnd: number;
  /** Share of all segments fetched that were of this rendition. */
  timeShare: number | undefined;
  /** 1 - origin egress of this rendition / bytes of it its viewers watched, within 0-1: the origin's view. */
  offload: number | undefined;
  /** P2P / (P2P + origin) bytes of this rendition its nodes downloaded: the peers' view, as the `offload` of figures.ts. */
  p2pShare: number | undefined;
  /** Origin egress of this rendition / bytes of it published: how many times the origin sent each of its segments. */
  originCopies: number | undefined;
  /** Media seconds published / seconds of the run: 1 when the origin's ffmpeg kept real time. */
  realTime: number | undefined;
}

export interface AbrFigures {
  switchesPerViewerMinute: number | undefined;
  renditions: RenditionFigures[];
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const ratio = (a: number, b: number) => (b === 0 ? undefined : a / b);

export function computeAbrFigures(run: AbrRunRecord): AbrFigures {
  const v = run.viewers;
  const watchMinutes = sum(v.map((x) => x.watchMs)) / 60_000;
  const allSegments = sum(v.flatMap((x) => [...x.segments.values()]));
  const renditions = run.rungs.map((r): RenditionFigures => {
    const watched = sum(v.map((x) => x.playedBytes.get(r.name) ?? 0));
    const egress = run.egressBytes.get(r.name) ?? 0;
    const p2p = sum(v.map((x) => x.received.get(r.name)?.p2pBytes ?? 0));
    const origin = sum(v.map((x) => x.received.get(r.name)?.originBytes ?? 0));
    const offload = ratio(egress, watched);
    return {
      name: r.name,
      bandwidthKbps: r.bandwidth / 1000,
      viewersFit: v.filter((x) => x.fits === r.name).length,
      viewersAtEnd: v.filter((x) => x.rendition === r.name).length,
      timeShare: ratio(sum(v.map((x) => x.segments.get(r.name) ?? 0)), allSegments),
      // The origin also seeds a rendition to nodes only relaying it: its egress may exceed what was watched.
      offload: offload === undefined ? undefined : Math.min(1, Math.max(0, 1 - offload)),
      p2pShare: ratio(p2p, p2p + origin),
      originCopies: ratio(egress, run.publishedBytes.get(r.name) ?? 0),
      realTime: ratio(run.publishedSeconds.get(r.name) ?? 0, run.runSeconds),
    };
  });
  return { switchesPerViewerMinute: watchMinutes === 0 ? undefined : sum(v.map((x) => x.switches)) / watchMinutes, renditions };
}

/** Figures as JSON can carry them. */
export function abrFiguresJson(f: AbrFigures): Record<string, unknown> {
  return { switchesPerViewerMinute: f.switchesPerViewerMinute, renditions: Object.fromEntries(f.renditions.map(({ name, ...rest }) => [name, rest])) };
}

const pct = (x: number | undefined) => (x === undefined ? '-' : `${(100 * x).toFixed(2)} %`);

/** The per-rendition rows under a scenario's table. */
export function renderAbrTable(f: AbrFigures): string {
  const rows = [['rendition', 'kbit/s', 'viewers fit', 'viewers at end', 'time share', 'offload', 'p2p share', 'originCopies', 'realTime']];
  for (const r of f.renditions) {
    rows.push([r.name, String(Math.round(r.bandwidthKbps)), String(r.viewersFit), String(r.viewersAtEnd), pct(r.timeShare), pct(r.offload), pct(r.p2pShare), r.originCopies === undefined ? '-' : r.originCopies.toFixed(2), r.realTime === undefined ? '-' : r.realTime.toFixed(2)]);
  }
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ');
  const switches = f.switchesPerViewerMinute === undefined ? '-' : f.switchesPerViewerMinute.toFixed(2);
  return [`switchesPerViewerMinute  ${switches}`, line(rows[0] as string[]), ...rows.slice(1).map(line)].join('\n');
}
