import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import { MAX_SEGMENT_BYTES } from '../shared/limits.ts';
import { type OpenResult, type PutResult, isIngestSegmentFile } from './ingest-receiver.ts';
import type { ChannelMetrics } from './metrics.ts';

/** Where a channel's ingest files go, its stream key checked here first (origin/channel.ts). */
export interface IngestTarget {
  readonly name: string;
  readonly metrics: Pick<ChannelMetrics, 'ingestRejected'>;
  keyMatches(given: string): boolean;
  put(run: string, file: string, body: Buffer, atMs: number): PutResult;
  open(run: string, file: string): OpenResult;
}

export interface IngestRouteDeps {
  /** The channel a route names; `null` names the default one (`/ingest/<key>/…`). */
  channel(name: string | null): IngestTarget | undefined;
  /** Progressive announcement (origin/config.ts): segment bodies are fed to the channel as they arrive, not once whole. */
  progressive: boolean;
  log: Logger;
  /** When a body was read, on the time line of the origin's ingest timings. */
  now(): number;
}

const RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The routes ffmpeg uploads to: `/ingest/<key>/<run>/<file>` for the default
 * channel, `/ingest/<c>/<key>/<run>/<file>` for another. PUT, as the hls
 * muxer sends, or POST, as the segment muxer does (origin/ffmpeg-process.ts).
 * The key is checked before a byte of the body is read. Playlists and the
 * hls muxer's segments are read whole; with progressive announcement a
 * segment's body goes to the channel chunk by chunk as it arrives.
 */
export function ingestRoutes(deps: IngestRouteDeps): Router {
  const { log } = deps;

  function checkKey(name: string | null, req: Request, res: Response, next: NextFunction): void {
    const channel = deps.channel(name);
    if (!channel || !channel.keyMatches(String(req.params.key))) {
      // A channel that does not exist is refused like a wrong key: the route tells nothing more than the pages do.
      if (channel) channel.metrics.ingestRejected.inc({ reason: 'bad-key' });
      log.warn({ ip: req.socket.remoteAddress, channel: channel?.name ?? null }, 'ingest refused: wrong stream key');
      res.status(403).send('wrong stream key\n');
      return;
    }
    if (!RUN_ID.test(String(req.params.run))) {
      channel.metrics.ingestRejected.inc({ reason: 'bad-request' });
      res.status(400).send('bad ingest request\n');
      return;
    }
    res.locals.channel = channel;
    next();
  }

  const rawBody = express.raw({ type: () => true, limit: MAX_SEGMENT_BYTES });

  function readBody(req: Request, res: Response, next: NextFunction): void {
    if (deps.progressive && isIngestSegmentFile(String(req.params.file))) streamBody(req, res, next);
    else rawBody(req, res, next);
  }

  function wholeBody(req: Request, res: Response): void {
    const channel = res.locals.channel as IngestTarget;
    if (!Buffer.isBuffer(req.body)) {
      channel.metrics.ingestRejected.inc({ reason: 'bad-request' });
      res.status(400).send('bad ingest request\n');
      return;
    }
    answer(channel, res, channel.put(String(req.params.run), String(req.params.file), req.body, deps.now()));
  }

  function answer(channel: IngestTarget, res: Response, result: PutResult): void {
    if (result.status === 'rejected') {
      channel.metrics.ingestRejected.inc({ reason: 'bad-file' });
      res.status(400).send(`${result.reason}\n`);
      return;
    }
    res.status(201).end();
  }

  /**
   * A segment's body, chunk by chunk as it comes. The channel holds at most
   * MAX_SEGMENT_BYTES of it and a couple of such bodies per run
   * (ingest-receiver.ts); once it no longer takes this one, the rest is read
   * and dropped and the connection closes after the answer. A client gone
   * mid-body publishes nothing.
   */
  function streamBody(req: Request, res: Response, next: NextFunction): void {
    const channel = res.locals.channel as IngestTarget;
    if (Number(req.headers['content-length'] ?? 0) > MAX_SEGMENT_BYTES) {
      refuse(channel, req, res, 413, 'too-large', 'request body too large\n');
      return;
    }
    const opened = channel.open(String(req.params.run), String(req.params.file));
    if (opened.status === 'rejected') {
      answer(channel, res, opened);
      return;
    }
    const { body } = opened;
    let done = false;
    const stop = (): void => {
      done = true;
      req.off('data', onData);
    };
    const onData = (chunk: Buffer): void => {
      try {
        const written = body.write(chunk);
        if (written === 'ok') return;
        stop();
        if (written === 'too-large') refuse(channel, req, res, 413, 'too-large', 'request body too large\n');
        else refuse(channel, req, res, 409, 'dropped', 'segment dropped for a newer one of its run\n');
      } catch (err) {
        stop();
        body.abort();
        req.resume();
        res.set('Connection', 'close');
        next(err);
      }
    };
    req.on('data', onData);
    req.on('end', () => {
      if (done) return;
      done = true;
      try {
        answer(channel, res, body.end(deps.now()));
      } catch (err) {
        next(err);
      }
    });
    // 'close' follows: what came of the body is dropped there.
    req.on('error', (err) => log.debug({ channel: channel.name, message: err.message }, 'ingest upload failed'));
    req.on('close', () => {
      if (done) return;
      done = true;
      body.abort();
      log.debug({ channel: channel.name }, 'ingest upload cut off: its segment is not published');
    });
  }

  /** Answers now; what still comes of the body is read and dropped until the connection closes after the answer. */
  function refuse(channel: IngestTarget, req: Request, res: Response, status: number, reason: string, text: string): void {
    req.resume();
    channel.metrics.ingestRejected.inc({ reason });
    res.status(status).set('Connection', 'close').send(text);
  }

  const router = express.Router();
  for (const method of ['put', 'post'] as const) {
    router[method]('/ingest/:key/:run/:file', (req, res, next) => checkKey(null, req, res, next), readBody, wholeBody);
    router[method]('/ingest/:channel/:key/:run/:file', (req, res, next) => checkKey(String(req.params.channel), req, res, next), readBody, wholeBody);
  }
  return router;
}
