/** The load workers of `npm run bench:tracker`: child processes (load-worker.ts), each holding its share of the connections. */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FromWorker, SegmentReceipts, ToWorker, WorkerSpec } from './protocol.ts';

const WORKER = fileURLToPath(new URL('./load-worker.ts', import.meta.url));
const STOP_TIMEOUT_MS = 5000;

export interface LoadWorker {
  readonly index: number;
  readonly pid: number;
  joined: number;
  lost: number;
  lastError: string | null;
  cpuMs: number;
  /** Its CPU when it began measuring, once it has. */
  measuringCpuMs: number | null;
  send(msg: ToWorker): void;
  /** Resolves with the CPU it used in all, in ms; kills it if it does not stop in time. */
  stop(): Promise<number>;
}

export interface WorkerEvents {
  onSegment(worker: LoadWorker, receipts: SegmentReceipts): void;
  /** A worker died before it was stopped. */
  onDied(worker: LoadWorker, why: string): void;
}

export function startWorker(index: number, events: WorkerEvents): Promise<LoadWorker> {
  const child: ChildProcess = fork(WORKER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let stopping = false;
  let stopped: ((cpuMs: number) => void) | null = null;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const w: LoadWorker = {
    index,
    pid: child.pid ?? 0,
    joined: 0,
    lost: 0,
    lastError: null,
    cpuMs: 0,
    measuringCpuMs: null,
    send: (msg) => {
      if (child.connected) child.send(msg);
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return w.cpuMs;
      stopping = true;
      const cpu = new Promise<number>((resolve) => (stopped = resolve));
      w.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const cpuMs = await Promise.race([cpu, exited.then(() => w.cpuMs)]);
      await exited;
      clearTimeout(timer);
      return cpuMs;
    },
  };
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.on('exit', (code, signal) => {
      if (!stopping) events.onDied(w, `load worker ${index} exited (${signal ?? code})`);
      reject(new Error(`load worker ${index} exited before it was ready`));
    });
    child.on('message', (msg: FromWorker) => {
      switch (msg.type) {
        case 'ready':
          resolve(w);
          return;
        case 'progress':
          w.joined = msg.joined;
          w.lost = msg.lost;
          w.lastError = msg.lastError;
          w.cpuMs = msg.cpuMs;
          return;
        case 'measuring':
          w.measuringCpuMs = msg.cpuMs;
          return;
        case 'segment':
          events.onSegment(w, msg.receipts);
          return;
        case 'stopped':
          w.cpuMs = msg.cpuMs;
          stopped?.(msg.cpuMs);
          return;
      }
    });
  });
}

/** Connections per worker: as even as can be. */
export function shares(connections: number, workers: number): number[] {
  return Array.from({ length: workers }, (_, i) => Math.floor(connections / workers) + (i < connections % workers ? 1 : 0));
}

export type { WorkerSpec };
