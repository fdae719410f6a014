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
 * Gets bytes [start, end) of segment `seq` from the origin, telling it whose
 * fetch this is by `fetchToken` (null: nobody's): `done` with exactly those bytes, or null.
 */
export type OriginRange = (seq: number, start: number, end: number, fetchToken: string | null, done: (body: Uint8Array | null) => void) => void;

/**
 * Fetches exactly one piece from the origin: the last resort when a piece is
 * due and no neighbour can deliver it in time. The bytes are returned
 * unverified; the store checks them like any others. The transport is
 * injected: HTTP Range requests in the node (httpOriginRange), the origin's
 * egress queue in the simulator.
 */
export class OriginFetcher {
  constructor(
    private readonly range: OriginRange,
    private readonly shaper: LinkShaper,
    private readonly clock: Clock,
  ) {}

  piece(seq: number, piece: number, segmentSize: number, pieceSize: number, fetchToken: string | null, done: (data: Uint8Array | null) => void): void {
    const { start, end } = pieceRange(segmentSize, pieceSize, piece);
    const startedAt = this.clock.nowMs();
    this.range(seq, start, end, fetchToken, (body) => {
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
    const finish = (body: Uint8Array | null) => {
      if (settled) return;
      settled = true;
      done(body);
    };
    const url = `${originBase}${livePath}/${segmentFileName(seq)}`;
    // The token rides in a header of the one request: knowing whose fetch it is costs the origin no round trip.
    const headers: Record<string, string> = { Range: `bytes=${start}-${end - 1}` };
    if (fetchToken !== null) headers[FETCH_TOKEN_HEADER] = fetchToken;
    const req = get(url, { agent, headers, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) }, (res) => {
      if (res.statusCode !== 206) {
        res.resume();
        finish(null);
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
