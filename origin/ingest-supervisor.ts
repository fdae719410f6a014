import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../shared/clock.ts';
import { type FfmpegRun, type IngestSettings, startFfmpeg } from './ffmpeg-process.ts';

/** Exponential backoff, reset after a run that lasted long enough to be healthy. */
export function restartDelayMs(failures: number, maxMs: number): number {
  return Math.min(maxMs, 500 * 2 ** Math.max(0, failures - 1));
}

const HEALTHY_RUN_MS = 10_000;

export interface IngestSupervisorDeps {
  settings: IngestSettings;
  /** Base URL ffmpeg PUTs to for a given run id. */
  ingestBase(runId: string): string;
  clock: Clock;
  log: Logger;
  maxBackoffMs: number;
  onRestart(reason: string): void;
}

/** Keeps one ffmpeg running: restarts it with backoff whenever it dies, until closed. */
export class IngestSupervisor {
  private run: FfmpegRun | null = null;
  private timer: TimerHandle | null = null;
  private failures = 0;
  private runs = 0;
  private closed: Promise<void> | null = null;
  state: 'idle' | 'running' | 'backoff' | 'closed' = 'idle';

  constructor(private readonly deps: IngestSupervisorDeps) {}

  get pid(): number | undefined {
    return this.run?.pid;
  }

  start(): void {
    if (this.closed || this.run) return;
    const runId = `r${this.deps.clock.nowMs().toString(36)}${(this.runs++).toString(36)}`;
    const startedAt = this.deps.clock.nowMs();
    const log = this.deps.log.child({ ingestRun: runId });
    const run = startFfmpeg(this.deps.settings, this.deps.ingestBase(runId), this.deps.clock, (line) => log.debug({ ffmpeg: line }));
    this.run = run;
    this.state = 'running';
    log.info({ source: this.deps.settings.source }, 'ingest started');
    void run.exited.then(({ reason }) => {
      if (this.run !== run) return;
      this.run = null;
      if (this.closed) return;
      this.failures = this.deps.clock.nowMs() - startedAt >= HEALTHY_RUN_MS ? 1 : this.failures + 1;
      const delay = restartDelayMs(this.failures, this.deps.maxBackoffMs);
      log.warn({ reason, restartInMs: delay }, 'ingest stopped; restarting');
      this.deps.onRestart(reason);
      this.state = 'backoff';
      this.timer = this.deps.clock.setTimeout(() => {
        this.timer = null;
        this.start();
      }, delay);
    });
  }

  /** Stops restarting and stops the running ffmpeg; resolves once it is gone. Idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.state = 'closed';
      this.timer?.cancel();
      this.timer = null;
      const run = this.run;
      this.run = null;
      await run?.close();
    })();
    return this.closed;
  }
}
