/**
 * The scenarios of BENCHMARKS.md as plain data: who joins when, with what
 * link, and which policies. The runner turns them into real processes.
 */
import { LOW_LATENCY_SEGMENT_MS, originFlags } from '../../origin/config.ts';
import { rungVariant } from '../../shared/master-playlist.ts';
import { parseLadder } from '../../shared/rendition.ts';
import type { Rng } from '../../shared/rng.ts';

export const STREAM_KBPS = 1500;

export interface PeerPlan {
  id: string;
  joinAtMs: number;
  /** null: stays to the end. */
  leaveAtMs: number | null;
  uploadKbps: number;
  latencyMs: number;
  freeRider: boolean;
  /** Emulated download cap (kbit/s); unlimited when not given. */
  downloadKbps?: number;
}

export interface ScenarioPlan {
  name: string;
  /** false: plain HLS from the origin, no peer nodes (the baseline). */
  p2p: boolean;
  durationMs: number;
  warmupMs: number;
  originEgressKbps: number;
  peers: PeerPlan[];
  picker: 'rarest-deadline' | 'sequential' | 'random';
  choker: 'tit-for-tat' | 'all-unchoked';
  relay: 'push' | 'pull';
  /** Peers run as processes of their own, to measure memory per peer honestly. */
  processPeers: number;
  /** The origin's segment duration; LOW_LATENCY_SEGMENT_MS with `lowLatency`. */
  segmentMs: number;
  /** The origin in its --low-latency mode. */
  lowLatency: boolean;
  /** With lowLatency, the origin's --whole-segments: pieces announced only once their segment is whole, not as ffmpeg writes them. */
  wholeSegments: boolean;
  /** The origin's --ladder (the clip is its top rung, copied); viewers then play it with the ABR model. One stream when not given. */
  ladder?: string;
}

export const SCENARIO_NAMES = [
  'baseline-http',
  'swarm-small',
  'swarm-50',
  'churn',
  'free-riders',
  'flash-crowd',
  'picker-ablation',
  'relay-ablation',
  'low-latency',
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

/** Scenarios on a bitrate ladder: the benchmark runs them too; the simulator has no ladder. */
export const BENCH_SCENARIO_NAMES = [...SCENARIO_NAMES, 'abr'] as const;
export type BenchScenarioName = (typeof BENCH_SCENARIO_NAMES)[number];

/**
 * abr's ladder: the benchmark clip itself as the top rung (copied, 640x360 at
 * the stream rate less 128 kbit/s of audio), and two rungs the origin encodes
 * from it. Small rungs, so one ffmpeg keeps real time on 2 cores beside 30
 * peer nodes; each rung about twice the next.
 */
export const ABR_LADDER = `360p=640x360@${STREAM_KBPS - 128},240p=426x240@600,144p=256x144@250`;

/** The ABR model's up-switch margin (harness/abr-rule.ts): a link carries rung r for it when 0.7 x link >= BANDWIDTH of r. */
const ABR_UP_FACTOR = 0.7;

/**
 * abr's viewers: a third on each rung. Viewer i aims at rung i mod 3: its
 * download cap is 1.15-1.45 x what the ABR rule needs to climb to that rung
 * (its BANDWIDTH / 0.7), below what it needs for the next (the top third:
 * 1.15-1.45 x the top's), so the rule settles there if the swarm delivers;
 * its upload is the usual mix, in multiples of that rung's average rate.
 */
export function abrViewers(n: number, rng: Rng, m: AudienceMix, ladder = ABR_LADDER): PeerPlan[] {
  const rungs = parseLadder(ladder)
    .map((r) => rungVariant(r, originFlags.fps.default, originFlags.audioKbps.default))
    .sort((a, b) => a.bandwidth - b.bandwidth);
  return Array.from({ length: n }, (_, i) => {
    const aim = i % rungs.length;
    const need = (j: number) => (rungs[j] as { bandwidth: number }).bandwidth / 1000 / ABR_UP_FACTOR;
    const ceiling = aim + 1 < rungs.length ? need(aim + 1) * 0.95 : Number.POSITIVE_INFINITY;
    const downloadKbps = Math.round(Math.min(ceiling, need(aim) * (1.15 + 0.3 * rng())));
    const rate = { ...m, streamKbps: (rungs[aim] as { averageBandwidth: number }).averageBandwidth / 1000 };
    return peer(`p${i}`, rng, rate, { joinAtMs: Math.round(m.joinSpreadMs * rng()), downloadKbps });
  });
}

/**
 * The benchmark's plans of one scenario: planScenario's, and for low-latency
 * also its ablation, the very same viewers with the origin's --whole-segments
 * (reported as low-latency-whole-segments beside low-latency), so the table
 * shows what announcing pieces as ffmpeg writes them gains. The simulator
 * runs the one plan, progressive or not by its own --whole-segments.
 */
export function benchPlans(name: BenchScenarioName, o: PlanOptions): ScenarioPlan[] {
  const plans = planScenario(name, o);
  if (name !== 'low-latency') return plans;
  return plans.flatMap((p) => [p, { ...p, name: `${p.name}-whole-segments`, wholeSegments: true, peers: p.peers.map((v) => ({ ...v })) }]);
}

export interface PlanOptions {
  quick: boolean;
  peers: number | null;
  durationS: number | null;
  segmentMs: number;
  rng: Rng;
  /** The audience's make-up; BENCHMARKS.md's unless given (the simulator sets it from its flags). */
  mix?: AudienceMix;
}

/** Who watches and how they come and go: every scenario draws its viewers from this. */
export interface AudienceMix {
  streamKbps: number;
  /** "Some at 0.5x, most at 1.5x to 3x the stream rate" (BENCHMARKS.md): this share at slowUpload x, the rest uniform in fastUpload. */
  slowShare: number;
  slowUpload: number;
  fastUpload: readonly [number, number];
  /** One-way latency of each viewer's link, uniform in this range (ms). */
  latencyMs: readonly [number, number];
  /** Origin egress, in stream copies. */
  originEgressCopies: number;
  /** Joins spread over this long as a swarm forms (ms); flash-crowd uses flashWindowMs instead. */
  joinSpreadMs: number;
  flashWindowMs: number;
  /** churn: every churnEveryMs, this share of those present leave and as many join. */
  churnEveryMs: number;
  churnShare: number;
  /** free-riders: this share of viewers never upload. */
  freeRiderShare: number;
}

export function defaultMix(quick: boolean): AudienceMix {
  return {
    streamKbps: STREAM_KBPS,
    slowShare: 0.2,
    slowUpload: 0.5,
    fastUpload: [1.5, 3],
    latencyMs: [10, 40],
    originEgressCopies: 5,
    joinSpreadMs: quick ? 4000 : 10_000,
    flashWindowMs: 5000,
    churnEveryMs: quick ? 10_000 : 30_000,
    churnShare: 1 / 3,
    freeRiderShare: 0.2,
  };
}

function mixedUpload(rng: Rng, m: AudienceMix): number {
  const factor = rng() < m.slowShare ? m.slowUpload : m.fastUpload[0] + (m.fastUpload[1] - m.fastUpload[0]) * rng();
  return Math.round(m.streamKbps * factor);
}

function peer(id: string, rng: Rng, m: AudienceMix, more: Partial<PeerPlan> = {}): PeerPlan {
  const [lo, hi] = m.latencyMs;
  return { id, joinAtMs: 0, leaveAtMs: null, uploadKbps: mixedUpload(rng, m), latencyMs: lo + Math.round((hi - lo) * rng()), freeRider: false, ...more };
}

/**
 * The plans behind one scenario name; picker-ablation is three runs and
 * relay-ablation two, on the same viewers (their variants are reported as
 * <name>-<variant>).
 */
export function planScenario(name: BenchScenarioName, o: PlanOptions): ScenarioPlan[] {
  const m = o.mix ?? defaultMix(o.quick);
  const big = o.peers ?? (o.quick ? 12 : 50);
  const durationMs = 1000 * (o.durationS ?? (o.quick ? 16 : 60));
  const warmupMs = 3 * o.segmentMs;
  const base = (n: string, peers: PeerPlan[], more: Partial<ScenarioPlan> = {}): ScenarioPlan => ({
    name: n,
    p2p: true,
    durationMs,
    warmupMs,
    segmentMs: o.segmentMs,
    lowLatency: false,
    wholeSegments: false,
    originEgressKbps: Math.round(m.originEgressCopies * m.streamKbps),
    peers,
    picker: 'rarest-deadline',
    choker: 'tit-for-tat',
    relay: 'push',
    processPeers: o.quick ? 1 : 2,
    ...more,
  });
  // A swarm forms as viewers arrive over its first seconds; flash-crowd is the all-at-once case.
  const crowd = (n: number, more: (i: number) => Partial<PeerPlan> = () => ({})) =>
    Array.from({ length: n }, (_, i) => peer(`p${i}`, o.rng, m, { joinAtMs: Math.round(m.joinSpreadMs * o.rng()), ...more(i) }));
  switch (name) {
    case 'baseline-http':
      return [base(name, crowd(big), { p2p: false, processPeers: 0 })];
    case 'swarm-small': {
      const n = o.peers ?? (o.quick ? 6 : 10);
      return [base(name, crowd(n, () => ({ uploadKbps: 3 * m.streamKbps })))];
    }
    case 'swarm-50':
      return [base(name, crowd(big))];
    case 'churn': {
      // Every 30 s (10 s in --quick) a third of those present leave and as many new ones join.
      const peers = crowd(big);
      let next = big;
      for (let t = m.churnEveryMs; t < durationMs; t += m.churnEveryMs) {
        const present = peers.filter((p) => p.joinAtMs <= t && (p.leaveAtMs === null || p.leaveAtMs > t));
        for (const p of present.slice(0, Math.floor(present.length * m.churnShare + 1e-9))) {
          p.leaveAtMs = t;
          peers.push(peer(`p${next++}`, o.rng, m, { joinAtMs: t + Math.round(1000 * o.rng()) }));
        }
      }
      return [base(name, peers)];
    }
    case 'free-riders': {
      const riders = Math.max(1, Math.round(big * m.freeRiderShare));
      return [base(name, crowd(big, (i) => (i < riders ? { uploadKbps: 0, freeRider: true } : {})))];
    }
    case 'flash-crowd':
      // The stream runs alone for the warm-up, then everyone arrives within 5 s.
      return [base(name, crowd(big, () => ({ joinAtMs: warmupMs + Math.round(m.flashWindowMs * o.rng()) })), { processPeers: 0 })];
    case 'picker-ablation':
      return [
        base('picker-ablation-sequential', crowd(big), { picker: 'sequential' }),
        base('picker-ablation-random', crowd(big), { picker: 'random' }),
        base('picker-ablation-all-unchoked', crowd(big), { choker: 'all-unchoked' }),
      ];
    case 'relay-ablation': {
      const viewers = crowd(big);
      return [base('relay-ablation-pull', viewers, { relay: 'pull' }), base('relay-ablation-push', viewers.map((p) => ({ ...p })), { relay: 'push' })];
    }
    case 'low-latency':
      // swarm-50's viewers, drawn the same way, with the origin's 0.5 s segments (pieces announced as ffmpeg writes them); the warm-up is 3 of them.
      return [base(name, crowd(big), { segmentMs: LOW_LATENCY_SEGMENT_MS, lowLatency: true, warmupMs: 3 * LOW_LATENCY_SEGMENT_MS })];
    case 'abr':
      // N = 30 (12 in --quick) on a ladder; the origin's egress is 5 copies of the top rung, for every rung together.
      return [base(name, abrViewers(o.peers ?? (o.quick ? 12 : 30), o.rng, m), { ladder: ABR_LADDER })];
  }
}
