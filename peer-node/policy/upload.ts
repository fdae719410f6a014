/**
 * What we owe a neighbour on our upload, and when it has stopped taking it.
 * Pure: the swarm feeds the numbers it keeps per neighbour and applies the
 * answer (a piece or a reject; a choke or a disconnect).
 *
 * A piece counts against a neighbour from the moment we accept its request
 * until its socket has taken the bytes (the link's send callback), not until
 * we hand them to the socket: a neighbour that never reads would otherwise
 * make us buffer everything it asks for.
 */

export interface UploadLimits {
  /** Accepted pieces not yet taken by the neighbour's socket, at most. */
  maxQueuedPieces: number;
  /** Their bytes at most; one piece is always allowed when nothing is queued. */
  maxQueuedBytes: number;
  /** Our emulated upload backlog beyond which we refuse, so the asker goes elsewhere in time. */
  maxBacklogMs: number;
  /** A neighbour that has taken nothing of what we owe it for this long is choked and may not ask again. */
  chokeAfterNoDrainMs: number;
  /** ... and after this long, disconnected. */
  dropAfterNoDrainMs: number;
  /** Bytes waiting in its socket beyond which it is disconnected at once, whatever they are (control frames too). */
  maxSocketBufferedBytes: number;
}

export const DEFAULT_UPLOAD_LIMITS: UploadLimits = Object.freeze({
  maxQueuedPieces: 16,
  maxQueuedBytes: 512 * 1024,
  maxBacklogMs: 1500,
  chokeAfterNoDrainMs: 1000,
  dropAfterNoDrainMs: 5000,
  maxSocketBufferedBytes: 1024 * 1024,
});

export interface UploadRequest {
  /** We upload at all (not a free-rider node). */
  uploads: boolean;
  amChoking: boolean;
  /** Bytes of the piece, or null if we do not hold it. */
  pieceBytes: number | null;
  /** The same piece is already queued for this neighbour. */
  alreadyQueued: boolean;
  queuedPieces: number;
  queuedBytes: number;
  backlogMs: number;
  /** It was choked for not reading: it may not ask until it has taken what it has. */
  stalled: boolean;
}

export type Admission = 'accept' | 'no-upload' | 'choked' | 'not-held' | 'duplicate' | 'queue-full' | 'backlog' | 'stalled';

/** Whether to serve one request now; anything but 'accept' is answered with a reject. */
export function admitRequest(r: UploadRequest, l: UploadLimits): Admission {
  if (!r.uploads) return 'no-upload';
  if (r.amChoking) return 'choked';
  if (r.pieceBytes === null) return 'not-held';
  if (r.stalled) return 'stalled';
  if (r.alreadyQueued) return 'duplicate';
  if (r.queuedPieces >= l.maxQueuedPieces) return 'queue-full';
  if (r.queuedPieces > 0 && r.queuedBytes + r.pieceBytes > l.maxQueuedBytes) return 'queue-full';
  if (r.backlogMs > l.maxBacklogMs) return 'backlog';
  return 'accept';
}

export interface DrainState {
  /** Bytes handed to the link whose send has not completed. */
  unsentBytes: number;
  /** The link's own count of bytes waiting in its socket. */
  socketBufferedBytes: number;
  /** The last time a send completed, or when the oldest unsent one began if none has since. */
  lastDrainAtMs: number;
}

export type DrainVerdict = 'ok' | 'stalled' | 'drop';

/**
 * An honest neighbour, however slow, takes bytes now and then; one whose
 * socket has taken nothing for a while has stopped reading (or is gone
 * without a FIN). It is choked first (a pause in its process, a full buffer
 * for a second), then dropped.
 */
export function drainVerdict(s: DrainState, nowMs: number, l: UploadLimits): DrainVerdict {
  if (s.socketBufferedBytes > l.maxSocketBufferedBytes) return 'drop';
  if (s.unsentBytes === 0) return 'ok';
  const idle = nowMs - s.lastDrainAtMs;
  if (idle >= l.dropAfterNoDrainMs) return 'drop';
  if (idle >= l.chokeAfterNoDrainMs) return 'stalled';
  return 'ok';
}
