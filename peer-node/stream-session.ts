import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { Clock } from '../shared/clock.ts';
import { MAX_WIRE_FRAME_BYTES } from '../shared/limits.ts';
import type { Rng } from '../shared/rng.ts';
import type { TlsSetup } from '../shared/tls.ts';
import type { PeerConfig } from './config.ts';
import type { LinkShaper } from './link.ts';
import { OriginFetcher, httpOriginRange } from './origin-fetch.ts';
import { type PeerCore, createPeerCore } from './peer-core.ts';
import { TrackerClient } from './tracker-client.ts';
import { PeerWebSocket, wsLink } from './ws-link.ts';

const DIAL_TIMEOUT_MS = 3000;

/** Where one stream of the origin is: a channel, or one rendition of a channel's ladder. */
export interface StreamPlace {
  streamId: string;
  /** Its tracker, and any replicas of it. */
  trackers: string[];
  /** The path of its segments at the origin: `<originBase><livePath>/seg-<n>.ts`. */
  livePath: string;
  /** The name its announcements are signed under (shared/announcement-signature.ts). */
  signedName: string;
}

export interface StreamSessionDeps {
  peerId: string;
  clock: Clock;
  rng: Rng;
  log: Logger;
  tls: TlsSetup;
  originKey: KeyObject | null;
  originBase: string;
  /** Shared by every stream of the node: one emulated access link. */
  shaper?: LinkShaper;
  /** A rendition of a ladder: see PeerCoreDeps. */
  listsWholeSegments?: boolean;
  advertisedUrl(): string;
  /** Dials in progress over all the node's streams, so the node's close() ends them. */
  dialling: Set<WebSocket>;
}

/** One swarm the node is in: its core, its tracker client, its origin fallback. */
export interface StreamSession {
  readonly place: StreamPlace;
  readonly core: PeerCore;
  readonly tracker: TrackerClient;
  start(): void;
  /** Idempotent. */
  close(): void;
}

export function createStreamSession(config: PeerConfig, place: StreamPlace, deps: StreamSessionDeps): StreamSession {
  const { clock, log, tls } = deps;
  const core = createPeerCore(
    { ...config, streamId: place.streamId },
    {
      peerId: deps.peerId,
      clock,
      rng: deps.rng,
      log,
      channel: place.signedName,
      originKey: deps.originKey,
      ...(deps.shaper ? { shaper: deps.shaper } : {}),
      listsWholeSegments: deps.listsWholeSegments ?? false,
      advertisedUrl: deps.advertisedUrl,
      dial,
      trackerSend: (msg) => tracker.send(msg),
      trackerJoined: () => tracker.joined,
      fetchOrigin: (seq, piece, segmentSize, pieceSize, fetchToken, done) => originFetcher.piece(seq, piece, segmentSize, pieceSize, fetchToken, done),
    },
  );
  const originHttp = httpOriginRange(deps.originBase, tls.client, place.livePath);
  const originFetcher = new OriginFetcher(originHttp.range, core.shaper, clock);
  const tracker = new TrackerClient({
    url: place.trackers,
    rng: deps.rng,
    tlsClient: tls.client,
    clock,
    log,
    counters: core.counters,
    joinMessage: core.joinMessage,
    onWelcome: core.onWelcome,
    onSegment: core.onSegment,
    onPartial: core.onPartial,
    onPeers: core.onPeers,
    onSeed: core.onSeed,
  });
  let closed = false;

  function dial(remoteId: string, url: string): void {
    const ws = new PeerWebSocket(url, { maxPayload: MAX_WIRE_FRAME_BYTES, handshakeTimeout: DIAL_TIMEOUT_MS, ...tls.client });
    deps.dialling.add(ws);
    ws.on('error', (err) => {
      log.debug({ remoteId, err: err.message }, 'dial failed');
      core.dialFailed(remoteId);
    });
    ws.on('close', () => deps.dialling.delete(ws));
    ws.once('open', () => {
      deps.dialling.delete(ws);
      core.addOutbound(wsLink(ws, clock), remoteId, url);
    });
  }

  return {
    place,
    core,
    tracker,
    start() {
      core.start();
      tracker.start();
    },
    close() {
      if (closed) return;
      closed = true;
      core.close();
      tracker.close();
      originHttp.close();
    },
  };
}
