/**
 * The scenarios of BENCHMARKS.md as plain data: who joins when, with what
 * link, and which policies. The runner turns them into real processes.
 */
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
  /** Peers run as processes of their own, to measure memory per peer honestly. */
  processPeers: number;
}

export const SCENARIO_NAMES = [
  'baseline-http',
  'swarm-small',
  'swarm-50',
  'churn',
  'free-riders',
  'flash-crowd',
  'picker-ablation',
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export interface PlanOptions {
  quick: boolean;
  peers: number | null;
  durationS: number | null;
  segmentMs: number;
  rng: Rng;
}

/** "Some at 0.5x, most at 1.5x to 3x the stream rate" (BENCHMARKS.md). */
function mixedUpload(rng: Rng): number {
  const factor = rng() < 0.2 ? 0.5 : 1.5 + 1.5 * rng();
  return Math.round(STREAM_KBPS * factor);
}

function peer(id: string, rng: Rng, more: Partial<PeerPlan> = {}): PeerPlan {
  return { id, joinAtMs: 0, leaveAtMs: null, uploadKbps: mixedUpload(rng), latencyMs: 10 + Math.round(30 * rng()), freeRider: false, ...more };
}

/**
 * The plans behind one scenario name; picker-ablation is three runs (its
 * variants are reported as picker-ablation-<variant>).
 */
export function planScenario(name: ScenarioName, o: PlanOptions): ScenarioPlan[] {
  const big = o.peers ?? (o.quick ? 12 : 50);
  const durationMs = 1000 * (o.durationS ?? (o.quick ? 16 : 60));
  const warmupMs = 3 * o.segmentMs;
  const base = (n: string, peers: PeerPlan[], more: Partial<ScenarioPlan> = {}): ScenarioPlan => ({
    name: n,
    p2p: true,
    durationMs,
    warmupMs,
    originEgressKbps: 5 * STREAM_KBPS,
    peers,
    picker: 'rarest-deadline',
    choker: 'tit-for-tat',
    processPeers: o.quick ? 1 : 2,
    ...more,
  });
  // A swarm forms as viewers arrive over its first seconds; flash-crowd is the all-at-once case.
  const spreadMs = o.quick ? 4000 : 10_000;
  const crowd = (n: number, more: (i: number) => Partial<PeerPlan> = () => ({})) =>
    Array.from({ length: n }, (_, i) => peer(`p${i}`, o.rng, { joinAtMs: Math.round(spreadMs * o.rng()), ...more(i) }));
  switch (name) {
    case 'baseline-http':
      return [base(name, crowd(big), { p2p: false, processPeers: 0 })];
    case 'swarm-small': {
      const n = o.peers ?? (o.quick ? 6 : 10);
      return [base(name, crowd(n, () => ({ uploadKbps: 3 * STREAM_KBPS }))), ];
    }
    case 'swarm-50':
      return [base(name, crowd(big))];
    case 'churn': {
      // Every 30 s (10 s in --quick) a third of those present leave and as many new ones join.
      const everyMs = o.quick ? 10_000 : 30_000;
      const peers = crowd(big);
      let next = big;
      for (let t = everyMs; t < durationMs; t += everyMs) {
        const present = peers.filter((p) => p.joinAtMs <= t && (p.leaveAtMs === null || p.leaveAtMs > t));
        for (const p of present.slice(0, Math.floor(present.length / 3))) {
          p.leaveAtMs = t;
          peers.push(peer(`p${next++}`, o.rng, { joinAtMs: t + Math.round(1000 * o.rng()) }));
        }
      }
      return [base(name, peers)];
    }
    case 'free-riders': {
      const riders = Math.max(1, Math.round(big / 5));
      return [base(name, crowd(big, (i) => (i < riders ? { uploadKbps: 0, freeRider: true } : {})))];
    }
    case 'flash-crowd':
      // The stream runs alone for the warm-up, then everyone arrives within 5 s.
      return [base(name, crowd(big, () => ({ joinAtMs: warmupMs + Math.round(5000 * o.rng()) })), { processPeers: 0 })];
    case 'picker-ablation':
      return [
        base('picker-ablation-sequential', crowd(big), { picker: 'sequential' }),
        base('picker-ablation-random', crowd(big), { picker: 'random' }),
        base('picker-ablation-all-unchoked', crowd(big), { choker: 'all-unchoked' }),
      ];
  }
}
