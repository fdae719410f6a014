import { Agent as HttpAgent, get as httpGet } from 'node:http';
import { Agent as HttpsAgent, get as httpsGet } from 'node:https';
import type { Clock } from '../shared/clock.ts';
import { pieceRange, segmentFileName } from '../shared/segment.ts';
import type { TlsSetup } from '../shared/tls.ts';
import type { LinkShaper } from './link.ts';

const FETCH_TIMEOUT_MS = 5000;

/**
 * Fetches exactly one piece from the origin with an HTTP Range request: the
 * last resort when a piece is due and no neighbour can deliver it in time.
 * The bytes are returned unverified; the store checks them like any others.
 *
 * node:http(s) rather than the global fetch, whose TLS cannot be given a
 * private CA; one keep-alive agent, so fallbacks reuse their connections.
 */
export class OriginFetcher {
  private readonly secure: boolean;
  private readonly agent: HttpAgent;

  constructor(
    private readonly originBase: string,
    tlsClient: TlsSetup['client'],
    private readonly shaper: LinkShaper,
    private readonly clock: Clock,
  ) {
    this.secure = originBase.startsWith('https:');
    this.agent = this.secure ? new HttpsAgent({ keepAlive: true, ...tlsClient }) : new HttpAgent({ keepAlive: true });
  }

  async piece(seq: number, piece: number, segmentSize: number, pieceSize: number): Promise<Uint8Array | null> {
    const { start, end } = pieceRange(segmentSize, pieceSize, piece);
    const startedAt = this.clock.nowMs();
    const body = await this.range(`${this.originBase}/live/${segmentFileName(seq)}`, start, end);
    if (!body) return null;
    // The emulated link: what loopback took is subtracted from what the link would have taken.
    const wait = this.shaper.originFetchDelayMs(body.byteLength) - (this.clock.nowMs() - startedAt);
    if (wait > 0) await new Promise<void>((resolve) => this.clock.setTimeout(resolve, wait));
    return body;
  }

  /** Idle keep-alive sockets go; a fetch still in flight fails. */
  close(): void {
    this.agent.destroy();
  }

  /** `206` with exactly bytes [start, end), else null; never reads more than asked for. */
  private range(url: string, start: number, end: number): Promise<Uint8Array | null> {
    const want = end - start;
    return new Promise((resolve) => {
      const get = this.secure ? httpsGet : httpGet;
      const req = get(url, { agent: this.agent, headers: { Range: `bytes=${start}-${end - 1}` }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) }, (res) => {
        if (res.statusCode !== 206) {
          res.resume();
          resolve(null);
          return;
        }
        const chunks: Buffer[] = [];
        let got = 0;
        res.on('data', (chunk: Buffer) => {
          got += chunk.byteLength;
          if (got > want) {
            req.destroy();
            resolve(null);
          } else chunks.push(chunk);
        });
        res.on('end', () => resolve(got === want ? new Uint8Array(Buffer.concat(chunks)) : null));
        res.on('error', () => resolve(null));
        res.on('close', () => resolve(null));
      });
      req.on('error', () => resolve(null));
    });
  }
}
