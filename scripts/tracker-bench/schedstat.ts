import { readFileSync } from 'node:fs';

/**
 * How long a process's main thread (its event loop) has waited on a run
 * queue, runnable but without a core, in ns since it started: the second
 * field of /proc/<pid>/schedstat (Linux with schedstats). Null where it
 * cannot be read. On a busy machine this, not the tracker's own work, is
 * what a slow announcement waits for.
 */
export function runQueueWaitNs(pid: number | 'self'): number | null {
  try {
    const v = Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]);
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}
