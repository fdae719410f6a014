/**
 * The figures of BENCHMARKS.md, computed from what one run recorded. Pure:
 * raw numbers in, figures out, so the definitions are tested on their own.
 */
import type { PlaybackResult } from '../../harness/playback-model.ts';
import type { AbrRunRecord } from './abr-figures.ts';

/** The JSON keys of BENCHMARKS.md, in the order the table prints them. */
export const FIGURE_KEYS = [
  'peers',
  'offload',
  'originCopies',
  'continuity',
  'continuityContributors',
  'rebufferRatio',
  'startupMsP50',
  'startupMsP95',
  'lagMsP50',
  'lagMsP95',
  'behindLiveMsP50',
  'freeRiderShare',
  'overhead',
  'duplicates',
  'corruptPlayed',
  'cpuPctPerPeer',
  'rssMbPerPeer',
] as const;

export type FigureKey = (typeof FIGURE_KEYS)[number];
export type Figures = Partial<Record<FigureKey, number>>;

/** What one viewer (peer node + playback model, or a plain HLS model) did after the warm-up. */
export interface ViewerRecord {
  freeRider: boolean;
  /** Segment bytes received after the warm-up, by source. */
  p2pBytes: number;
  originBytes: number;
  /** Piece bytes from peers that arrived when the viewer held the piece already (not in p2pBytes). */
  duplicateBytes: number;
  /** Control bytes on the wire: peer-wire sent, tracker both ways. */
  controlBytes: number;
  /** How long it took part after the warm-up (ms), for per-second rates. */
  activeMs: number;
  playback: PlaybackResult;
  /** Publish-to-whole lags of segments published after the warm-up. */
  lagsMs: number[];
}

export interface RunRecord {
  viewers: ViewerRecord[];
  /** Origin segment egress (HTTP + seeding) after the warm-up. */
  originEgressBytes: number;
  /** Bytes of the segments published after the warm-up. */
  publishedBytes: number;
  /** The origin's SHA-256 of every segment published in the run. */
  originSha256: ReadonlyMap<number, string>;
  /** On a ladder: each rendition's, for the segments a player names the rendition of. */
  renditionSha256?: ReadonlyMap<string, ReadonlyMap<number, string>>;
  /** CPU time of the worker processes hosting peer nodes (with their playback models), and the peer-time they hosted, in ms. */
  peerCpuMs: number;
  peerTimeMs: number;
  /** Resident memory of peer nodes running as processes of their own, in MB. */
  peerProcessRssMb: number[];
  p2p: boolean;
  /** On a ladder: what abr-figures.ts reads. */
  abr?: AbrRunRecord;
}

export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const mean = (xs: readonly number[]) => (xs.length === 0 ? undefined : sum(xs) / xs.length);

export function computeFigures(run: RunRecord): Figures {
  const v = run.viewers;
  const p2p = sum(v.map((x) => x.p2pBytes));
  const origin = sum(v.map((x) => x.originBytes));
  const due = sum(v.map((x) => x.playback.segmentsDue));
  const watch = sum(v.map((x) => x.playback.watchMs));
  const startups = v.map((x) => x.playback.startupMs).filter((x): x is number => x !== null);
  const originSha = (d: { seq: number; rendition?: string }) => (d.rendition === undefined ? run.originSha256 : run.renditionSha256?.get(d.rendition))?.get(d.seq);
  const corrupt = sum(
    v.map((x) => x.playback.digests.filter((d) => originSha(d) !== undefined && originSha(d) !== d.sha256).length),
  );
  const f: Figures = {
    peers: v.length,
    offload: p2p + origin === 0 ? 0 : p2p / (p2p + origin),
    originCopies: run.publishedBytes === 0 ? undefined : run.originEgressBytes / run.publishedBytes,
    continuity: due === 0 ? undefined : sum(v.map((x) => x.playback.segmentsOnTime)) / due,
    rebufferRatio: watch === 0 ? undefined : sum(v.map((x) => x.playback.stalledMs)) / watch,
    startupMsP50: percentile(startups, 50),
    startupMsP95: percentile(startups, 95),
    lagMsP50: percentile(v.flatMap((x) => x.lagsMs), 50),
    lagMsP95: percentile(v.flatMap((x) => x.lagsMs), 95),
    behindLiveMsP50: percentile(v.flatMap((x) => x.playback.behindLiveMs), 50),
    overhead: p2p + origin === 0 ? undefined : sum(v.map((x) => x.controlBytes)) / (p2p + origin),
    corruptPlayed: corrupt,
  };
  const duplicate = sum(v.map((x) => x.duplicateBytes));
  if (p2p + duplicate > 0) f.duplicates = duplicate / (p2p + duplicate);
  if (run.p2p) {
    f.cpuPctPerPeer = run.peerTimeMs === 0 ? undefined : (100 * run.peerCpuMs) / run.peerTimeMs;
    f.rssMbPerPeer = mean(run.peerProcessRssMb);
  }
  const rate = (x: ViewerRecord) => (x.activeMs > 0 ? (1000 * x.p2pBytes) / x.activeMs : 0);
  const riders = v.filter((x) => x.freeRider);
  if (riders.length > 0) {
    const others = v.filter((x) => !x.freeRider);
    const contributors = mean(others.map(rate));
    f.freeRiderShare = contributors ? (mean(riders.map(rate)) ?? 0) / contributors : undefined;
    // Whether free-riders cost those who upload: overall continuity would hide it behind the riders' own stalls.
    const othersDue = sum(others.map((x) => x.playback.segmentsDue));
    f.continuityContributors = othersDue === 0 ? undefined : sum(others.map((x) => x.playback.segmentsOnTime)) / othersDue;
  }
  return f;
}
