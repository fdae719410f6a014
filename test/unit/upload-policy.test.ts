import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type Admission,
  DEFAULT_UPLOAD_LIMITS as L,
  type DrainVerdict,
  type UploadRequest,
  admitRequest,
  drainVerdict,
} from '../../peer-node/policy/upload.ts';

const PIECE = 16 * 1024;

/** An unchoked neighbour asking for a piece we hold, with nothing queued for it. */
const ask = (more: Partial<UploadRequest> = {}): UploadRequest => ({
  uploads: true,
  amChoking: false,
  pieceBytes: PIECE,
  alreadyQueued: false,
  queuedPieces: 0,
  queuedBytes: 0,
  backlogMs: 0,
  stalled: false,
  ...more,
});

describe('admitRequest', () => {
  test('serves what it can, refuses the rest with a reason', () => {
    const table: [string, Partial<UploadRequest>, Admission][] = [
      ['an ordinary request', {}, 'accept'],
      ['we never upload (free-rider node)', { uploads: false }, 'no-upload'],
      ['we choke it', { amChoking: true }, 'choked'],
      ['we do not hold the piece', { pieceBytes: null }, 'not-held'],
      ['it stopped reading what we sent', { stalled: true }, 'stalled'],
      ['the same piece is already queued for it', { alreadyQueued: true }, 'duplicate'],
      ['one piece short of the count cap', { queuedPieces: L.maxQueuedPieces - 1, queuedBytes: (L.maxQueuedPieces - 1) * 1024 }, 'accept'],
      ['at the count cap', { queuedPieces: L.maxQueuedPieces, queuedBytes: L.maxQueuedPieces * 1024 }, 'queue-full'],
      ['the bytes would pass the byte cap', { queuedPieces: 2, queuedBytes: L.maxQueuedBytes - PIECE + 1 }, 'queue-full'],
      ['the bytes just fit', { queuedPieces: 2, queuedBytes: L.maxQueuedBytes - PIECE }, 'accept'],
      ['one huge piece with nothing queued is still served', { pieceBytes: L.maxQueuedBytes * 2 }, 'accept'],
      ['our upload is backed up', { backlogMs: L.maxBacklogMs + 1 }, 'backlog'],
    ];
    for (const [why, more, expected] of table) assert.equal(admitRequest(ask(more), L), expected, why);
  });
});

describe('drainVerdict', () => {
  const NOW = 100_000;
  test('choke a neighbour whose socket takes nothing, then drop it; a slow one that drains is fine', () => {
    const table: [string, { unsentBytes: number; socketBufferedBytes: number; idleMs: number }, DrainVerdict][] = [
      ['nothing owed', { unsentBytes: 0, socketBufferedBytes: 0, idleMs: 600_000 }, 'ok'],
      ['owed, drained just now', { unsentBytes: 500_000, socketBufferedBytes: 400_000, idleMs: 10 }, 'ok'],
      ['owed, nothing taken for a moment', { unsentBytes: 16_000, socketBufferedBytes: 0, idleMs: L.chokeAfterNoDrainMs - 1 }, 'ok'],
      ['owed, nothing taken past the choke bound', { unsentBytes: 16_000, socketBufferedBytes: 0, idleMs: L.chokeAfterNoDrainMs }, 'stalled'],
      ['owed, nothing taken past the drop bound', { unsentBytes: 16_000, socketBufferedBytes: 0, idleMs: L.dropAfterNoDrainMs }, 'drop'],
      ['its socket holds more than we ever allow, however recent', { unsentBytes: 0, socketBufferedBytes: L.maxSocketBufferedBytes + 1, idleMs: 0 }, 'drop'],
    ];
    for (const [why, s, expected] of table) {
      assert.equal(drainVerdict({ unsentBytes: s.unsentBytes, socketBufferedBytes: s.socketBufferedBytes, lastDrainAtMs: NOW - s.idleMs }, NOW, L), expected, why);
    }
  });
});
