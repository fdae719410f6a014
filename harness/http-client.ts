/**
 * The playback models' HTTP client: node:http over one keep-alive agent. The
 * benchmark runs each peer node's model in the node's own worker process, so
 * what the model costs is counted in cpuPctPerPeer; the global fetch (undici,
 * with its web streams and a pool per origin) cost about as much as the
 * node's own serving of those requests, which a viewer's browser would pay,
 * not the node.
 */
import { Agent, request } from 'node:http';

export interface HttpReply {
  status: number;
  ok: boolean;
  /** When the status line and headers came in (Date.now()): a download's time to first byte. */
  headersAtMs: number;
  body: Buffer;
}

const agent = new Agent({ keepAlive: true });

/** GET `url` (POST `post` as JSON when given); rejects on a network error or after `timeoutMs` in all. */
export function httpRequest(url: string | URL, timeoutMs: number, post?: string): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const headers = post === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(post)) };
    const req = request(url, { agent, method: post === undefined ? 'GET' : 'POST', headers, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      const headersAtMs = Date.now();
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        resolve({ status, ok: status >= 200 && status < 300, headersAtMs, body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks) });
      });
      res.on('error', reject);
      // Cut short (the server went away, the timeout fired): a settled promise ignores this.
      res.on('close', () => reject(new Error('response cut short')));
    });
    req.on('error', reject);
    req.end(post);
  });
}
