import express, { type Express, type Request, type Response } from 'express';
import type { Registry } from 'prom-client';
import { adminGate } from '../shared/admin-auth.ts';
import { type NodeStats, type PlayerReport, readReport } from '../shared/player-api.ts';
import { renderLivePlaylist } from '../shared/playlist.ts';
import { type SegmentAnnouncement, parseSegmentFileName } from '../shared/segment.ts';
import type { Clock, TimerHandle } from '../shared/clock.ts';
import { RENDITION_NAME_PATTERN } from '../shared/rendition.ts';
import { bytesDueBy, nextWriteInMs } from './policy/pacing.ts';
import type { SegmentStore } from './segment-store.ts';

/** How long a player's segment request may wait for the swarm before it gets a 504. */
const SEGMENT_WAIT_MS = 10_000;
/** How long a playlist request may wait for a joining node to have something to list. */
const PLAYLIST_WAIT_MS = 4000;

/** One stream the player can be served: a channel, or one rendition of its ladder. */
export interface StreamView {
  store: SegmentStore;
  /** The player asked for a segment, whole or not. */
  onSegmentAsked(seq: number): void;
  /** The player asked for a segment that is not whole yet. */
  onSegmentWanted(seq: number): void;
  /** What the playlist lists now, or as soon as it lists anything, within `timeoutMs`; [] if nothing by then or the asker left. */
  waitListed(timeoutMs: number, gone: () => boolean): Promise<SegmentAnnouncement[]>;
  discontinuitySequence(firstListed: number): number;
  /** The media sequence number players know the listed segment `seq` by. */
  mediaSequence(seq: number): number;
}

/** What `/live.m3u8` is: one stream's media playlist, or a ladder's master playlist. */
export type Layout = { kind: 'single'; stream: StreamView } | { kind: 'ladder'; master: string };

export interface HttpApiDeps {
  /** The layout, or null while the node does not know it yet (it asks the origin at start). */
  layout(): Layout | null;
  /** The layout once the node knows it, within `timeoutMs`; null if not by then or the asker left. */
  waitLayout(timeoutMs: number, gone: () => boolean): Promise<Layout | null>;
  /** Rendition `name` of the ladder, joined if it was not (the player asks for it); null if no such rung or no ladder. */
  rendition(name: string): StreamView | null;
  /** The rate to serve segments at, bytes/s (peer-node/policy/pacing.ts), or null for as fast as the socket takes them. */
  paceBytesPerSec(): number | null;
  clock: Clock;
  registry: Registry;
  onPlayerReport(r: PlayerReport): void;
  stats(): NodeStats;
  /** Guards /metrics (shared/admin-auth.ts); null lets loopback clients only. */
  adminToken: string | null;
  staticDir: string | null;
}

const PLAYLIST_HEADERS = { 'Content-Type': 'application/vnd.apple.mpegurl', 'Cache-Control': 'no-cache' };
/** Paced responses are written in pieces of this much, or less. */
const PACE_CHUNK_BYTES = 16 * 1024;

/** The peer node's local HTTP face: plain HLS for the player, its reports, stats, metrics. */
export function createHttpApi(deps: HttpApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  /** A media playlist of `stream`, its segment URIs behind `uriPrefix`. */
  async function sendMediaPlaylist(stream: StreamView, uriPrefix: string, req: Request, res: Response, waitedMs: number): Promise<void> {
    // A node still joining answers as soon as it has something to list, rather
    // than make the player retry (hls.js does not retry a first manifest).
    const infos = await stream.waitListed(Math.max(0, PLAYLIST_WAIT_MS - waitedMs), () => req.socket.destroyed);
    if (infos.length === 0) {
      res.status(503).set('Retry-After', '1').send('stream not started yet\n');
      return;
    }
    const first = infos[0]?.seq ?? 0;
    res.set(PLAYLIST_HEADERS).send(renderLivePlaylist(infos, stream.discontinuitySequence(first), uriPrefix, stream.mediaSequence(first)));
  }

  async function sendSegment(stream: StreamView | null, file: string, res: Response): Promise<void> {
    const seq = parseSegmentFileName(file);
    if (!stream || seq === null || (!stream.store.get(seq) && !stream.store.isEvicted(seq))) {
      res.status(404).send('no such segment\n');
      return;
    }
    if (stream.store.isEvicted(seq)) {
      res.status(410).send('segment left the live window\n');
      return;
    }
    stream.onSegmentAsked(seq);
    let data = stream.store.segmentData(seq);
    if (!data) {
      stream.onSegmentWanted(seq);
      data = await stream.store.waitComplete(seq, SEGMENT_WAIT_MS);
    }
    if (!data) {
      res.status(504).send('segment not available in time\n');
      return;
    }
    res.set({ 'Content-Type': 'video/mp2t', 'Cache-Control': 'no-cache', 'Content-Length': String(data.byteLength) });
    sendPaced(res, data, deps.paceBytesPerSec(), deps.clock);
  }

  app.get('/live.m3u8', async (req, res) => {
    const startedMs = deps.clock.nowMs();
    const layout = await deps.waitLayout(PLAYLIST_WAIT_MS, () => req.socket.destroyed);
    if (!layout) {
      res.status(503).set('Retry-After', '1').send('stream not started yet\n');
      return;
    }
    if (layout.kind === 'ladder') {
      res.set(PLAYLIST_HEADERS).send(layout.master);
      return;
    }
    await sendMediaPlaylist(layout.stream, 'live/', req, res, deps.clock.nowMs() - startedMs);
  });

  app.get('/live/:file', async (req: Request, res: Response) => {
    const file = String(req.params.file);
    const rendition = file.endsWith('.m3u8') ? file.slice(0, -'.m3u8'.length) : null;
    if (rendition !== null && RENDITION_NAME_PATTERN.test(rendition)) {
      const stream = deps.rendition(rendition);
      if (!stream) {
        res.status(404).send('no such rendition\n');
        return;
      }
      await sendMediaPlaylist(stream, `${rendition}/`, req, res, 0);
      return;
    }
    const layout = deps.layout();
    await sendSegment(layout?.kind === 'single' ? layout.stream : null, file, res);
  });

  app.get('/live/:rendition/:file', async (req: Request, res: Response) => {
    const name = String(req.params.rendition);
    await sendSegment(RENDITION_NAME_PATTERN.test(name) ? deps.rendition(name) : null, String(req.params.file), res);
  });

  app.post('/api/player', express.json({ limit: 1024 }), (req, res) => {
    const report = readReport(req.body);
    if (!report) {
      res.status(400).json({ error: 'expected {seq, offsetMs, stalls, stallMs} as non-negative integers' });
      return;
    }
    deps.onPlayerReport(report);
    res.status(204).end();
  });

  // The player page shows /api/stats wherever its viewer sits (a node in a container is not on the viewer's
  // loopback), and it tells no more than the playlist beside it; /metrics is for the operator.
  app.use('/metrics', adminGate(deps.adminToken));

  app.get('/api/stats', (_req, res) => {
    res.set('Cache-Control', 'no-cache').json(deps.stats());
  });

  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', deps.registry.contentType).send(await deps.registry.metrics());
  });

  // Public for health checks, so only whether the node works, not what it carries.
  app.get('/healthz', (_req, res) => {
    const { trackerConnected, segments } = deps.stats();
    res.json({ status: 'ok', trackerConnected, segments });
  });

  if (deps.staticDir) app.use(express.static(deps.staticDir, { index: 'index.html', dotfiles: 'deny', redirect: false }));

  app.use((_req: Request, res: Response) => {
    res.status(404).send('not found\n');
  });
  // A malformed JSON body lands here: a clear 400, never a stack trace.
  app.use((err: Error & { status?: number }, _req: Request, res: Response, _next: unknown) => {
    res.status(err.status && err.status < 500 ? err.status : 500).json({ error: err.status && err.status < 500 ? err.message : 'internal error' });
  });
  return app;
}

/**
 * Writes `data` no faster than `rate` bytes/s from now, its headers at once
 * (the time to first byte is the wait for the swarm), so the player's measure
 * of its download is the node's (policy/pacing.ts). Stops when the player
 * goes away.
 */
function sendPaced(res: Response, data: Buffer, rate: number | null, clock: Clock): void {
  if (rate === null) {
    res.end(data);
    return;
  }
  if (res.destroyed) return;
  res.flushHeaders();
  const startedAtMs = clock.nowMs();
  let sent = 0;
  let timer: TimerHandle | null = null;
  res.on('close', () => timer?.cancel());
  const step = () => {
    timer = null;
    if (res.destroyed) return;
    const elapsed = clock.nowMs() - startedAtMs;
    const due = bytesDueBy(rate, elapsed, data.byteLength);
    if (due > sent) {
      res.write(data.subarray(sent, due));
      sent = due;
    }
    if (sent >= data.byteLength) return void res.end();
    timer = clock.setTimeout(step, nextWriteInMs(rate, sent, elapsed, data.byteLength, PACE_CHUNK_BYTES));
  };
  step();
}
