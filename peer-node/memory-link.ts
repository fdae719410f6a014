import type { Clock } from '../shared/clock.ts';
import type { Link } from './link.ts';

export interface MemoryLinkOptions {
  /** One-way delay of every frame and of the close, on the clock given. */
  latencyMs: number;
}

/**
 * Two connected in-memory links that deliver on `clock`'s timers: whole
 * swarms run over them in tests and in the simulator, in virtual time.
 */
export function memoryLinkPair(clock: Clock, options: MemoryLinkOptions): [MemoryLink, MemoryLink] {
  const a = new MemoryLink(clock, options.latencyMs);
  const b = new MemoryLink(clock, options.latencyMs);
  a.connect(b);
  b.connect(a);
  return [a, b];
}

/** Per clock, deliveries waiting by due time: all those due at one instant share one timer. */
const dueByClock = new WeakMap<Clock, Map<number, (() => void)[]>>();

/**
 * Frames sent at one instant (a round of haves to every neighbour) arrive
 * together, in order, on one timer rather than a timer each: a whole swarm's
 * frames were most of a simulation's events.
 */
function deliverLater(clock: Clock, due: Map<number, (() => void)[]>, ms: number, fn: () => void): void {
  const at = clock.nowMs() + ms;
  const batch = due.get(at);
  if (batch) {
    batch.push(fn);
    return;
  }
  const fresh = [fn];
  due.set(at, fresh);
  clock.setTimeout(() => {
    due.delete(at);
    for (const f of fresh) f();
  }, ms);
}

/**
 * One end of a `memoryLinkPair`. `done(true)` fires at once while the far end
 * reads, as a socket's write completes when the kernel takes the bytes, not
 * when they arrive: the latency is in the wire, not in our buffer. The swarm
 * reads a send that does not complete as a neighbour not reading, so
 * completing only on arrival would make every link look stalled for a trip.
 */
export class MemoryLink implements Link {
  private far: MemoryLink | null = null;
  private closed = false;
  private reading = true;
  private messageCb: ((frame: Uint8Array) => void) | null = null;
  private closeCb: ((code: number, reason: string) => void) | null = null;
  /** Frames sent here that the far end has not taken, because it stopped reading. */
  private held: { frame: Uint8Array; done: ((sent: boolean) => void) | undefined }[] = [];
  private heldBytes = 0;
  /** Its clock's deliveries waiting by due time, found once rather than per frame. */
  private readonly due: Map<number, (() => void)[]>;

  constructor(
    private readonly clock: Clock,
    private readonly latencyMs: number,
  ) {
    let due = dueByClock.get(clock);
    if (!due) dueByClock.set(clock, (due = new Map()));
    this.due = due;
  }

  connect(far: MemoryLink): void {
    this.far = far;
  }

  send(frame: Uint8Array, done?: (sent: boolean) => void): void {
    const far = this.far;
    if (this.closed || !far) return done?.(false);
    if (!far.reading) {
      this.held.push({ frame, done });
      this.heldBytes += frame.byteLength;
      return;
    }
    deliverLater(this.clock, this.due, this.latencyMs, () => {
      if (!far.closed) far.messageCb?.(frame);
    });
    done?.(true);
  }

  /** Closes this end at once and the far end one latency later, as its close frame arrives. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.end(code, reason);
    const far = this.far;
    if (far) this.clock.setTimeout(() => far.end(code, reason), this.latencyMs);
  }

  onMessage(cb: (frame: Uint8Array) => void): void {
    this.messageCb = cb;
  }

  onClose(cb: (code: number, reason: string) => void): void {
    this.closeCb = cb;
  }

  /** Bytes sent here that the far end has not taken: 0 unless it stopped reading. */
  get bufferedAmount(): number {
    return this.heldBytes;
  }

  /**
   * From now on this end reads nothing, as a stuck or hostile process: what
   * the far end sends piles up in its buffer and its `done` waits until the
   * link closes, then fires with false. Frames already on the wire still arrive.
   */
  stopReading(): void {
    this.reading = false;
  }

  private end(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    // What the far end never took is lost with the connection.
    for (const h of this.held.splice(0)) h.done?.(false);
    this.heldBytes = 0;
    this.closeCb?.(code, reason);
  }
}
