/** Messages between `npm run bench:tracker`, its load workers and the meter preloaded into the tracker's process (Node IPC). */

export interface WorkerSpec {
  trackerUrl: string;
  streamId: string;
  /** Connections this worker opens and keeps joined. */
  connections: number;
  /** Peer ids are `<idPrefix><n>`: unique across workers. */
  idPrefix: string;
  /** Local address its sockets bind to (127.0.0.x), or null for the system's choice. */
  localAddress: string | null;
  /** Joins in flight at once: below the tracker's unjoined-per-address limit. */
  maxInFlight: number;
}

/** One measured segment as one worker saw it: receipt instants less the origin's publishedAtMs, in ms. */
export interface SegmentReceipts {
  seq: number;
  publishedAtMs: number;
  latenciesMs: number[];
  /** Joined connections of this worker that had not received it when the worker stopped waiting. */
  missing: number;
}

export type ToWorker =
  | { type: 'start'; spec: WorkerSpec }
  /** Count the segments the origin published at or after `fromMs` (its clock: epoch ms). */
  | { type: 'measure'; fromMs: number }
  | { type: 'stop' };

export type FromWorker =
  | { type: 'ready' }
  | {
      type: 'progress';
      joined: number;
      /** Connections that closed or failed, with the tracker's reason when it gave one. */
      lost: number;
      lastError: string | null;
      cpuMs: number;
    }
  /** The answer to `measure`: its CPU so far, where the measured window starts. */
  | { type: 'measuring'; cpuMs: number }
  | { type: 'segment'; receipts: SegmentReceipts }
  | { type: 'stopped'; cpuMs: number };

/** `gc`: collect first, for a memory reading (a CPU reading skips it, so the collection's own cost is not counted). */
export type ToMeter = { type: 'sample'; id: number; gc: boolean } | { type: 'heap-snapshot'; id: number; path: string };

/** What the meter reads in the tracker's process. */
export interface MeterSample {
  type: 'sample';
  id: number;
  /** Epoch ms, and process.cpuUsage() user + system in µs. */
  atMs: number;
  cpuUs: number;
  /** schedstat.ts; null where it cannot be read. */
  runWaitNs: number | null;
  rssBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
}

export interface MeterSnapshotWritten {
  type: 'heap-snapshot';
  id: number;
  path: string;
}
