import { on } from 'node:events';
import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';
import { type OriginConfig, originConfig } from '../../origin/config.ts';
import { type Origin, type OriginDeps, createOrigin } from '../../origin/origin.ts';

export const quietLog = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** A real origin with a real ffmpeg test source on a free port; light settings to spare the CPU. */
export async function startTestOrigin(overrides: Partial<OriginConfig> = {}, deps: Partial<OriginDeps> = {}): Promise<Origin> {
  const origin = createOrigin(
    originConfig({ port: 0, width: 320, height: 180, fps: 15, videoKbps: 400, audioKbps: 64, ...overrides }),
    { log: quietLog, ...deps },
  );
  await origin.start();
  return origin;
}

/** Resolves once `origin` has published `count` segments since it started; woken by each segmentPublished, not polled. */
export async function waitForSegments(origin: Origin, count: number, timeoutMs = 30_000): Promise<void> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    if (origin.window.published >= count) return;
    for await (const _ of on(origin.events, 'segmentPublished', { signal })) if (origin.window.published >= count) return;
  } catch (e) {
    if (!signal.aborted) throw e;
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${count} segments (${origin.window.published} published)`);
  }
}

/** A logger whose JSON lines the test can read back, for what a program tells its operator. */
export function capturingLog(level = 'info'): { log: Logger; entries: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { log: pino({ level }, sink), entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
