import express, { type Express, type Request, type Response } from 'express';
import type { Registry } from 'prom-client';
import { adminGate } from '../shared/admin-auth.ts';
import { type NodeStats, type PlayerReport, readReport } from '../shared/player-api.ts';
import { renderLivePlaylist } from '../shared/playlist.ts';
import { type SegmentAnnouncement, parseSegmentFileName } from '../shared/segment.ts';
import type { SegmentStore } from './segment-store.ts';

/** How long a player's segment request may wait for the swarm before it gets a 504. */
const SEGMENT_WAIT_MS = 10_000;
/** How long a playlist request may wait for a joining node to have something to list. */
const PLAYLIST_WAIT_MS = 4000;

export interface HttpApiDeps {
  store: SegmentStore;
  registry: Registry;
  /** The player asked for a segment that is not whole yet. */
  onSegmentWanted(seq: number): void;
  onPlayerReport(r: PlayerReport): void;
  /** The segments the playlist lists now, oldest first. */
  /** What the playlist lists now, or as soon as it lists anything, within `timeoutMs`; [] if nothing by then or the asker left. */
  waitListed(timeoutMs: number, gone: () => boolean): Promise<SegmentAnnouncement[]>;
  discontinuitySequence(firstListed: number): number;
  /** The media sequence number players know the listed segment `seq` by. */
  mediaSequence(seq: number): number;
  stats(): NodeStats;
  /** Guards /metrics (shared/admin-auth.ts); null lets loopback clients only. */
  adminToken: string | null;
  staticDir: string | null;
}

/** The peer node's local HTTP face: plain HLS for the player, its reports, stats, metrics. */
export function createHttpApi(deps: HttpApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/live.m3u8', async (req, res) => {
    // A node still joining answers as soon as it has something to list, rather
    // than make the player retry (hls.js does not retry a first manifest).
    const infos = await deps.waitListed(PLAYLIST_WAIT_MS, () => req.socket.destroyed);
    if (infos.length === 0) {
      res.status(503).set('Retry-After', '1').send('stream not started yet\n');
      return;
    }
    res
      .set({ 'Content-Type': 'application/vnd.apple.mpegurl', 'Cache-Control': 'no-cache' })
      .send(renderLivePlaylist(infos, deps.discontinuitySequence(infos[0]?.seq ?? 0), 'live/', deps.mediaSequence(infos[0]?.seq ?? 0)));
  });

  app.get('/live/:file', async (req: Request, res: Response) => {
    const seq = parseSegmentFileName(String(req.params.file));
    if (seq === null || (!deps.store.get(seq) && !deps.store.isEvicted(seq))) {
      res.status(404).send('no such segment\n');
      return;
    }
    if (deps.store.isEvicted(seq)) {
      res.status(410).send('segment left the live window\n');
      return;
    }
    let data = deps.store.segmentData(seq);
    if (!data) {
      deps.onSegmentWanted(seq);
      data = await deps.store.waitComplete(seq, SEGMENT_WAIT_MS);
    }
    if (!data) {
      res.status(504).send('segment not available in time\n');
      return;
    }
    res.set({ 'Content-Type': 'video/mp2t', 'Cache-Control': 'no-cache' }).send(data);
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
