import type { Clock } from '../shared/clock.ts';
import { TokenBucket } from '../shared/token-bucket.ts';

/**
 * A message channel to one neighbour. The swarm logic talks only to this, so
 * it runs the same over ws (ws-link.ts) and over in-memory pairs in tests.
 */
export interface Link {
  /**
   * Queues a frame. `done` is called once the transport has taken it off our
   * hands (for a socket: written to the kernel), with false if it never will
   * be (the link closed): a neighbour that stops reading shows as sends that
   * never complete.
   */
  send(frame: Uint8Array, done?: (sent: boolean) => void): void;
  close(code: number, reason: string): void;
  onMessage(cb: (frame: Uint8Array) => void): void;
  onClose(cb: (code: number, reason: string) => void): void;
  readonly bufferedAmount: number;
}

export interface ShaperConfig {
  /** -1 = unlimited; 0 = sends no payload at all (the swarm never asks it to). */
  uploadKbps: number;
  /** 0 = unlimited. */
  downloadKbps: number;
  latencyMs: number;
}

/**
 * The node's emulated access link: one upload and one download token bucket
 * shared by all its connections, plus a fixed one-way delay on what it sends.
 * On loopback every peer would otherwise have infinite bandwidth and the
 * swarm's real behaviour would vanish.
 */
const RECEIVED_BUCKET_MS = 100;
const RECEIVED_BUCKETS = 10;

export class LinkShaper {
  private readonly up: TokenBucket | null;
  private readonly down: TokenBucket | null;
  private upBacklogUntilMs = 0;
  private readonly dueAt = new Map<number, (() => void)[]>();
  /** Bytes the download link carried in each of the last RECEIVED_BUCKETS buckets of RECEIVED_BUCKET_MS; kept only for a link of known rate. */
  private readonly received = new Float64Array(RECEIVED_BUCKETS);
  private receivedBucket = 0;

  constructor(
    private readonly config: ShaperConfig,
    private readonly clock: Clock,
  ) {
    const now = clock.nowMs();
    const bytesPerSec = (kbps: number) => (kbps * 1000) / 8;
    // A burst of ~50 ms of traffic: enough to not penalise single frames, small enough to keep rates honest.
    this.up = config.uploadKbps > 0 ? new TokenBucket(bytesPerSec(config.uploadKbps), bytesPerSec(config.uploadKbps) / 20, now) : null;
    this.down = config.downloadKbps > 0 ? new TokenBucket(bytesPerSec(config.downloadKbps), bytesPerSec(config.downloadKbps) / 20, now) : null;
  }

  get uploads(): boolean {
    return this.config.uploadKbps !== 0;
  }

  /** The emulated upload rate, or null when unlimited. */
  uploadBytesPerSec(): number | null {
    return this.config.uploadKbps > 0 ? (this.config.uploadKbps * 1000) / 8 : this.config.uploadKbps === 0 ? 0 : null;
  }

  /** The emulated download rate, or null when unlimited. */
  downloadBytesPerSec(): number | null {
    return this.config.downloadKbps > 0 ? (this.config.downloadKbps * 1000) / 8 : null;
  }

  /** How long a piece queued now would wait for upload bandwidth. */
  uploadBacklogMs(): number {
    return Math.max(0, this.upBacklogUntilMs - this.clock.nowMs());
  }

  /**
   * Sends after the bandwidth and latency of the link. Payload (`bulk`) waits its
   * turn; small control messages use bandwidth but skip the queue, as real
   * clients prioritise them, so a full upload never delays our own requests.
   */
  upload(bytes: number, send: () => void, bulk: boolean): void {
    const now = this.clock.nowMs();
    const wait = this.up ? this.up.reserve(bytes, now) : 0;
    if (bulk) this.upBacklogUntilMs = now + wait;
    this.after((bulk ? wait : 0) + this.config.latencyMs, send);
  }

  private countReceived(bytes: number): void {
    const bucket = Math.floor(this.clock.nowMs() / RECEIVED_BUCKET_MS);
    if (bucket > this.receivedBucket) {
      for (let b = Math.max(this.receivedBucket + 1, bucket - RECEIVED_BUCKETS + 1); b <= bucket; b++) this.received[b % RECEIVED_BUCKETS] = 0;
      this.receivedBucket = bucket;
    }
    this.received[bucket % RECEIVED_BUCKETS] = (this.received[bucket % RECEIVED_BUCKETS] as number) + bytes;
  }

  /** What the download link carried over about the last second, bytes/s; 0 for a link of unknown rate. */
  receivedBytesPerSec(): number {
    this.countReceived(0);
    let sum = 0;
    for (const b of this.received) sum += b;
    return (sum * 1000) / (RECEIVED_BUCKETS * RECEIVED_BUCKET_MS);
  }

  /** Delivers what arrived once the download link would have carried it. */
  download(bytes: number, deliver: () => void): void {
    if (!this.down) return deliver();
    this.after(this.down.reserve(bytes, this.clock.nowMs()), () => {
      this.countReceived(bytes);
      deliver();
    });
  }

  /** Delay for an origin fetch of `bytes`: round trip plus download time. */
  originFetchDelayMs(bytes: number): number {
    if (!this.down) return 2 * this.config.latencyMs;
    const wait = this.down.reserve(bytes, this.clock.nowMs());
    // Counted when reserved: the fetch's caller owns the timer that ends it.
    this.countReceived(bytes);
    return 2 * this.config.latencyMs + wait;
  }

  /**
   * Frames due at the same instant share one timer (a plan's requests, a round
   * of haves to every neighbour): a timer per frame was most of a node's timers.
   */
  private after(ms: number, fn: () => void): void {
    if (ms <= 0) return fn();
    const at = this.clock.nowMs() + ms;
    const due = this.dueAt.get(at);
    if (due) {
      due.push(fn);
      return;
    }
    const batch = [fn];
    this.dueAt.set(at, batch);
    this.clock.setTimeout(() => {
      this.dueAt.delete(at);
      for (const f of batch) f();
    }, ms);
  }
}
