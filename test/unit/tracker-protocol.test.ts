import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ProtocolErrorCode } from '../../shared/errors.ts';
import { FETCH_TOKEN_BYTES } from '../../shared/fetch-token.ts';
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
import type { PartialAnnouncement, SegmentAnnouncement } from '../../shared/segment.ts';
import { generateSigner } from '../../shared/announcement-signature.ts';
import {
  type PeerStats,
  type PeerToTracker,
  type TrackerToPeer,
  decodePeerToTracker,
  decodeTrackerToPeer,
  encodePeerToTracker,
  encodeTrackerToPeer,
  signedRecord,
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

const signer = generateSigner();
const signed = (s: SegmentAnnouncement) => signer.sign(s);
function partial(more: Partial<PartialAnnouncement> = {}): PartialAnnouncement {
  return { seq: 12, first: 0, pieceHashes: [HASH], openedAtMs: 1_700_000_000_000, discontinuity: false, ...more };
}
const signedPart = (p: PartialAnnouncement) => signer.signPartial(p);
const KEY = signer.publicKeyBase64;

const stats: PeerStats = { p2pBytes: 1, originBytes: 2, uploadedBytes: 3, stalls: 4, stallMs: 5, neighbours: 6, hashFailures: 7 };
const peer = (i: number) => ({ peerId: `peer-${i}`, url: `ws://10.0.0.${i % 250}:${4000 + i}/peer` });

/** Binary frames are what a segment announcement and a seeded piece are sent as. */
function binary(msg: TrackerToPeer): Uint8Array {
  const f = encodeTrackerToPeer(msg);
  assert.ok(f instanceof Uint8Array, `${msg.type} is sent as a binary frame`);
  return f;
}
/** A signed segment record as a welcome carries it: the segment frame without its kind byte, in base64url. */
const record = (s: SegmentAnnouncement) => Buffer.from(binary({ type: 'segment', announcement: signed(s) }).subarray(1)).toString('base64url');

const join = (more: Record<string, unknown> = {}) =>
  JSON.stringify({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'p1', url: 'ws://127.0.0.1:4001/peer', uploadKbps: 5000, ...more });
const announce = (more: Record<string, unknown> = {}) => JSON.stringify({ type: 'announce', stats: { ...stats, ...more } });
/** 16 bytes in unpadded base64url, as the tracker makes them. */
const TOKEN = Buffer.from(Array.from({ length: FETCH_TOKEN_BYTES }, (_, i) => i)).toString('base64url');
const welcome = (more: Record<string, unknown> = {}) =>
  JSON.stringify({
    type: 'welcome',
    version: PROTOCOL_VERSION,
    streamId: 'live',
    peerId: 'p1',
    pieceSize: 16384,
    announceIntervalMs: 2000,
    originTimeMs: 1_700_000_000_500,
    segments: [record(segment())],
    peers: [peer(1)],
    fetchToken: TOKEN,
    originKey: KEY,
    ...more,
  });

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
    { name: 'relay-only on', msg: { type: 'relay-only', on: true } },
    { name: 'relay-only off', msg: { type: 'relay-only', on: false } },
    { name: 'leave', msg: { type: 'leave' } },
  ];
  for (const row of rows) {
    test(row.name, () => {
      const decoded = decodePeerToTracker(encodePeerToTracker(row.msg));
      assert.ok(decoded.ok, decoded.ok ? '' : `${decoded.error.code}: ${decoded.error.message}`);
      assert.deepEqual(decoded.value, row.msg);
    });
  }
});

describe('tracker protocol: round trip, tracker -> peer', () => {
  const rows: { name: string; msg: TrackerToPeer }[] = [
    {
      name: 'welcome',
      msg: { type: 'welcome', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'p1', pieceSize: 16384, announceIntervalMs: 2000, originTimeMs: 1_700_000_000_500, segments: [signed(segment())], peers: [peer(1), peer(2)], fetchToken: TOKEN, originKey: KEY },
    },
    {
      name: 'welcome, empty window and no peers, smallest piece size',
      msg: { type: 'welcome', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'p1', pieceSize: 1024, announceIntervalMs: 100, originTimeMs: 0, segments: [], peers: [], fetchToken: '-'.repeat(22), originKey: KEY },
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
        segments: Array.from({ length: MAX_WINDOW_SEGMENTS }, (_, i) => signed(segment({ seq: i, discontinuity: i % 100 === 0 }))),
        peers: Array.from({ length: MAX_PEERS_PER_LIST }, (_, i) => peer(i)),
        fetchToken: TOKEN,
        originKey: KEY,
      },
    },
    { name: 'segment', msg: { type: 'segment', announcement: signed(segment()) } },
    {
      name: 'segment, extreme bounds',
      msg: {
        type: 'segment',
        announcement: signed(
          segment({
            seq: 2 ** 32 - 1,
            durationMs: 60_000,
            size: MAX_SEGMENT_BYTES,
            pieceHashes: new Array(MAX_PIECES_PER_SEGMENT).fill(HASH),
            publishedAtMs: 2 ** 48 - 1,
            discontinuity: true,
          }),
        ),
      },
    },
    { name: 'segment, smallest', msg: { type: 'segment', announcement: signed(segment({ seq: 0, durationMs: 1, size: 1, pieceHashes: [HASH], publishedAtMs: 0 })) } },
    { name: 'segment-part', msg: { type: 'segment-part', announcement: signedPart(partial({ first: 3, pieceHashes: [HASH, HASH] })) } },
    {
      name: 'segment-part, extreme bounds: the last piece index',
      msg: { type: 'segment-part', announcement: signedPart(partial({ seq: 2 ** 32 - 1, first: MAX_PIECES_PER_SEGMENT - 1, openedAtMs: 2 ** 48 - 1, discontinuity: true })) },
    },
    { name: 'segment-part, every hash a segment can have', msg: { type: 'segment-part', announcement: signedPart(partial({ seq: 0, openedAtMs: 0, pieceHashes: new Array(MAX_PIECES_PER_SEGMENT).fill(HASH) })) } },
    { name: 'seed, smallest', msg: { type: 'seed', seq: 0, piece: 0, data: new Uint8Array([7]) } },
    { name: 'seed, largest', msg: { type: 'seed', seq: 2 ** 32 - 1, piece: MAX_PIECES_PER_SEGMENT - 1, data: new Uint8Array(MAX_PIECE_SIZE).fill(3) } },
    { name: 'peers', msg: { type: 'peers', peers: [peer(3)] } },
    { name: 'peers, empty', msg: { type: 'peers', peers: [] } },
    { name: 'error', msg: { type: 'error', code: 'SWARM_FULL', message: 'too many peers' } },
    { name: 'error, any message text up to 1024 chars', msg: { type: 'error', code: 'X', message: 'é\n"\\'.repeat(256) } },
  ];
  for (const row of rows) {
    test(row.name, () => {
      const frame = encodeTrackerToPeer(row.msg);
      assert.equal(typeof frame === 'string', ['welcome', 'peers', 'error'].includes(row.msg.type), 'JSON for the rare messages, binary for the per-segment ones');
      const decoded = decodeTrackerToPeer(frame);
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
    { name: 'join of the next version', text: join({ version: PROTOCOL_VERSION + 1 }), code: 'ERR_VERSION' },
    { name: 'join version 1 (JSON segment announcements)', text: join({ version: 1 }), code: 'ERR_VERSION' },
    { name: 'join version 0', text: join({ version: 0 }), code: 'ERR_VERSION' },
    { name: 'join version checked before other fields', text: join({ version: PROTOCOL_VERSION + 1, peerId: '!' }), code: 'ERR_VERSION' },
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
    // relay-only
    { name: 'relay-only on missing', text: '{"type":"relay-only"}', code: 'ERR_BAD_FIELD' },
    { name: 'relay-only on a string', text: '{"type":"relay-only","on":"true"}', code: 'ERR_BAD_FIELD' },
    { name: 'relay-only on a number', text: '{"type":"relay-only","on":1}', code: 'ERR_BAD_FIELD' },
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

  const trackerRows: { name: string; text: string; code: ProtocolErrorCode | 'ok' }[] = [
    { name: 'not JSON', text: '{"type":', code: 'ERR_MALFORMED' },
    { name: 'array', text: '[]', code: 'ERR_MALFORMED' },
    { name: 'oversized text', text: tooLong, code: 'ERR_TOO_LARGE' },
    { name: 'a peer->tracker type', text: join(), code: 'ERR_UNKNOWN_TYPE' },
    { name: 'unknown type', text: '{"type":"welcome2"}', code: 'ERR_UNKNOWN_TYPE' },

    // welcome
    { name: 'welcome of the next version', text: welcome({ version: PROTOCOL_VERSION + 1 }), code: 'ERR_VERSION' },
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
    { name: 'welcome too many segments', text: welcome({ segments: new Array(MAX_WINDOW_SEGMENTS + 1).fill(record(segment())) }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome one bad segment among good ones', text: welcome({ segments: [record(segment()), record(segment({ size: 0 })), record(segment())] }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome segment as a JSON object (the old form)', text: welcome({ segments: [segment()] }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome segment record truncated', text: welcome({ segments: [record(segment()).slice(0, -4)] }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome segment record with a byte after it', text: welcome({ segments: [`${record(segment())}AA`] }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome segment record with base64 padding', text: welcome({ segments: [`${record(segment())}=`] }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome segment record in the standard base64 alphabet', text: welcome({ segments: [`+${record(segment()).slice(1)}`] }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome segment record with a dangling last character', text: welcome({ segments: [`${record(segment())}A`] }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome segment record empty', text: welcome({ segments: [''] }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome segment record a number', text: welcome({ segments: [1] }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome too many peers', text: welcome({ peers: Array.from({ length: MAX_PEERS_PER_LIST + 1 }, (_, i) => peer(i)) }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome peer url http', text: welcome({ peers: [{ peerId: 'a', url: 'http://x' }] }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome peer url null (peers listed must be dialable)', text: welcome({ peers: [{ peerId: 'a', url: null }] }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome peer not an object', text: welcome({ peers: ['ws://a'] }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome peers missing', text: welcome({ peers: undefined }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome fetchToken missing', text: welcome({ fetchToken: undefined }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome fetchToken null', text: welcome({ fetchToken: null }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome fetchToken one character short (fewer than 128 bits)', text: welcome({ fetchToken: TOKEN.slice(1) }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome fetchToken one character long', text: welcome({ fetchToken: `${TOKEN}A` }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome fetchToken with base64 padding', text: welcome({ fetchToken: `${TOKEN.slice(2)}==` }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome originKey missing', text: welcome({ originKey: undefined }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome originKey 31 bytes', text: welcome({ originKey: Buffer.alloc(31, 7).toString('base64') }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome originKey 33 bytes', text: welcome({ originKey: Buffer.alloc(33, 7).toString('base64') }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome originKey in base64url', text: welcome({ originKey: Buffer.alloc(32, 0xfb).toString('base64url') }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome originKey of 32 zero bytes', text: welcome({ originKey: `${'A'.repeat(43)}=` }), code: 'ok' },
    { name: 'welcome originKey with stray trailing bits (a second spelling of the same bytes)', text: welcome({ originKey: `${'A'.repeat(42)}B=` }), code: 'ERR_BAD_FIELD' },
    { name: 'welcome fetchToken that could not go in a header', text: welcome({ fetchToken: `${TOKEN.slice(1)}\n` }), code: 'ERR_BAD_FIELD' },

    // a segment announcement is a binary frame now; as JSON it is no message at all
    { name: 'segment as JSON', text: JSON.stringify({ type: 'segment', segment: segment() }), code: 'ERR_UNKNOWN_TYPE' },
    { name: 'seed as JSON', text: '{"type":"seed","seq":1,"piece":0,"data":"AA"}', code: 'ERR_UNKNOWN_TYPE' },

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

describe('binary frames: seeded pieces', () => {
  const data = (n: number) => new Uint8Array(n).map((_, i) => (i * 31 + 7) & 0xff);
  const seed = (seq: number, piece: number, size: number): TrackerToPeer => ({ type: 'seed', seq, piece, data: data(size) });

  test('layout: u8 kind 1 | u32 seq | u16 piece | bytes', () => {
    assert.deepEqual(binary({ type: 'seed', seq: 0x01020304, piece: 0x0506, data: new Uint8Array([9, 8]) }), new Uint8Array([1, 1, 2, 3, 4, 5, 6, 9, 8]));
  });

  const okRows: { name: string; seq: number; piece: number; size: number }[] = [
    { name: 'smallest', seq: 0, piece: 0, size: 1 },
    { name: 'typical', seq: 1234, piece: 3, size: 16384 },
    { name: 'largest seq, last piece index', seq: 0xffff_ffff, piece: MAX_PIECES_PER_SEGMENT - 1, size: 100 },
    { name: 'MAX_PIECE_SIZE bytes', seq: 5, piece: 1, size: MAX_PIECE_SIZE },
  ];
  for (const row of okRows) {
    test(`round trip: ${row.name}`, () => {
      const p = seed(row.seq, row.piece, row.size);
      const enc = binary(p);
      assert.equal(enc.byteLength, 7 + row.size);
      const d = decodeTrackerToPeer(enc);
      assert.ok(d.ok, d.ok ? '' : d.error.message);
      assert.deepEqual(d.value, p);
      assert.deepEqual(binary(d.value), enc);
    });
  }

  test('decodes a view at an offset inside a larger buffer', () => {
    const enc = binary(seed(9, 2, 10));
    const big = new Uint8Array(enc.byteLength + 11);
    big.set(enc, 5);
    const d = decodeTrackerToPeer(big.subarray(5, 5 + enc.byteLength));
    assert.ok(d.ok);
    assert.deepEqual(d.value, seed(9, 2, 10));
  });

  const valid = (size: number, piece = 0, kind = 1) => {
    const f = binary(seed(1, piece, size));
    f[0] = kind;
    return f;
  };
  const badRows: { name: string; frame: Uint8Array; code: ProtocolErrorCode }[] = [
    { name: 'empty', frame: new Uint8Array(0), code: 'ERR_MALFORMED' },
    { name: 'kind byte only', frame: new Uint8Array([1]), code: 'ERR_MALFORMED' },
    { name: 'header without data (empty piece)', frame: valid(0), code: 'ERR_MALFORMED' },
    { name: 'header cut short', frame: valid(0).subarray(0, 6), code: 'ERR_MALFORMED' },
    { name: 'kind 0', frame: valid(10, 0, 0), code: 'ERR_UNKNOWN_TYPE' },
    { name: 'kind 4', frame: valid(10, 0, 4), code: 'ERR_UNKNOWN_TYPE' },
    { name: 'kind "{" (JSON sent as binary)', frame: new TextEncoder().encode('{"type":"leave"}'), code: 'ERR_UNKNOWN_TYPE' },
    { name: 'piece index 1024', frame: valid(10, MAX_PIECES_PER_SEGMENT), code: 'ERR_BAD_FIELD' },
    { name: 'piece index 0xFFFF', frame: valid(10, 0xffff), code: 'ERR_BAD_FIELD' },
    { name: 'one byte over MAX_PIECE_SIZE', frame: valid(MAX_PIECE_SIZE + 1), code: 'ERR_TOO_LARGE' },
    { name: 'oversized with a bad kind: size is checked first', frame: valid(MAX_PIECE_SIZE + 1, 0, 9), code: 'ERR_TOO_LARGE' },
  ];
  for (const row of badRows) {
    test(`bad seed frame: ${row.name} -> ${row.code}`, () => {
      const d = decodeTrackerToPeer(row.frame);
      assert.equal(d.ok, false, 'accepted');
      if (d.ok) return;
      assert.equal(d.error.code, row.code, d.error.message);
    });
  }
});

describe('binary frames: segment announcements', () => {
  const frame = (more: Partial<SegmentAnnouncement> = {}) => binary({ type: 'segment', announcement: signed(segment(more)) });

  test('layout: u8 kind 2 | u32 seq | u16 durationMs | u32 size | u48 publishedAtMs | u8 flags | sha256 | u16 count | hashes | signature', () => {
    const s = segment({ seq: 0x01020304, durationMs: 0x0506, size: 0x0708090a, publishedAtMs: 0x0b0c_0d0e0f10, discontinuity: true, pieceHashes: [HASH] });
    const a = signed(s);
    const f = binary({ type: 'segment', announcement: a });
    assert.deepEqual(f.subarray(0, 18), new Uint8Array([2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 1]));
    assert.equal(Buffer.from(f.subarray(18, 50)).toString('hex'), HEX);
    assert.deepEqual(f.subarray(50, 52), new Uint8Array([0, 1]));
    assert.equal(Buffer.from(f.subarray(52, 84)).toString('base64url'), HASH);
    assert.deepEqual(f.subarray(1, 84), a.record, 'the record is the bytes the origin signed');
    assert.deepEqual(f.subarray(84), a.signature);
    assert.equal(f.byteLength, 52 + 32 + 64);
  });

  test('a 12-piece announcement: 500 bytes, signature included, where JSON with base64url hashes and no signature took 775', () => {
    // 12 pieces of 16 KiB: a 1 s segment at 1.5 Mbit/s. 416 of the 436 bytes before the signature are the hashes, whole segment's and pieces'.
    const s = segment({ seq: 1_764_572_400, size: 187_500, publishedAtMs: 1_764_572_400_123, pieceHashes: new Array(12).fill(HASH) });
    const f = binary({ type: 'segment', announcement: signed(s) });
    assert.equal(f.byteLength, 52 + 12 * 32 + 64);
    assert.ok(f.byteLength <= 504);
    // What protocol version 1, JSON with base64url hashes, spelled the same segment in.
    assert.equal(JSON.stringify({ type: 'segment', segment: s }).length, 775);
  });

  test('the welcome carries the very record a segment frame does', () => {
    const a = signed(segment({ discontinuity: true }));
    const w = encodeTrackerToPeer({ type: 'welcome', version: PROTOCOL_VERSION, streamId: 'live', peerId: 'p1', pieceSize: 16384, announceIntervalMs: 2000, originTimeMs: 5, segments: [a], peers: [], fetchToken: TOKEN, originKey: KEY });
    assert.equal(typeof w, 'string');
    const sent = binary({ type: 'segment', announcement: a }).subarray(1);
    assert.deepEqual((JSON.parse(w as string) as { segments: unknown }).segments, [Buffer.from(sent).toString('base64url')]);
    assert.deepEqual(signedRecord(a), sent);
  });

  test('every truncation of a valid frame is ERR_MALFORMED', () => {
    const f = frame();
    for (let n = 1; n < f.byteLength; n++) {
      const d = decodeTrackerToPeer(f.subarray(0, n));
      assert.equal(d.ok ? 'ok' : d.error.code, 'ERR_MALFORMED', `prefix of ${n} bytes`);
    }
  });

  const patched = (at: number, bytes: number[], base = frame()) => {
    const f = Uint8Array.from(base);
    f.set(bytes, at);
    return f;
  };
  const u16 = (v: number) => [v >> 8, v & 0xff];
  const u32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
  const concat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
  const badRows: { name: string; frame: Uint8Array; code: ProtocolErrorCode }[] = [
    { name: 'a byte after the last hash', frame: concat(frame(), new Uint8Array([0])), code: 'ERR_MALFORMED' },
    { name: 'a whole extra hash after the last one', frame: concat(frame(), new Uint8Array(32)), code: 'ERR_MALFORMED' },
    { name: 'piece count one more than the hashes there', frame: patched(50, u16(4)), code: 'ERR_MALFORMED' },
    { name: 'piece count one less than the hashes there', frame: patched(50, u16(2)), code: 'ERR_MALFORMED' },
    { name: 'piece count 0', frame: patched(50, u16(0)), code: 'ERR_BAD_FIELD' },
    { name: 'piece count 1025', frame: patched(50, u16(MAX_PIECES_PER_SEGMENT + 1)), code: 'ERR_BAD_FIELD' },
    { name: 'piece count 0xFFFF', frame: patched(50, u16(0xffff)), code: 'ERR_BAD_FIELD' },
    { name: 'durationMs 0', frame: patched(5, u16(0)), code: 'ERR_BAD_FIELD' },
    { name: 'durationMs 60001', frame: patched(5, u16(60_001)), code: 'ERR_BAD_FIELD' },
    { name: 'size 0', frame: patched(7, u32(0)), code: 'ERR_BAD_FIELD' },
    { name: 'size one over MAX_SEGMENT_BYTES', frame: patched(7, u32(MAX_SEGMENT_BYTES + 1)), code: 'ERR_BAD_FIELD' },
    { name: 'size 0xFFFFFFFF', frame: patched(7, u32(0xffff_ffff)), code: 'ERR_BAD_FIELD' },
    { name: 'an unknown flag', frame: patched(17, [0x02]), code: 'ERR_BAD_FIELD' },
    { name: 'every flag', frame: patched(17, [0xff]), code: 'ERR_BAD_FIELD' },
    { name: 'longer than the largest segment frame', frame: concat(frame({ pieceHashes: new Array(MAX_PIECES_PER_SEGMENT).fill(HASH) }), new Uint8Array(1)), code: 'ERR_TOO_LARGE' },
    { name: 'kind only', frame: new Uint8Array([2]), code: 'ERR_MALFORMED' },
  ];
  for (const row of badRows) {
    test(`bad segment frame: ${row.name} -> ${row.code}`, () => {
      const d = decodeTrackerToPeer(row.frame);
      assert.equal(d.ok, false, 'accepted');
      if (d.ok) return;
      assert.equal(d.error.name, 'ProtocolError');
      assert.equal(d.error.code, row.code, d.error.message);
    });
  }

  test('bounds that hold: the largest values of each field decode', () => {
    const f = patched(5, [...u16(60_000), ...u32(MAX_SEGMENT_BYTES), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    const d = decodeTrackerToPeer(f);
    assert.ok(d.ok, d.ok ? '' : d.error.message);
    assert.ok(d.value.type === 'segment');
    const got = d.value.announcement.segment;
    assert.deepEqual([got.durationMs, got.size, got.publishedAtMs], [60_000, MAX_SEGMENT_BYTES, 2 ** 48 - 1]);
  });

  test('the decoded announcement is a plain object of exactly its fields', () => {
    const d = decodeTrackerToPeer(frame());
    assert.ok(d.ok && d.value.type === 'segment');
    assert.equal(Object.getPrototypeOf(d.value.announcement.segment), Object.prototype);
    assert.deepEqual(Object.keys(d.value.announcement).sort(), ['record', 'segment', 'signature']);
    assert.deepEqual(Object.keys(d.value.announcement.segment).sort(), ['discontinuity', 'durationMs', 'pieceHashes', 'publishedAtMs', 'seq', 'sha256', 'size']);
  });
});

describe('binary frames: partial announcements (segment-part)', () => {
  const frame = (more: Partial<PartialAnnouncement> = {}) => binary({ type: 'segment-part', announcement: signedPart(partial(more)) });

  test('layout: u8 kind 3 | u32 seq | u48 openedAtMs | u8 flags | u16 first | u16 count | hashes | signature', () => {
    const a = signedPart(partial({ seq: 0x01020304, openedAtMs: 0x0506_0708090a, discontinuity: true, first: 0x0102, pieceHashes: [HASH] }));
    const f = binary({ type: 'segment-part', announcement: a });
    assert.deepEqual(f.subarray(0, 16), new Uint8Array([3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 1, 2, 0, 1]));
    assert.equal(Buffer.from(f.subarray(16, 48)).toString('base64url'), HASH);
    assert.deepEqual(f.subarray(1, 48), a.record, 'the record is the bytes the origin signed');
    assert.deepEqual(f.subarray(48), a.signature);
    assert.equal(f.byteLength, 16 + 32 + 64);
  });

  test('what a piece costs announced one at a time: 112 bytes per piece per peer (80 of them the frame, header and signature)', () => {
    assert.equal(frame().byteLength, 112);
    assert.equal(frame({ pieceHashes: [HASH, HASH, HASH] }).byteLength, 80 + 3 * 32);
  });

  test('every truncation of a valid frame is ERR_MALFORMED', () => {
    const f = frame({ pieceHashes: [HASH, HASH] });
    for (let n = 1; n < f.byteLength; n++) {
      const d = decodeTrackerToPeer(f.subarray(0, n));
      assert.equal(d.ok ? 'ok' : d.error.code, 'ERR_MALFORMED', `prefix of ${n} bytes`);
    }
  });

  const patched = (at: number, bytes: number[], base = frame({ first: 2, pieceHashes: [HASH, HASH, HASH] })) => {
    const f = Uint8Array.from(base);
    f.set(bytes, at);
    return f;
  };
  const u16 = (v: number) => [v >> 8, v & 0xff];
  const concat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
  // Offsets in the frame: flags at 11, first at 12, count at 14, hashes from 16.
  const badRows: { name: string; frame: Uint8Array; code: ProtocolErrorCode }[] = [
    { name: 'a byte after the signature', frame: concat(frame(), new Uint8Array([0])), code: 'ERR_MALFORMED' },
    { name: 'count one more than the hashes there', frame: patched(14, u16(4)), code: 'ERR_MALFORMED' },
    { name: 'count one less than the hashes there', frame: patched(14, u16(2)), code: 'ERR_MALFORMED' },
    { name: 'no hash at all', frame: patched(14, u16(0)), code: 'ERR_BAD_FIELD' },
    { name: 'first + count one past the largest segment', frame: patched(12, u16(MAX_PIECES_PER_SEGMENT - 2)), code: 'ERR_BAD_FIELD' },
    { name: 'first at the piece limit', frame: patched(12, u16(MAX_PIECES_PER_SEGMENT)), code: 'ERR_BAD_FIELD' },
    { name: 'first 0xFFFF', frame: patched(12, u16(0xffff)), code: 'ERR_BAD_FIELD' },
    { name: 'count 0xFFFF', frame: patched(14, u16(0xffff)), code: 'ERR_BAD_FIELD' },
    { name: 'an unknown flag', frame: patched(11, [0x02]), code: 'ERR_BAD_FIELD' },
    { name: 'longer than the largest segment-part frame', frame: concat(frame({ pieceHashes: new Array(MAX_PIECES_PER_SEGMENT).fill(HASH) }), new Uint8Array(1)), code: 'ERR_TOO_LARGE' },
    { name: 'kind only', frame: new Uint8Array([3]), code: 'ERR_MALFORMED' },
  ];
  for (const row of badRows) {
    test(`bad segment-part frame: ${row.name} -> ${row.code}`, () => {
      const d = decodeTrackerToPeer(row.frame);
      assert.equal(d.ok, false, 'accepted');
      if (d.ok) return;
      assert.equal(d.error.name, 'ProtocolError');
      assert.equal(d.error.code, row.code, d.error.message);
    });
  }

  test('the bound that holds: the last hash ends exactly at the piece limit', () => {
    const d = decodeTrackerToPeer(patched(12, u16(MAX_PIECES_PER_SEGMENT - 3)));
    assert.ok(d.ok && d.value.type === 'segment-part', d.ok ? '' : d.error.message);
    assert.equal(d.value.announcement.partial.first, MAX_PIECES_PER_SEGMENT - 3);
  });

  test('the decoded partial is a plain object of exactly its fields', () => {
    const d = decodeTrackerToPeer(frame());
    assert.ok(d.ok && d.value.type === 'segment-part');
    assert.equal(Object.getPrototypeOf(d.value.announcement.partial), Object.prototype);
    assert.deepEqual(Object.keys(d.value.announcement).sort(), ['partial', 'record', 'signature']);
    assert.deepEqual(Object.keys(d.value.announcement.partial).sort(), ['discontinuity', 'first', 'openedAtMs', 'pieceHashes', 'seq']);
  });
});
