import type { Clock, TimerHandle } from '../shared/clock.ts';
import type { WireMessage } from '../shared/wire-protocol.ts';
import type { Neighbour } from './neighbour.ts';

/**
 * Haves wait this long to be batched. Each relay hop waits for it, so it adds
 * straight to the lag behind live; pieces arriving together still share a frame.
 */
export const HAVE_BATCH_MS = 20;

export interface HaveBatcherDeps {
  clock: Clock;
  /** Connected, handshaken neighbours (the swarm's list, shared). */
  handshaken(): readonly Neighbour[];
  send(n: Neighbour, msg: WireMessage): void;
}

/**
 * Tells our neighbours of the pieces we store: those stored within
 * HAVE_BATCH_MS of the first go in one `have` each, and only to neighbours
 * that do not hold them already.
 */
export class HaveBatcher {
  private pending: { seq: number; piece: number }[] = [];
  private timer: TimerHandle | null = null;
  private closed = false;

  constructor(private readonly deps: HaveBatcherDeps) {}

  stored(seq: number, piece: number): void {
    this.pending.push({ seq, piece });
    if (this.timer !== null) return;
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = null;
      if (!this.closed) this.flush();
    }, HAVE_BATCH_MS);
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const haves = this.pending;
    this.pending = [];
    for (const n of this.deps.handshaken()) {
      // A neighbour that already holds a piece has no use for hearing we do.
      const news = haves.filter((h) => !n.holds(h.seq, h.piece));
      if (news.length > 0) this.deps.send(n, { type: 'have', pieces: news });
    }
  }
}
