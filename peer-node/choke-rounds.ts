import type { Clock, TimerHandle } from '../shared/clock.ts';
import type { Rng } from '../shared/rng.ts';
import { TokenBucket } from '../shared/token-bucket.ts';
import type { PeerConfig } from './config.ts';
import type { LinkShaper } from './link.ts';
import type { Neighbour } from './neighbour.ts';
import { type ChokerState, initialChokerState, rechoke } from './policy/choker.ts';

/** Burst of an optimistic trial's upload share: a few pieces, so a trial starts at once. */
const TRIAL_BURST_BYTES = 64 * 1024;
/** An interest change reruns the choker this long after, so a burst of them gets one run. */
const RERUN_AFTER_MS = 250;

export interface ChokeRoundsDeps {
  config: Pick<PeerConfig, 'choker' | 'regularSlots' | 'optimisticSlots' | 'rechokeIntervalMs' | 'optimisticIntervalMs'>;
  clock: Clock;
  rng: Rng;
  shaper: LinkShaper;
  /** Connected, handshaken neighbours (the swarm's list, shared). */
  handshaken(): readonly Neighbour[];
  /** `n` has taken all its newcomer's allowance without giving back (uploader.ts). */
  allowanceSpent(n: Neighbour, now: number): boolean;
  /** Chokes or unchokes `n`, telling it if that changes. */
  setChoking(n: Neighbour, choke: boolean): void;
}

/**
 * Tit-for-tat rounds: every `rechokeIntervalMs` the choker (policy/choker.ts)
 * decides from the round's bytes and a new round starts; between rounds an
 * interest change reruns it (not waiting up to 10 s), so newcomers and freed
 * slots do not sit idle, while the round's byte counts carry on.
 */
export class ChokeRounds {
  private state: ChokerState = initialChokerState();
  private round: TimerHandle | null = null;
  private rerunScheduled = false;
  private closed = false;

  constructor(private readonly deps: ChokeRoundsDeps) {}

  start(): void {
    this.round = this.deps.clock.setInterval(() => this.run(true), this.deps.config.rechokeIntervalMs);
  }

  close(): void {
    this.closed = true;
    this.round?.cancel();
  }

  /** Something the choker weighs changed (an interest, a stall, a spent allowance): it reruns shortly. */
  rerun(): void {
    if (this.rerunScheduled || this.closed) return;
    this.rerunScheduled = true;
    this.deps.clock.setTimeout(() => {
      this.rerunScheduled = false;
      if (!this.closed) this.run(false);
    }, RERUN_AFTER_MS);
  }

  /** The choker decides; we send the changes and, each period, start a new round. */
  private run(newRound: boolean): void {
    const { config, clock, shaper } = this.deps;
    const now = clock.nowMs();
    const peers = this.deps.handshaken();
    const decision = rechoke(
      peers.map((n) => ({
        id: n.peerId as string,
        // One that took all it may without giving back wants nothing we would give.
        interested: n.peerInterested && !n.uploadStalled && !this.deps.allowanceSpent(n, now),
        downloadedBytes: n.roundDownloadedBytes,
        connectedAtMs: n.connectedAtMs,
        lastPieceAtMs: n.lastPieceAtMs,
        everUnchokedUs: n.everUnchokedUs,
      })),
      this.state,
      now,
      {
        mode: config.choker,
        regularSlots: config.regularSlots,
        optimisticSlots: config.optimisticSlots,
        optimisticIntervalMs: config.optimisticIntervalMs,
        snubTimeoutMs: 2 * config.rechokeIntervalMs,
        newcomerMs: config.optimisticIntervalMs,
        newcomerWeight: 3,
      },
      this.deps.rng,
      newRound,
    );
    this.state = decision.state;
    const unchoked = new Set(shaper.uploads ? decision.unchoked : []);
    const upload = shaper.uploadBytesPerSec();
    const slots = config.regularSlots + config.optimisticSlots;
    for (const n of peers) {
      if (newRound) n.welcomeUntilMs = 0;
      const welcomed = now < n.welcomeUntilMs && !n.uploadStalled && !this.deps.allowanceSpent(n, now);
      const choke = !unchoked.has(n.peerId as string) && !welcomed;
      // An optimistic unchoke is a trial: one slot's share of our upload, not
      // all the spare of it, or a free-rider lives well on optimistic slots alone.
      const trial = decision.reasons.get(n.peerId as string) === 'optimistic' && upload !== null && slots > 0;
      if (!trial) n.trialShare = null;
      else n.trialShare ??= new TokenBucket(upload / slots, TRIAL_BURST_BYTES, now);
      this.deps.setChoking(n, choke);
      if (newRound) n.roundDownloadedBytes = 0;
    }
  }
}
