import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RENDITION_NAME, localRenditionPlaylist, parseMasterPlaylist, renderLocalMaster } from '../../peer-node/master-playlist.ts';

/** The origin's master playlist, as the rendition contract writes it. */
const ORIGIN_MASTER = [
  '#EXTM3U',
  '#EXT-X-VERSION:3',
  '#EXT-X-INDEPENDENT-SEGMENTS',
  '#EXT-X-STREAM-INF:BANDWIDTH=986000,AVERAGE-BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",NAME="360p"',
  '360p/index.m3u8',
  '#EXT-X-STREAM-INF:BANDWIDTH=480000,AVERAGE-BANDWIDTH=440000,RESOLUTION=426x240,CODECS="avc1.640015,mp4a.40.2",NAME="240p"',
  '240p/index.m3u8',
  '',
].join('\n');

describe('the master playlist a peer node serves its player', () => {
  test('the rungs are read in order, with their attributes exactly as the origin wrote them', () => {
    const parsed = parseMasterPlaylist(ORIGIN_MASTER);
    assert.ok(parsed.ok);
    assert.deepEqual(
      parsed.rungs.map((r) => [r.name, r.bandwidth]),
      [
        ['360p', 986000],
        ['240p', 480000],
      ],
    );
    assert.equal(parsed.rungs[0]?.attributes, 'BANDWIDTH=986000,AVERAGE-BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",NAME="360p"');
  });

  test("rewritten: same STREAM-INF lines, URIs to the node's own rendition playlists", () => {
    const parsed = parseMasterPlaylist(ORIGIN_MASTER);
    assert.ok(parsed.ok);
    const local = renderLocalMaster(parsed.rungs);
    const origin = ORIGIN_MASTER.split('\n');
    assert.deepEqual(local.split('\n'), [
      '#EXTM3U',
      '#EXT-X-VERSION:3',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      origin[3],
      'live/360p.m3u8',
      origin[5],
      'live/240p.m3u8',
      '',
    ]);
    // What the node serves, it reads back the same.
    const again = parseMasterPlaylist(local.replaceAll(/^live\/(\w+)\.m3u8$/gm, '$1/index.m3u8'));
    assert.ok(again.ok);
    assert.deepEqual(again.rungs, parsed.rungs);
    assert.equal(localRenditionPlaylist('720p'), 'live/720p.m3u8');
  });

  test('a rung named by its URI alone is taken; CRLF lines and blank lines between tag and URI too', () => {
    const parsed = parseMasterPlaylist('#EXTM3U\r\n#EXT-X-STREAM-INF:BANDWIDTH=500000,RESOLUTION=426x240\r\n\r\n240p/index.m3u8\r\n');
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.rungs.map((r) => r.name), ['240p']);
  });

  const bad: [string, string, RegExp][] = [
    ['no #EXTM3U', '#EXT-X-STREAM-INF:BANDWIDTH=1,NAME="240p"\n240p/index.m3u8\n', /not an M3U/],
    ['no rung', '#EXTM3U\n#EXT-X-VERSION:3\n', /no #EXT-X-STREAM-INF/],
    ['a name that is no rendition (a path)', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,NAME="../x"\n../x/index.m3u8\n', /no rendition name/],
    ['a name that is a channel, not a rendition', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,NAME="sports"\nsports/index.m3u8\n', /no rendition name/],
    ['NAME and URI disagree', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,NAME="240p"\n360p/index.m3u8\n', /is not 240p\/index\.m3u8/],
    ['an absolute URI', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,NAME="240p"\nhttp://elsewhere/240p/index.m3u8\n', /is not 240p/],
    ['no BANDWIDTH', '#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1,NAME="240p"\n240p/index.m3u8\n', /no BANDWIDTH/],
    ['AVERAGE-BANDWIDTH is not BANDWIDTH', '#EXTM3U\n#EXT-X-STREAM-INF:AVERAGE-BANDWIDTH=5,NAME="240p"\n240p/index.m3u8\n', /no BANDWIDTH/],
    ['a rung twice', `#EXTM3U\n${'#EXT-X-STREAM-INF:BANDWIDTH=1,NAME="240p"\n240p/index.m3u8\n'.repeat(2)}`, /twice/],
    ['a control character in the attributes', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,NAME="240p"\u0007\n240p/index.m3u8\n', /printable/],
  ];
  for (const [what, text, error] of bad) {
    test(`refused: ${what}`, () => {
      const parsed = parseMasterPlaylist(text);
      assert.equal(parsed.ok, false);
      if (!parsed.ok) assert.match(parsed.error, error);
    });
  }

  test('rendition names are the contract\'s', () => {
    for (const ok of ['240p', '1080p', '99p']) assert.ok(RENDITION_NAME.test(ok), ok);
    for (const no of ['p', '9p', '12345p', '720', 'main', '720P', '720p ']) assert.ok(!RENDITION_NAME.test(no), no);
  });
});
