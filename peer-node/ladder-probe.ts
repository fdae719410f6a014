import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../shared/clock.ts';
import type { TlsSetup } from '../shared/tls.ts';
import type { Variant } from '../shared/master-playlist.ts';
import { readLadder } from './master-playlist.ts';
import { reconnectDelayMs } from './policy/tracker-failover.ts';

const PROBE_TIMEOUT_MS = 5000;
/** A master playlist of MAX_RUNGS rungs is a few KB. */
const MAX_MASTER_BYTES = 64 * 1024;

type Answer = { kind: 'single' } | { kind: 'ladder'; rungs: Variant[] } | { kind: 'retry'; why: string };

function fetchMaster(url: string, tlsClient: TlsSetup['client']): Promise<Answer> {
  return new Promise((resolve) => {
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    const req = get(url, { ...tlsClient, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }, (res) => {
      // No master playlist: the origin has no ladder, and the channel is one stream.
      if (res.statusCode === 404) {
        res.resume();
        return resolve({ kind: 'single' });
      }
      if (res.statusCode !== 200) {
        res.resume();
        return resolve({ kind: 'retry', why: `HTTP ${res.statusCode}` });
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.byteLength;
        if (size > MAX_MASTER_BYTES) {
          req.destroy();
          resolve({ kind: 'retry', why: `master playlist over ${MAX_MASTER_BYTES} bytes` });
        } else chunks.push(c);
      });
      res.on('error', (err) => resolve({ kind: 'retry', why: err.message }));
      res.on('end', () => {
        const parsed = readLadder(Buffer.concat(chunks).toString('utf8'));
        resolve(parsed.ok ? { kind: 'ladder', rungs: parsed.rungs } : { kind: 'retry', why: `bad master playlist: ${parsed.error}` });
      });
    });
    req.on('error', (err) => resolve({ kind: 'retry', why: err.message }));
  });
}

/**
 * Asks the origin (or the edge) whether the channel is a ladder, until it
 * answers: `done` gets its rungs, or null for a channel of one stream (404).
 * While the origin is not up, or answers anything else, it asks again with
 * the tracker client's backoff. `cancel` stops it.
 */
export function probeLadder(url: string, tlsClient: TlsSetup['client'], clock: Clock, log: Logger, done: (rungs: Variant[] | null) => void): { cancel(): void } {
  let cancelled = false;
  let timer: TimerHandle | null = null;
  let attempt = 0;
  const ask = async () => {
    timer = null;
    const answer = await fetchMaster(url, tlsClient);
    if (cancelled) return;
    if (answer.kind === 'retry') {
      const delayMs = reconnectDelayMs(attempt++);
      log[answer.why.startsWith('bad master') ? 'warn' : 'debug']({ url, why: answer.why, retryInMs: delayMs }, 'master playlist probe failed');
      timer = clock.setTimeout(() => void ask(), delayMs);
      return;
    }
    done(answer.kind === 'ladder' ? answer.rungs : null);
  };
  void ask();
  return {
    cancel() {
      cancelled = true;
      timer?.cancel();
    },
  };
}
