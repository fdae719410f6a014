import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ProtocolErrorCode } from '../../shared/errors.ts';
import { sha256Base64Url, sha256Hex } from '../../shared/hashing.ts';
import {
  MAX_COUNTER_VALUE,
  MAX_PEERS_PER_LIST,
  MAX_PIECE_SIZE,
  MAX_PIECES_PER_SEGMENT,
  MAX_SEGMENT_BYTES,
  MAX_TRACKER_MESSAGE_BYTES,
  MAX_URL_LENGTH,
  MAX_WINDOW_SEGMENTS,
  PROTOCOL_VERSION,
} from '../../shared/limits.ts';
import type { SegmentAnnouncement } from '../../shared/segment.ts';
import {
  type PeerStats,
  type PeerToTracker,
  type TrackerToPeer,
  decodePeerToTracker,
  decodeSeedPiece,
  decodeTrackerToPeer,
  encodeSeedPiece,
  encodeTrackerMessage,
} from '../../shared/tracker-protocol.ts';

const HASH = sha256Base64Url(new Uint8Array([1, 2, 3]));
const HEX = sha256Hex(new Uint8Array([1, 2, 3]));

function segment(more: Partial<SegmentAnnouncement> = {}): SegmentAnnouncement {
  return {
    seq: 12,
    durationMs: 1000,
    size: 40_000,
    sha256: HEX,
    pieceHashes: [HASH, HASH, HASH],
    publishedAtMs: 1_700_000_000_000,
    discontinuity: false,
    ...more,
  };
}

const stats: PeerStats = { p2pBytes: 1, originBytes: 2, uploadedBytes: 3, stalls: 4, stallMs: 5, neighbours: 6, hashFailures: 7 };
const peer = (i: number) => ({ peerId: `peer-${i}`, url: `ws://10.0.0.${i % 250}:${4000 + i}/peer` });

const join = (more: Record<string, unknown> = {}) =>
  JSON.stringify({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'p1', url: 'ws://127.0.0.1:4001/peer', uploadKbps: 5000, ...more });
const announce = (more: Record<string, unknown> = {}) => JSON.stringify({ type: 'announce', stats: { ...stats, ...more } });
const welcome = (more: Record<string, unknown> = {}) =>
  JSON.stringify({
    type: 'welcome',
    version: PROTOCOL_VERSION,
    streamId: 'live',
    peerId: 'p1',
    pieceSize: 16384,
    announceIntervalMs: 2000,
    originTimeMs: 1_700_000_000_500,
    segments: [segment()],
    peers: [peer(1)],
    ...more,
  });
const segmentMsg = (more: Record<string, unknown> = {}) => JSON.stringify({ type: 'segment', segment: { ...segment(), ...more } });

describe('tracker protocol: round trip, peer -> tracker', () => {
  const rows: { name: string; msg: PeerToTracker }[] = [
    { name: 'join', msg: { type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'peer-1', url: 'ws://127.0.0.1:4001/peer', uploadKbps: 5000 } },
    { name: 'join, no url, free-rider', msg: { type: 'join', version: PROTOCOL_VERSION, streamId: 's', peerId: 'p', url: null, uploadKbps: 0 } },
    { name: 'join, wss url, max upload', msg: { type: 'join', version: PROTOCOL_VERSION, streamId: 's', peerId: 'p', url: 'wss://example.org/peer', uploadKbps: 100_000_000 } },
    { name: 'announce', msg: { type: 'announce', stats } },
    {
      name: 'announce, zero and max counters',
      msg: { type: 'announce', stats: { ...stats, p2pBytes: 0, hashFailures: MAX_COUNTER_VALUE } },
    },
    { name: 'get-peers, 1', msg: { type: 'get-peers', max: 1 } },
    { name: 'get-peers, MAX_PEERS_PER_LIST', msg: { type: 'get-peers', max: MAX_PEERS_PER_LIST } },
    { name: 'leave', msg: { type: 'leave' } },
  ];
  for (const row of rows) {
    test(row.name, () => {
      const decoded = decodePeerToTracker(encodeTrackerMessage(row.msg));
      assert.ok(decoded.ok, decoded.ok ? '' : `${decoded.error.code}: ${decoded.error.message}`);
      assert.deepEqual(decoded.value, row.msg);
    });
  }
});

describe('tracker protocol: round trip, tracker -> peer', () => {
  const rows: { name: string; msg: TrackerToPeer }[] = [
    {
      name: 'welcome',
      msg: { type: 'welcome', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'p1', pieceSize: 16384, announceIntervalMs: 2000, originTimeMs: 1_700_000_000_500, segments: [segment()], peers: [peer(1), peer(2)] },
    },
    {
      name: 'welcome, empty window and no peers, smallest piece size',
      msg: { type: 'welcome', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'p1', pieceSize: 1024, announceIntervalMs: 100, originTimeMs: 0, segments: [], peers: [] },
    },
    {
      name: 'welcome, full window and full peer list, largest piece size',
      msg: {
        type: 'welcome',
        version: PROTOCOL_VERSION,
        streamId: 'live',
        peerId: 'p1',
        pieceSize: MAX_PIECE_SIZE,
        announceIntervalMs: 600_000,
        originTimeMs: MAX_COUNTER_VALUE,
        segments: Array.from({ length: MAX_WINDOW_SEGMENTS }, (_, i) => segment({ seq: i, discontinuity: i % 100 === 0 })),
        peers: Array.from({ length: MAX_PEERS_PER_LIST }, (_, i) => peer(i)),
      },
    },
    { name: 'segment', msg: { type: 'segment', segment: segment() } },
    {
      name: 'segment, extreme bounds',
      msg: {
        type: 'segment',
        segment: segment({
          seq: 2 ** 32 - 1,
          durationMs: 60_000,
          size: MAX_SEGMENT_BYTES,
          pieceHashes: new Array(MAX_PIECES_PER_SEGMENT).fill(HASH),
          publishedAtMs: MAX_COUNTER_VALUE,
          discontinuity: true,
        }),
      },
    },
    { name: 'segment, smallest', msg: { type: 'segment', segment: segment({ seq: 0, durationMs: 1, size: 1, pieceHashes: [HASH], publishedAtMs: 0 }) } },
    { name: 'peers', msg: { type: 'peers', peers: [peer(3)] } },
    { name: 'peers, empty', msg: { type: 'peers', peers: [] } },
    { name: 'error', msg: { type: 'error', code: 'SWARM_FULL', message: 'too many peers' } },
    { name: 'error, any message text up to 1024 chars', msg: { type: 'error', code: 'X', message: 'é\n"\\'.repeat(256) } },
  ];
  for (const row of rows) {
    test(row.name, () => {
      const decoded = decodeTrackerToPeer(encodeTrackerMessage(row.msg));
      assert.ok(decoded.ok, decoded.ok ? '' : `${decoded.error.code}: ${decoded.error.message}`);
      assert.deepEqual(decoded.value, row.msg);
    });
  }

  test('unknown fields are ignored and not carried into the decoded value', () => {
    const decoded = decodeTrackerToPeer(JSON.stringify({ type: 'peers', peers: [{ ...peer(1), extra: 1 }], extra: { a: 1 } }));
    assert.ok(decoded.ok);
    assert.deepEqual(decoded.value, { type: 'peers', peers: [peer(1)] });
    const j = decodePeerToTracker(JSON.stringify({ type: 'leave', reason: 'bye' }));
    assert.ok(j.ok);
    assert.deepEqual(j.value, { type: 'leave' });
  });

  test('a "__proto__" key is plain data: it neither supplies fields nor pollutes', () => {
    const rows: { text: string; code: ProtocolErrorCode }[] = [
      { text: '{"__proto__":{"type":"leave"}}', code: 'ERR_MALFORMED' },
      { text: '{"type":"get-peers","__proto__":{"max":5}}', code: 'ERR_BAD_FIELD' },
    ];
    for (const { text, code } of rows) {
      const d = decodePeerToTracker(text);
      assert.equal(d.ok ? 'ok' : d.error.code, code, text);
    }
    assert.equal(({} as Record<string, unknown>).max, undefined);
  });
});

describe('tracker protocol: bad messages give typed errors', () => {
  const tooLong = 'x'.repeat(MAX_TRACKER_MESSAGE_BYTES + 1);
  const paddedJoin = (total: number) => {
    const j = join();
    return j + ' '.repeat(total - j.length);
  };
  const url = (n: number) => `ws://${'h'.repeat(n - 'ws://'.length)}`;

  const peerRows: { name: string; text: string; code: ProtocolErrorCode | 'ok' }[] = [
    // Not a message
    { name: 'empty text', text: '', code: 'ERR_MALFORMED' },
    { name: 'not JSON', text: 'hello', code: 'ERR_MALFORMED' },
    { name: 'truncated JSON', text: join().slice(0, -1), code: 'ERR_MALFORMED' },
    { name: 'NaN literal', text: '{"type":"get-peers","max":NaN}', code: 'ERR_MALFORMED' },
    { name: 'JSON null', text: 'null', code: 'ERR_MALFORMED' },
    { name: 'JSON array', text: '[{"type":"leave"}]', code: 'ERR_MALFORMED' },
    { name: 'JSON string', text: '"leave"', code: 'ERR_MALFORMED' },
    { name: 'JSON number', text: '42', code: 'ERR_MALFORMED' },
    { name: 'object without type', text: '{}', code: 'ERR_MALFORMED' },
    { name: 'numeric type', text: '{"type":1}', code: 'ERR_MALFORMED' },
    { name: 'null type', text: '{"type":null}', code: 'ERR_MALFORMED' },
    { name: 'unknown type', text: '{"type":"dance"}', code: 'ERR_UNKNOWN_TYPE' },
    { name: 'type is case-sensitive', text: '{"type":"LEAVE"}', code: 'ERR_UNKNOWN_TYPE' },
    { name: 'a tracker->peer type', text: welcome(), code: 'ERR_UNKNOWN_TYPE' },
    { name: 'oversized text', text: tooLong, code: 'ERR_TOO_LARGE' },
    { name: 'valid join padded to exactly the limit', text: paddedJoin(MAX_TRACKER_MESSAGE_BYTES), code: 'ok' },
    { name: 'valid join padded one over the limit', text: paddedJoin(MAX_TRACKER_MESSAGE_BYTES + 1), code: 'ERR_TOO_LARGE' },

    // join
    { name: 'join version 2', text: join({ version: 2 }), code: 'ERR_VERSION' },
    { name: 'join version 0', text: join({ version: 0 }), code: 'ERR_VERSION' },
    { name: 'join version checked before other fields', text: join({ version: 2, peerId: '!' }), code: 'ERR_VERSION' },
    { name: 'join version as a string', text: join({ version: '1' }), code: 'ERR_BAD_FIELD' },
    { name: 'join version 1.5', text: join({ version: 1.5 }), code: 'ERR_BAD_FIELD' },
    { name: 'join version missing', text: join({ version: undefined }), code: 'ERR_BAD_FIELD' },
    { name: 'join peerId empty', text: join({ peerId: '' }), code: 'ERR_BAD_FIELD' },
    { name: 'join peerId 65 chars', text: join({ peerId: 'a'.repeat(65) }), code: 'ERR_BAD_FIELD' },
    { name: 'join peerId 64 chars', text: join({ peerId: 'a'.repeat(64) }), code: 'ok' },
    { name: 'join peerId with a space', text: join({ peerId: 'a b' }), code: 'ERR_BAD_FIELD' },
    { name: 'join peerId with a newline at the end', text: join({ peerId: 'ab\n' }), code: 'ERR_BAD_FIELD' },
    { name: 'join peerId non-ASCII', text: join({ peerId: 'pé' }), code: 'ERR_BAD_FIELD' },
    { name: 'join peerId a number', text: join({ peerId: 12 }), code: 'ERR_BAD_FIELD' },
    { name: 'join streamId missing', text: join({ streamId: undefined }), code: 'ERR_BAD_FIELD' },
    { name: 'join url http://', text: join({ url: 'http://127.0.0.1:4001/peer' }), code: 'ERR_BAD_FIELD' },
    { name: 'join url without a host', text: join({ url: 'ws://' }), code: 'ERR_BAD_FIELD' },
    { name: 'join url with a space', text: join({ url: 'ws://a b/peer' }), code: 'ERR_BAD_FIELD' },
    { name: 'join url upper-case scheme', text: join({ url: 'WS://host/peer' }), code: 'ERR_BAD_FIELD' },
    { name: 'join url MAX_URL_LENGTH chars', text: join({ url: url(MAX_URL_LENGTH) }), code: 'ok' },
    { name: 'join url MAX_URL_LENGTH + 1 chars', text: join({ url: url(MAX_URL_LENGTH + 1) }), code: 'ERR_BAD_FIELD' },
    { name: 'join url missing (null is the way to say none)', text: join({ url: undefined }), code: 'ERR_BAD_FIELD' },
    { name: 'join url an object', text: join({ url: { href: 'ws://a' } }), code: 'ERR_BAD_FIELD' },
    { name: 'join uploadKbps negative', text: join({ uploadKbps: -1 }), code: 'ERR_BAD_FIELD' },
    { name: 'join uploadKbps float', text: join({ uploadKbps: 1.5 }), code: 'ERR_BAD_FIELD' },
    { name: 'join uploadKbps over 100 000 000', text: join({ uploadKbps: 100_000_001 }), code: 'ERR_BAD_FIELD' },
    { name: 'join uploadKbps 1e400 (Infinity)', text: join().replace('"uploadKbps":5000', '"uploadKbps":1e400'), code: 'ERR_BAD_FIELD' },
    { name: 'join uploadKbps as a string', text: join({ uploadKbps: '5000' }), code: 'ERR_BAD_FIELD' },
    { name: 'join uploadKbps true', text: join({ uploadKbps: true }), code: 'ERR_BAD_FIELD' },

    // announce
    { name: 'announce counter negative', text: announce({ stalls: -1 }), code: 'ERR_BAD_FIELD' },
    { name: 'announce counter float', text: announce({ stallMs: 0.5 }), code: 'ERR_BAD_FIELD' },
    { name: 'announce counter 2^53 (past MAX_SAFE_INTEGER)', text: announce({ p2pBytes: 2 ** 53 }), code: 'ERR_BAD_FIELD' },
    { name: 'announce counter 1e308', text: announce({ originBytes: 1e308 }), code: 'ERR_BAD_FIELD' },
    { name: 'announce counter as a numeric string', text: announce({ uploadedBytes: '10' }), code: 'ERR_BAD_FIELD' },
    { name: 'announce counter null', text: announce({ neighbours: null }), code: 'ERR_BAD_FIELD' },
    { name: 'announce counter missing', text: announce({ hashFailures: undefined }), code: 'ERR_BAD_FIELD' },
    { name: 'announce stats missing', text: '{"type":"announce"}', code: 'ERR_BAD_FIELD' },
    { name: 'announce stats an array', text: '{"type":"announce","stats":[1,2,3,4,5,6,7]}', code: 'ERR_BAD_FIELD' },
    { name: 'announce stats null', text: '{"type":"announce","stats":null}', code: 'ERR_BAD_FIELD' },

    // get-peers
    { name: 'get-peers max 0', text: '{"type":"get-peers","max":0}', code: 'ERR_BAD_FIELD' },
    { name: 'get-peers max 101', text: '{"type":"get-peers","max":101}', code: 'ERR_BAD_FIELD' },
    { name: 'get-peers max float', text: '{"type":"get-peers","max":2.5}', code: 'ERR_BAD_FIELD' },
    { name: 'get-peers max missing', text: '{"type":"get-peers"}', code: 'ERR_BAD_FIELD' },
  ];

  for (const row of peerRows) {
    test(`peer -> tracker: ${row.name} -> ${row.code}`, () => {
      const d = decodePeerToTracker(row.text);
      if (row.code === 'ok') {
        assert.ok(d.ok, d.ok ? '' : `${d.error.code}: ${d.error.message}`);
        return;
      }
      assert.equal(d.ok, false, 'accepted');
      if (d.ok) return;
      assert.equal(d.error.name, 'ProtocolError');
      assert.equal(d.error.code, row.code, d.error.message);
    });
  }

  const hashes = (n: number) => new Array(n).fill(HASH);
  const trackerRows: { name: string; text: string; code: ProtocolErrorCode | 'ok' }[] = [
    { name: 'not JSON', text: '{"type":', code: 'ERR_MALFORMED' },
    { name: 'array', text: '[]', code: 'ERR_MALFORMED' },
    { name: 'oversized text', text: tooLong, code: 'ERR_TOO_LARGE' },
    { name: 'a peer->tracker type', text: join(), code: 'ERR_UNKNOWN_TYPE' },
    { name: 'unknown type', text: '{"type":"welcome2"}', code: 'ERR_UNKNOWN_TYPE' },

    // welcome
    { name: 'welcome version 2', text: welcome({ version: 2 }), code: 'ERR_VERSION' },
    { name: 'welcome version string', text: welcome({ version: '1' }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome peerId bad chars', text: welcome({ peerId: 'a/b' }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome pieceSize below MIN_PIECE_SIZE', text: welcome({ pieceSize: 1023 }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome pieceSize above MAX_PIECE_SIZE', text: welcome({ pieceSize: MAX_PIECE_SIZE + 1 }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome announceIntervalMs 99', text: welcome({ announceIntervalMs: 99 }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome announceIntervalMs 600001', text: welcome({ announceIntervalMs: 600_001 }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome originTimeMs missing', text: welcome({ originTimeMs: undefined }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome originTimeMs negative', text: welcome({ originTimeMs: -1 }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome originTimeMs float', text: welcome({ originTimeMs: 1.5 }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome originTimeMs past MAX_SAFE_INTEGER', text: welcome({ originTimeMs: 2 ** 53 }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome originTimeMs an ISO date', text: welcome({ originTimeMs: '2024-01-01T00:00:00Z' }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome segments not an array', text: welcome({ segments: {} }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome too many segments', text: welcome({ segments: new Array(MAX_WINDOW_SEGMENTS + 1).fill(segment()) }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome one bad segment among good ones', text: welcome({ segments: [segment(), segment({ size: 0 }), segment()] }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome too many peers', text: welcome({ peers: Array.from({ length: MAX_PEERS_PER_LIST + 1 }, (_, i) => peer(i)) }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome peer url http', text: welcome({ peers: [{ peerId: 'a', url: 'http://x' }] }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome peer url null (peers listed must be dialable)', text: welcome({ peers: [{ peerId: 'a', url: null }] }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome peer not an object', text: welcome({ peers: ['ws://a'] }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome peers missing', text: welcome({ peers: undefined }), code: 'ERR_BAD_FIELD' },

    // segment announcements
    { name: 'segment missing', text: '{"type":"segment"}', code: 'ERR_BAD_FIELD' },
    { name: 'segment seq 2^32', text: segmentMsg({ seq: 2 ** 32 }), code: 'ERR_BAD_FIELD' },
    { name: 'segment seq -1', text: segmentMsg({ seq: -1 }), code: 'ERR_BAD_FIELD' },
    { name: 'segment durationMs 0', text: segmentMsg({ durationMs: 0 }), code: 'ERR_BAD_FIELD' },
    { name: 'segment durationMs 60001', text: segmentMsg({ durationMs: 60_001 }), code: 'ERR_BAD_FIELD' },
    { name: 'segment size 0', text: segmentMsg({ size: 0 }), code: 'ERR_BAD_FIELD' },
    { name: 'segment size over MAX_SEGMENT_BYTES', text: segmentMsg({ size: MAX_SEGMENT_BYTES + 1 }), code: 'ERR_BAD_FIELD' },
    { name: 'segment sha256 upper-case hex', text: segmentMsg({ sha256: HEX.toUpperCase() }), code: 'ERR_BAD_FIELD' },
    { name: 'segment sha256 63 chars', text: segmentMsg({ sha256: HEX.slice(1) }), code: 'ERR_BAD_FIELD' },
    { name: 'segment sha256 base64url', text: segmentMsg({ sha256: HASH }), code: 'ERR_BAD_FIELD' },
    { name: 'segment no piece hashes', text: segmentMsg({ pieceHashes: [] }), code: 'ERR_BAD_FIELD' },
    { name: 'segment MAX_PIECES_PER_SEGMENT + 1 hashes', text: segmentMsg({ pieceHashes: hashes(MAX_PIECES_PER_SEGMENT + 1) }), code: 'ERR_BAD_FIELD' },
    { name: 'segment hash with base64 padding', text: segmentMsg({ pieceHashes: [`${HASH}=`] }), code: 'ERR_BAD_FIELD' },
    { name: 'segment hash in standard base64 alphabet', text: segmentMsg({ pieceHashes: [`+${HASH.slice(1)}`] }), code: 'ERR_BAD_FIELD' },
    { name: 'segment hash 42 chars', text: segmentMsg({ pieceHashes: [HASH.slice(1)] }), code: 'ERR_BAD_FIELD' },
    { name: 'segment hash hex', text: segmentMsg({ pieceHashes: [HEX] }), code: 'ERR_BAD_FIELD' },
    { name: 'segment hash a number', text: segmentMsg({ pieceHashes: [1] }), code: 'ERR_BAD_FIELD' },
    { name: 'segment hashes a string', text: segmentMsg({ pieceHashes: HASH }), code: 'ERR_BAD_FIELD' },
    { name: 'segment publishedAtMs negative', text: segmentMsg({ publishedAtMs: -1 }), code: 'ERR_BAD_FIELD' },
    { name: 'segment discontinuity as a string', text: segmentMsg({ discontinuity: 'true' }), code: 'ERR_BAD_FIELD' },
    { name: 'segment discontinuity 0', text: segmentMsg({ discontinuity: 0 }), code: 'ERR_BAD_FIELD' },

    // peers
    { name: 'peers too many', text: JSON.stringify({ type: 'peers', peers: Array.from({ length: 101 }, (_, i) => peer(i)) }), code: 'ERR_BAD_FIELD' },
    { name: 'peers exactly MAX_PEERS_PER_LIST', text: JSON.stringify({ type: 'peers', peers: Array.from({ length: 100 }, (_, i) => peer(i)) }), code: 'ok' },
    { name: 'peers entry null', text: '{"type":"peers","peers":[null]}', code: 'ERR_BAD_FIELD' },
    { name: 'peers entry without peerId', text: '{"type":"peers","peers":[{"url":"ws://a"}]}', code: 'ERR_BAD_FIELD' },

    // error
    { name: 'error code lower-case', text: '{"type":"error","code":"bad","message":"m"}', code: 'ERR_BAD_FIELD' },
    { name: 'error code empty', text: '{"type":"error","code":"","message":"m"}', code: 'ERR_BAD_FIELD' },
    { name: 'error message 1025 chars', text: JSON.stringify({ type: 'error', code: 'X', message: 'm'.repeat(1025) }), code: 'ERR_BAD_FIELD' },
    { name: 'error message 1024 chars', text: JSON.stringify({ type: 'error', code: 'X', message: 'm'.repeat(1024) }), code: 'ok' },
    { name: 'error message missing', text: '{"type":"error","code":"X"}', code: 'ERR_BAD_FIELD' },
  ];

  for (const row of trackerRows) {
    test(`tracker -> peer: ${row.name} -> ${row.code}`, () => {
      const d = decodeTrackerToPeer(row.text);
      if (row.code === 'ok') {
        assert.ok(d.ok, d.ok ? '' : `${d.error.code}: ${d.error.message}`);
        return;
      }
      assert.equal(d.ok, false, 'accepted');
      if (d.ok) return;
      assert.equal(d.error.name, 'ProtocolError');
      assert.equal(d.error.code, row.code, d.error.message);
    });
  }
});

describe('seed piece frames', () => {
  const data = (n: number) => new Uint8Array(n).map((_, i) => (i * 31 + 7) & 0xff);

  test('layout: u8 kind 1 | u32 seq | u16 piece | bytes', () => {
    assert.deepEqual(encodeSeedPiece({ seq: 0x01020304, piece: 0x0506, data: new Uint8Array([9, 8]) }), new Uint8Array([1, 1, 2, 3, 4, 5, 6, 9, 8]));
  });

  const okRows: { name: string; seq: number; piece: number; size: number }[] = [
    { name: 'smallest', seq: 0, piece: 0, size: 1 },
    { name: 'typical', seq: 1234, piece: 3, size: 16384 },
    { name: 'largest seq, last piece index', seq: 0xffff_ffff, piece: MAX_PIECES_PER_SEGMENT - 1, size: 100 },
    { name: 'MAX_PIECE_SIZE bytes', seq: 5, piece: 1, size: MAX_PIECE_SIZE },
  ];
  for (const row of okRows) {
    test(`round trip: ${row.name}`, () => {
      const p = { seq: row.seq, piece: row.piece, data: data(row.size) };
      const enc = encodeSeedPiece(p);
      assert.equal(enc.byteLength, 7 + row.size);
      const d = decodeSeedPiece(enc);
      assert.ok(d.ok, d.ok ? '' : d.error.message);
      assert.deepEqual(d.value, p);
      assert.deepEqual(encodeSeedPiece(d.value), enc);
    });
  }

  test('decodes a view at an offset inside a larger buffer', () => {
    const enc = encodeSeedPiece({ seq: 9, piece: 2, data: data(10) });
    const big = new Uint8Array(enc.byteLength + 11);
    big.set(enc, 5);
    const d = decodeSeedPiece(big.subarray(5, 5 + enc.byteLength));
    assert.ok(d.ok);
    assert.deepEqual(d.value, { seq: 9, piece: 2, data: data(10) });
  });

  const valid = (size: number, piece = 0, kind = 1) => {
    const f = encodeSeedPiece({ seq: 1, piece, data: data(size) });
    f[0] = kind;
    return f;
  };
  const badRows: { name: string; frame: Uint8Array; code: ProtocolErrorCode }[] = [
    { name: 'empty', frame: new Uint8Array(0), code: 'ERR_MALFORMED' },
    { name: 'kind byte only', frame: new Uint8Array([1]), code: 'ERR_MALFORMED' },
    { name: 'header without data (empty piece)', frame: valid(0), code: 'ERR_MALFORMED' },
    { name: 'header cut short', frame: valid(0).subarray(0, 6), code: 'ERR_MALFORMED' },
    { name: 'kind 0', frame: valid(10, 0, 0), code: 'ERR_UNKNOWN_TYPE' },
    { name: 'kind 2', frame: valid(10, 0, 2), code: 'ERR_UNKNOWN_TYPE' },
    { name: 'kind "{" (JSON sent as binary)', frame: new TextEncoder().encode('{"type":"leave"}'), code: 'ERR_UNKNOWN_TYPE' },
    { name: 'piece index 1024', frame: valid(10, MAX_PIECES_PER_SEGMENT), code: 'ERR_BAD_FIELD' },
    { name: 'piece index 0xFFFF', frame: valid(10, 0xffff), code: 'ERR_BAD_FIELD' },
    { name: 'one byte over MAX_PIECE_SIZE', frame: valid(MAX_PIECE_SIZE + 1), code: 'ERR_TOO_LARGE' },
    { name: 'oversized with a bad kind: size is checked first', frame: valid(MAX_PIECE_SIZE + 1, 0, 9), code: 'ERR_TOO_LARGE' },
  ];
  for (const row of badRows) {
    test(`bad seed frame: ${row.name} -> ${row.code}`, () => {
      const d = decodeSeedPiece(row.frame);
      assert.equal(d.ok, false, 'accepted');
      if (d.ok) return;
      assert.equal(d.error.code, row.code, d.error.message);
    });
  }
});
