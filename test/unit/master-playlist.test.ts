import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { renderMasterPlaylist, rungVariant } from '../../shared/master-playlist.ts';
import { parseLadder } from '../../shared/rendition.ts';
import { localRenditionPlaylist, readLadder, renderLocalMaster } from '../../peer-node/master-playlist.ts';

/** The origin's master playlist for a small ladder, as the origin writes it. */
const ORIGIN_MASTER = renderMasterPlaylist(parseLadder('360p=640x360@700,240p=426x240@300').map((r) => rungVariant(r, 15, 64)));

/** A hand-written one, as the rendition contract words it. */
const HAND_WRITTEN = [
  '#EXTM3U',
  '#EXT-X-VERSION:3',
  '#EXT-X-INDEPENDENT-SEGMENTS',
  '#EXT-X-STREAM-INF:BANDWIDTH=986000,AVERAGE-BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2",NAME="360p"',
  '360p/index.m3u8',
  '#EXT-X-STREAM-INF:BANDWIDTH=480000,AVERAGE-BANDWIDTH=440000,RESOLUTION=426x240,CODECS="avc1.4d4015,mp4a.40.2",NAME="240p"',
  '240p/index.m3u8',
  '',
].join('\n');

describe('the master playlist a peer node serves its player', () => {
  for (const [what, text] of [
    ["the origin's", ORIGIN_MASTER],
    ['a hand-written one', HAND_WRITTEN],
  ] as const) {
    test(`${what}: same STREAM-INF lines, each URI the node's own rendition playlist`, () => {
      const read = readLadder(text);
      assert.ok(read.ok, read.ok ? '' : read.error);
      assert.deepEqual(read.rungs.map((r) => r.name), ['360p', '240p']);
      const origin = text.split('\n');
      assert.deepEqual(renderLocalMaster(read.rungs).split('\n'), [origin[0], origin[1], origin[2], origin[3], 'live/360p.m3u8', origin[5], 'live/240p.m3u8', '']);
    });
  }

  test('CRLF lines are read as LF ones', () => {
    const read = readLadder(HAND_WRITTEN.replaceAll('\n', '\r\n'));
    assert.ok(read.ok);
    assert.deepEqual(read.rungs.map((r) => r.uri), ['360p/index.m3u8', '240p/index.m3u8']);
    assert.equal(localRenditionPlaylist('720p'), 'live/720p.m3u8');
  });

  const rung = (attrs: string, uri: string) => `#EXTM3U\n#EXT-X-STREAM-INF:${attrs}\n${uri}\n`;
  const bad: [string, string, RegExp][] = [
    ['no #EXTM3U', '#EXT-X-STREAM-INF:BANDWIDTH=1,NAME="240p"\n240p/index.m3u8\n', /no #EXTM3U/],
    ['no rung', '#EXTM3U\n#EXT-X-VERSION:3\n', /no #EXT-X-STREAM-INF/],
    ['a name that could be a path', rung('BANDWIDTH=1,NAME="../x"', '../x/index.m3u8'), /not a rendition name/],
    ['a channel name, not a rendition', rung('BANDWIDTH=1,NAME="sports"', 'sports/index.m3u8'), /not a rendition name/],
    ['no NAME: the URI is no name', rung('BANDWIDTH=1', '240p/index.m3u8'), /not a rendition name/],
    ['NAME and URI disagree', rung('BANDWIDTH=1,NAME="240p"', '360p/index.m3u8'), /is not 240p\/index\.m3u8/],
    ['an absolute URI', rung('BANDWIDTH=1,NAME="240p"', 'http://elsewhere/240p/index.m3u8'), /is not 240p/],
    ['no BANDWIDTH', rung('RESOLUTION=2x2,NAME="240p"', '240p/index.m3u8'), /bad EXT-X-STREAM-INF/],
    ['a rung twice', `#EXTM3U\n${'#EXT-X-STREAM-INF:BANDWIDTH=1,NAME="240p"\n240p/index.m3u8\n'.repeat(2)}`, /twice/],
    ['markup in CODECS', rung('BANDWIDTH=1,CODECS="<script>",NAME="240p"', '240p/index.m3u8'), /CODECS/],
    ['more rungs than a ladder has', `#EXTM3U\n${[...Array(7).keys()].map((i) => `#EXT-X-STREAM-INF:BANDWIDTH=1,NAME="${i + 10}p"\n${i + 10}p/index.m3u8`).join('\n')}\n`, /more than 6/],
  ];
  for (const [what, text, error] of bad) {
    test(`refused: ${what}`, () => {
      const read = readLadder(text);
      assert.equal(read.ok, false);
      if (!read.ok) assert.match(read.error, error);
    });
  }
});
