import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type FetchingPeer, UPLOAD_PROOF_MS, fetchClass } from '../../origin/egress-class.ts';

describe('egress class of a fallback fetch, by what the tracker knows of its token\'s peer', () => {
  const NOW = 1_000_000;
  /** A peer that joined `agoMs` before NOW, declared `uploadKbps` and has reported `uploadedBytes` since. */
  const peer = (uploadKbps: number, agoMs: number, uploadedBytes: number): FetchingPeer => ({ uploadKbps, joinedAtMs: NOW - agoMs, stats: { uploadedBytes } });
  const table: [string, FetchingPeer | null, string][] = [
    ['no token, or one nobody holds: a plain viewer, served as any', null, 'http not-a-peer'],
    ['declared no upload: a free-rider from its first fetch', peer(0, 0, 0), 'spare declared-no-upload'],
    ['declared no upload, whatever it then reports', peer(0, 600_000, 1e9), 'spare declared-no-upload'],
    ['declared upload, just joined', peer(1500, 0, 0), 'http newcomer'],
    ['declared upload, has not shown it yet', peer(1500, UPLOAD_PROOF_MS - 1, 0), 'http newcomer'],
    ['declared upload and uploaded nothing in its first UPLOAD_PROOF_MS', peer(1500, UPLOAD_PROOF_MS, 0), 'spare uploaded-nothing'],
    ['declared upload, uploaded nothing for ten minutes', peer(1_000_000, 600_000, 0), 'spare uploaded-nothing'],
    ['uploads, however little', peer(750, 600_000, 1), 'http uploads'],
    ['uploads, and is new', peer(3000, 1000, 16_384), 'http uploads'],
  ];
  for (const [name, fetching, expected] of table) {
    test(name, () => {
      const c = fetchClass(fetching, NOW);
      assert.equal(`${c.cls} ${c.reason}`, expected);
    });
  }
});
