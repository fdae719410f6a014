import { Agent as HttpAgent, get as httpGet } from 'node:http';
import { Agent as HttpsAgent, get as httpsGet } from 'node:https';
import type { Clock } from '../shared/clock.ts';
import { FETCH_TOKEN_HEADER } from '../shared/fetch-token.ts';
import { pieceRange, segmentFileName } from '../shared/segment.ts';
import type { TlsSetup } from '../shared/tls.ts';
import type { LinkShaper } from './link.ts';

/** A fallback fetch not answered in full by then is given up (the simulator gives up on its own at the same bound). */
export const FETCH_TIMEOUT_MS = 5000;

/**
 * An origin that refuses a fetch (429 or 503) is not asked again for this
 * long, or for what its Retry-After says, up to MAX_REFUSAL_MS: it refuses a
 * free-rider over its spare budget (origin/spare-budget.ts), which asking
 * again sooner cannot change.
 */
export const DEFAULT_REFUSAL_MS = 1000;
export const MAX_REFUSAL_MS = 30_000;
/**
 * Meanwhile a fetch fails here, after this long at most: the swarm plans
 * again on every failure, and a piece it awaits from the origin is asked of
 * no neighbour, so neither a tight loop nor a long hold.
 */
export const REFUSED_ANSWER_MS = 250;

/**
 * Gets bytes [start, end) of segment `seq` from the origin, telling it whose
 * fetch this is by `fetchToken` (null: nobody's): `done` with exactly those
 * bytes, or null; on a refusal, null and how long the origin asks to be left
 * alone (ms).
 */
export type OriginRange = (
  seq: number,
  start: number,
  end: number,
  fetchToken: string | null,
  done: (body: Uint8Array | null, refusedForMs?: number) => void,
) => void;

/**
 * Fetches exactly one piece from the origin: the last resort when a piece is
 * due and no neighbour can deliver it in time. The bytes are returned
 * unverified; the store checks them like any others. The transport is
 * injected: HTTP Range requests in the node (httpOriginRange), the origin's
 * egress queue in the simulator.
 */
export class OriginFetcher {
  private refusedUntilMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly range: OriginRange,
    private readonly shaper: LinkShaper,
    private readonly clock: Clock,
  ) {}

  /** `done` gets the piece's bytes, or null and, if the origin refused, until when it asked to be left alone. */
  piece(seq: number, piece: number, segmentSize: number, pieceSize: number, fetchToken: string | null, done: (data: Uint8Array | null, refusedUntilMs?: number) => void): void {
    const { start, end } = pieceRange(segmentSize, pieceSize, piece);
    const startedAt = this.clock.nowMs();
    if (startedAt < this.refusedUntilMs) {
      this.clock.setTimeout(() => done(null, this.refusedUntilMs), Math.min(REFUSED_ANSWER_MS, this.refusedUntilMs - startedAt));
      return;
    }
    this.range(seq, start, end, fetchToken, (body, refusedForMs) => {
      if (refusedForMs !== undefined) {
        const until = this.clock.nowMs() + Math.min(MAX_REFUSAL_MS, Math.max(0, refusedForMs));
        this.refusedUntilMs = Math.max(this.refusedUntilMs, until);
        return done(null, this.refusedUntilMs);
      }
      if (!body) return done(null);
      // The emulated link: what the transport took is subtracted from what the link would have taken.
      const wait = this.shaper.originFetchDelayMs(body.byteLength) - (this.clock.nowMs() - startedAt);
      if (wait > 0) this.clock.setTimeout(() => done(body), wait);
      else done(body);
    });
  }
}

/**
 * Range requests to the origin's HTTP server: `206` with exactly the bytes
 * asked for, else null; never reads more than asked for. node:http(s) rather
 * than the global fetch, whose TLS cannot be given a private CA; one
 * keep-alive agent, so fallbacks reuse their connections. `close` lets idle
 * sockets go and fails a fetch in flight. `livePath` is the channel's (shared/channel.ts).
 */
export function httpOriginRange(originBase: string, tlsClient: TlsSetup['client'], livePath = '/live'): { range: OriginRange; close(): void } {
  const secure = originBase.startsWith('https:');
  const agent = secure ? new HttpsAgent({ keepAlive: true, ...tlsClient }) : new HttpAgent({ keepAlive: true });
  const get = secure ? httpsGet : httpGet;
  const range: OriginRange = (seq, start, end, fetchToken, done) => {
    const want = end - start;
    let settled = false;
    const finish = (body: Uint8Array | null, refusedForMs?: number) => {
      if (settled) return;
      settled = true;
      done(body, refusedForMs);
    };
    const url = `${originBase}${livePath}/${segmentFileName(seq)}`;
    // The token rides in a header of the one request: knowing whose fetch it is costs the origin no round trip.
    const headers: Record<string, string> = { Range: `bytes=${start}-${end - 1}` };
    if (fetchToken !== null) headers[FETCH_TOKEN_HEADER] = fetchToken;
    const req = get(url, { agent, headers, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) }, (res) => {
      if (res.statusCode !== 206) {
        res.resume();
        finish(null, res.statusCode === 429 || res.statusCode === 503 ? retryAfterMs(res.headers['retry-after']) : undefined);
        return;
      }
      const chunks: Buffer[] = [];
      let got = 0;
      res.on('data', (chunk: Buffer) => {
        got += chunk.byteLength;
        if (got > want) {
          req.destroy();
          finish(null);
        } else chunks.push(chunk);
      });
      res.on('end', () => finish(got === want ? new Uint8Array(Buffer.concat(chunks)) : null));
      res.on('error', () => finish(null));
      res.on('close', () => finish(null));
    });
    req.on('error', () => finish(null));
  };
  return { range, close: () => agent.destroy() };
}

/** Retry-After in seconds; a date, or nothing usable, counts as DEFAULT_REFUSAL_MS. */
export function retryAfterMs(header: string | undefined): number {
  return header !== undefined && /^\d{1,6}$/.test(header.trim()) ? 1000 * Number(header.trim()) : DEFAULT_REFUSAL_MS;
}
