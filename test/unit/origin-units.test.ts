import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseOriginConfig } from '../../origin/config.ts';
import { parseRange } from '../../origin/http-range.ts';
import { IngestReceiver, type IngestedSegment, parseIngestPlaylist } from '../../origin/ingest-receiver.ts';
import { restartDelayMs } from '../../origin/ingest-supervisor.ts';
import { LiveWindow } from '../../origin/live-window.ts';
import { generateSigner } from '../../shared/announcement-signature.ts';
import { ConfigError } from '../../shared/cli.ts';
import { renderLivePlaylist } from '../../shared/playlist.ts';

describe('parseRange', () => {
  const table: [string | undefined, ReturnType<typeof parseRange>][] = [
    [undefined, { kind: 'full' }],
    ['bytes=0-9', { kind: 'partial', start: 0, end: 10 }],
    ['bytes=90-', { kind: 'partial', start: 90, end: 100 }],
    ['bytes=90-1000', { kind: 'partial', start: 90, end: 100 }],
    ['bytes=-5', { kind: 'partial', start: 95, end: 100 }],
    ['bytes=-500', { kind: 'partial', start: 0, end: 100 }],
    ['bytes=100-', { kind: 'unsatisfiable' }],
    ['bytes=9-3', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=-', { kind: 'unsatisfiable' }],
    ['bytes=abc', { kind: 'unsatisfiable' }],
    ['Bytes=0-9', { kind: 'partial', start: 0, end: 10 }],
    // A unit we do not know is ignored, as if there were no Range (RFC 9110 §14.2).
    ['items=0-1', { kind: 'full' }],
    ['0-9', { kind: 'full' }],
    ['bytes=0-1,5-6', { kind: 'full' }],
  ];
  for (const [header, expected] of table) {
    test(String(header), () => assert.deepEqual(parseRange(header, 100), expected));
  }
});

describe('ingest', () => {
  test('parses ffmpeg playlists, ignoring unexpected names', () => {
    const text = '#EXTM3U\n#EXTINF:1.000000,\ns0.ts\n#EXTINF:0.933333,\ns1.ts\n#EXTINF:1,\n../etc/passwd\n#EXTINF:nan,\ns2.ts\n';
    assert.deepEqual(parseIngestPlaylist(text), [
      { file: 's0.ts', index: 0, durationMs: 1000 },
      { file: 's1.ts', index: 1, durationMs: 933 },
    ]);
  });

  test('publishes each segment once, when the playlist names it, and flags the first of a new run', () => {
    const got: IngestedSegment[] = [];
    const r = new IngestReceiver((s) => got.push(s));
    const pl = (...names: string[]) => Buffer.from(names.map((n) => `#EXTINF:1.0,\n${n}`).join('\n'));
    r.put('a', 's0.ts', Buffer.from('zero'), 10);
    assert.equal(got.length, 0, 'not before the playlist lists it');
    r.put('a', 'stream.m3u8', pl('s0.ts'), 11);
    r.put('a', 's1.ts', Buffer.from('one'), 20);
    r.put('a', 'stream.m3u8', pl('s0.ts', 's1.ts'), 21);
    r.put('a', 'stream.m3u8', pl('s0.ts', 's1.ts'), 22);
    r.put('b', 's0.ts', Buffer.from('b-zero'), 30);
    r.put('b', 'stream.m3u8', pl('s0.ts'), 31);
    assert.deepEqual(
      got.map((s) => [s.data.toString(), s.discontinuity, s.segmentPutEndMs, s.playlistPutMs]),
      [['zero', false, 10, 11], ['one', false, 20, 21], ['b-zero', true, 30, 31]],
    );
    assert.equal(r.put('a', 'evil.sh', Buffer.from('x'), 40).status, 'rejected');
  });

  // ffmpeg sends the playlist without waiting for the segment's answer, over another connection:
  // the origin may finish reading a large segment after the playlist naming it.
  test('a segment whose playlist came first is published as soon as its bytes are in, not with the next playlist', () => {
    const got: IngestedSegment[] = [];
    const r = new IngestReceiver((s) => got.push(s));
    const pl = (...names: string[]) => Buffer.from(names.map((n) => `#EXTINF:2.0,\n${n}`).join('\n'));
    r.put('a', 's0.ts', Buffer.from('zero'), 10);
    r.put('a', 'stream.m3u8', pl('s0.ts'), 11);
    r.put('a', 'stream.m3u8', pl('s0.ts', 's1.ts'), 2010);
    assert.equal(got.length, 1, 'not before its bytes are in');
    assert.deepEqual(r.put('a', 's1.ts', Buffer.from('one'), 2012), { status: 'accepted', published: 1 });
    r.put('a', 's2.ts', Buffer.from('two'), 4010);
    r.put('a', 'stream.m3u8', pl('s0.ts', 's1.ts', 's2.ts'), 4011);
    assert.deepEqual(
      got.map((s) => [s.data.toString(), s.durationMs, s.segmentPutEndMs, s.playlistPutMs]),
      [['zero', 2000, 10, 11], ['one', 2000, 2012, 2010], ['two', 2000, 4010, 4011]],
    );
  });

  test('a named segment whose bytes never come does not hold back the ones after it', () => {
    const got: string[] = [];
    const r = new IngestReceiver((s) => got.push(s.data.toString()));
    const pl = (...names: string[]) => Buffer.from(names.map((n) => `#EXTINF:1.0,\n${n}`).join('\n'));
    r.put('a', 's0.ts', Buffer.from('zero'), 0);
    r.put('a', 'stream.m3u8', pl('s0.ts', 's1.ts'), 1);
    r.put('a', 's2.ts', Buffer.from('two'), 2000);
    r.put('a', 'stream.m3u8', pl('s0.ts', 's1.ts', 's2.ts'), 2001);
    r.put('a', 's1.ts', Buffer.from('one, too late'), 2002);
    assert.deepEqual(got, ['zero', 'two']);
  });

  test('restart backoff doubles up to the cap', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 10].map((n) => restartDelayMs(n, 8000)), [500, 1000, 2000, 4000, 8000, 8000, 8000]);
  });
});

describe('live window', () => {
  test('stays bounded, numbers keep increasing, evicted segments are gone', () => {
    const w = new LiveWindow(3, 4, generateSigner());
    for (let i = 0; i < 10; i++) w.publish(Buffer.from(`segment-${i}`), 1000, i === 5, 1000 * i);
    assert.equal(w.size, 3);
    assert.equal(w.published, 10, 'dropped segments still count as published');
    assert.deepEqual(w.announcements().map((s) => s.seq), [7, 8, 9]);
    assert.equal(w.lookup(2).state, 'gone');
    assert.equal(w.lookup(10).state, 'unknown');
    const live = w.lookup(8);
    assert.equal(live.state === 'live' && live.segment.data.toString(), 'segment-8');
    assert.equal(live.state === 'live' && live.segment.info.pieceHashes.length, 3);
    assert.equal(w.discontinuities.sequenceFor(w.announcements(), w.announcements()), 1);
  });

  test('renders discontinuities and the discontinuity sequence', () => {
    const w = new LiveWindow(5, 1024, generateSigner());
    w.publish(Buffer.from('a'), 1000, false, 10_000);
    w.publish(Buffer.from('b'), 980, true, 11_000);
    const text = renderLivePlaylist(w.announcements(), 0);
    assert.match(text, /#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n/);
    assert.match(text, /#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:10.020Z\n#EXTINF:0.980,\nseg-1.ts\n$/);
  });
});

describe('origin config', () => {
  test('defaults, flags and env', () => {
    const c = parseOriginConfig(['--port', '9000', '--segment-seconds', '2'], { STREAM_KEY: 'abcdefgh12' });
    assert.equal(c?.port, 9000);
    assert.equal(c?.segmentSeconds, 2);
    assert.equal(c?.streamKey, 'abcdefgh12');
    assert.equal(c?.windowSegments, 30);
    assert.equal(c?.trustProxyHeader, null, 'no proxy header is trusted unless asked');
    assert.equal(parseOriginConfig(['--trust-proxy-header', 'x-forwarded-for'])?.trustProxyHeader, 'x-forwarded-for');
    assert.equal(parseOriginConfig(['--help']), null);
  });
  test('bad values throw ConfigError naming the flag', () => {
    for (const argv of [['--port', '70000'], ['--stream-key', 'short'], ['--piece-size', '12'], ['--copy', 'x'], ['stray'], ['--trust-proxy-header', 'x forwarded: for']]) {
      assert.throws(() => parseOriginConfig(argv), (e: unknown) => e instanceof ConfigError && e.code === 'ERR_CONFIG', argv.join(' '));
    }
  });
});
