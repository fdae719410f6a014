import type { ServerResponse } from 'node:http';

/** Small enough that a response cut off midway is counted close to what left, large enough to cost few writes. */
const CHUNK_BYTES = 64 * 1024;

/**
 * Ends `res` with `body`, written in chunks as the socket drains, and calls
 * `onWritten` for each chunk once the socket has taken it: a client that
 * stops reading and goes away is counted for what was written, not for the
 * whole body. Headers are the caller's; Content-Length is set here.
 */
export function sendCounted(res: ServerResponse, body: Buffer, onWritten: (bytes: number) => void): void {
  res.setHeader('Content-Length', body.byteLength);
  let offset = 0;
  const writeMore = (): void => {
    while (offset < body.byteLength && !res.destroyed) {
      const chunk = body.subarray(offset, offset + CHUNK_BYTES);
      offset += chunk.byteLength;
      const ok = res.write(chunk, (err) => {
        if (!err) onWritten(chunk.byteLength);
      });
      if (!ok) return void res.once('drain', writeMore);
    }
    if (!res.destroyed) res.end();
  };
  writeMore();
}
