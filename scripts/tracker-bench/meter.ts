/**
 * Preloaded (`--import`) into the tracker's process by `npm run bench:tracker`,
 * so CPU and memory are read inside the process measured, after a full GC,
 * without a line of the origin's code knowing: it answers `sample` requests
 * over the IPC channel its parent forked it with. Needs --expose-gc. CPU is
 * read before any collection, so a memory reading's collection is not in the CPU
 * figure as long as no memory reading falls inside the window measured.
 */
import { writeHeapSnapshot } from 'node:v8';
import type { MeterSample, MeterSnapshotWritten, ToMeter } from './protocol.ts';
import { runQueueWaitNs } from './schedstat.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('the tracker meter needs node --expose-gc');
if (!process.send) throw new Error('the tracker meter needs an IPC channel (child_process.fork)');

process.on('message', (msg: ToMeter) => {
  if (msg?.type === 'heap-snapshot') {
    const written: MeterSnapshotWritten = { type: 'heap-snapshot', id: msg.id, path: writeHeapSnapshot(msg.path) };
    process.send?.(written);
    return;
  }
  if (msg?.type !== 'sample') return;
  const cpu = process.cpuUsage();
  const runWaitNs = runQueueWaitNs('self');
  const atMs = Date.now();
  if (msg.gc) {
    // Twice: the first pass can leave garbage that only finalizers of the first freed.
    gc();
    gc();
  }
  const mem = process.memoryUsage();
  const sample: MeterSample = {
    type: 'sample',
    id: msg.id,
    atMs,
    cpuUs: cpu.user + cpu.system,
    runWaitNs,
    rssBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
    externalBytes: mem.external,
  };
  process.send?.(sample);
});

// The benchmark gone (finished, crashed, killed) must not leave the tracker and its ffmpeg running: close as on Ctrl-C.
process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
// The channel alone must not keep a tracker that has closed alive.
process.channel?.unref();
