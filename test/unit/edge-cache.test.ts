import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ifRangeAllows, negativeCacheControl, playlistCacheControl, playlistEtag, segmentCacheControl, segmentEtag } from '../../origin/cache-headers.ts';
import { originConfig } from '../../origin/config.ts';
import { parsePeerConfig } from '../../peer-node/config.ts';
import { ConfigError } from '../../shared/cli.ts';

describe('origin cache lifetimes', () => {
  test('the playlist: half a segment in whole seconds, never under one', () => {
    for (const [segmentSeconds, maxAge] of [[1, 1], [2, 1], [3, 1], [4, 2], [6, 3], [10, 5]] as const) {
      assert.equal(playlistCacheControl({ segmentSeconds, windowSegments: 30 }), `public, max-age=${maxAge}`, `${segmentSeconds} s segments`);
    }
  });
  test('a segment: immutable, for twice as long as the window holds it', () => {
    assert.equal(segmentCacheControl({ segmentSeconds: 1, windowSegments: 30 }), 'public, max-age=60, immutable');
    assert.equal(segmentCacheControl({ segmentSeconds: 4, windowSegments: 10 }), 'public, max-age=80, immutable');
    // The origin's defaults, as the origin sets them.
    assert.equal(segmentCacheControl(originConfig()), 'public, max-age=60, immutable');
  });
  test('404, 410 and 503 are kept one second', () => {
    assert.equal(negativeCacheControl(), 'public, max-age=1');
  });
});

describe('origin validators', () => {
  test("a segment's ETag is its SHA-256, quoted", () => {
    assert.equal(segmentEtag({ sha256: 'ab'.repeat(32) }), `"${'ab'.repeat(32)}"`);
  });
  test("the playlist's ETag follows its text", () => {
    const a = playlistEtag('#EXTM3U\nseg-1.ts\n');
    assert.match(a, /^"[0-9a-f]{32}"$/);
    assert.equal(playlistEtag('#EXTM3U\nseg-1.ts\n'), a);
    assert.notEqual(playlistEtag('#EXTM3U\nseg-2.ts\n'), a);
  });
  test('If-Range: a Range is honoured for the same strong ETag or exactly the Last-Modified date, else the whole body', () => {
    const etag = '"abc"';
    const modifiedMs = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
    const date = new Date(modifiedMs).toUTCString();
    const table: [string | undefined, boolean][] = [
      [undefined, true],
      ['"abc"', true],
      ['"abd"', false],
      ['W/"abc"', false],
      [date, true],
      [new Date(modifiedMs + 1000).toUTCString(), false],
      [new Date(modifiedMs - 1000).toUTCString(), false],
      ['not a date', false],
    ];
    for (const [ifRange, allowed] of table) assert.equal(ifRangeAllows(ifRange, etag, modifiedMs), allowed, String(ifRange));
  });
});

describe('peer --edge', () => {
  test('takes an http(s) base, from the flag or EDGE_URL; none by default', () => {
    assert.equal(parsePeerConfig([])?.edge, null);
    for (const url of ['http://127.0.0.1:8088', 'https://cdn.example', 'https://cdn.example:8443/stream/main', 'http://[::1]:8088']) {
      assert.equal(parsePeerConfig(['--edge', url])?.edge, url);
    }
    assert.equal(parsePeerConfig([], { EDGE_URL: 'http://edge.example' })?.edge, 'http://edge.example');
  });
  test('refuses anything the segment path could not follow, naming the flag', () => {
    for (const bad of ['ws://edge.example/tracker', 'edge.example', 'http://edge.example/', 'http://edge.example/live?x=1', 'http://user:pw@edge.example', 'http://edge.example/#x', 'http://', 'http://a b']) {
      assert.throws(() => parsePeerConfig(['--edge', bad]), (e: unknown) => e instanceof ConfigError && /^--edge must be/.test(e.message), bad);
    }
  });
});
