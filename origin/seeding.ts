import type { Clock } from '../shared/clock.ts';
import { pieceRange } from '../shared/segment.ts';
import type { OriginConfig } from './config.ts';
import type { Egress } from './egress.ts';
import type { LiveWindow, StoredSegment } from './live-window.ts';
import { type SeederState, initialSeederState, planSeeding } from './seeder.ts';
import type { TrackerServer } from './tracker-server.ts';

/**
 * A piece seeded to a peer that leaves within this long may not have spread
 * yet, so it is seeded again to another peer; older ones have.
 */
export const RESEED_WINDOW_MS = 3000;

export interface OriginSeedingDeps {
  config: Pick<OriginConfig, 'seedCopies' | 'pieceSize'>;
  window: Pick<LiveWindow, 'lookup'>;
  /** The bytes received so far of a segment still arriving (progressive low-latency), for reseeding its pieces; absent: none are. */
  openBytes?: (seq: number) => Uint8Array | null;
  tracker: Pick<TrackerServer, 'seedCandidates' | 'canSeed' | 'seed'>;
  egress: Egress;
  clock: Clock;
  /** Bytes that left the origin's uplink, for its offload figures. */
  countEgress(bytes: number): void;
}

/**
 * The origin seeding the swarm: each piece of a new segment goes to
 * `seedCopies` peers chosen by the seeder (seeder.ts), through the egress
 * queue; a peer that leaves before passing its pieces on has them seeded
 * again to others.
 */
export class OriginSeeding {
  private state: SeederState = initialSeederState();
  /** Pieces seeded lately, per peer: if that peer leaves before passing them on, they are seeded again. */
  private readonly recent = new Map<string, { seq: number; piece: number; atMs: number }[]>();

  constructor(private readonly deps: OriginSeedingDeps) {}

  /** Seeds a newly published segment's pieces from `from` on: those before it were seeded while it arrived (seedOpen). */
  seed(segment: StoredSegment, from = 0): void {
    const pieces = segment.info.pieceHashes.map((_, i) => i).slice(from);
    if (pieces.length > 0) this.seedPieces(segment.info.seq, pieces, null, segment.data);
  }

  /** Seeds whole pieces of segment `seq`, still arriving, from `data`, its bytes so far: the same credit, queue and accounting as a published one's. */
  seedOpen(seq: number, pieces: readonly number[], data: Uint8Array): void {
    this.seedPieces(seq, pieces, null, data);
  }

  /** `peerId` left: what it was seeded within RESEED_WINDOW_MS goes to others. */
  reseed(peerId: string): void {
    const list = this.recent.get(peerId);
    this.recent.delete(peerId);
    if (!list) return;
    const now = this.deps.clock.nowMs();
    const bySeq = new Map<number, number[]>();
    for (const r of list) {
      if (now - r.atMs > RESEED_WINDOW_MS) continue;
      const pieces = bySeq.get(r.seq);
      if (pieces) pieces.push(r.piece);
      else bySeq.set(r.seq, [r.piece]);
    }
    for (const [seq, pieces] of bySeq) {
      const found = this.deps.window.lookup(seq);
      const data = found.state === 'live' ? found.segment.data : this.deps.openBytes?.(seq);
      if (data) this.seedPieces(seq, pieces, peerId, data);
    }
  }

  /** `data`: the segment's bytes, or those of it received so far (every piece in `pieces` is whole in it). */
  private seedPieces(seq: number, pieces: readonly number[], exclude: string | null, data: Uint8Array): void {
    const { config, tracker, egress } = this.deps;
    if (config.seedCopies === 0) return;
    const candidates = tracker.seedCandidates().filter((c) => c.peerId !== exclude);
    const plan = planSeeding(pieces.length, candidates, this.state, config.seedCopies);
    this.state = plan.state;
    const now = this.deps.clock.nowMs();
    plan.targets.forEach((targets, i) => {
      const piece = pieces[i] as number;
      const { start, end } = pieceRange(data.byteLength, config.pieceSize, piece);
      const bytes = data.subarray(start, end);
      let sent = 0;
      for (const peerId of targets) {
        if (sent === config.seedCopies) break;
        if (!tracker.canSeed(peerId)) continue;
        sent++;
        let list = this.recent.get(peerId);
        if (!list) this.recent.set(peerId, (list = []));
        list.push({ seq, piece, atMs: now });
        while (list.length > 0 && now - (list[0] as { atMs: number }).atMs > RESEED_WINDOW_MS) list.shift();
        egress.send('seed', bytes.byteLength, () => {
          if (tracker.seed(peerId, seq, piece, bytes)) this.deps.countEgress(bytes.byteLength);
        });
      }
    });
  }
}
