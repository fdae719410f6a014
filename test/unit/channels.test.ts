import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { originChannels, parseOriginConfig } from '../../origin/config.ts';
import { parsePeerConfig } from '../../peer-node/config.ts';
import { channelLivePath, channelStreamId, channelTrackerPath } from '../../shared/channel.ts';
import { ConfigError } from '../../shared/cli.ts';

const MEDIA_FILE = fileURLToPath(import.meta.url);

function channels(argv: string[]) {
  const config = parseOriginConfig(argv);
  assert.ok(config);
  return originChannels(config);
}

function refused(argv: string[], pattern: RegExp): void {
  assert.throws(() => parseOriginConfig(argv), (e: unknown) => e instanceof ConfigError && pattern.test(e.message), argv.join(' '));
}

describe('origin channels from the command line', () => {
  test("today's command line is the default channel alone", () => {
    assert.deepEqual(channels(['--source', 'testsrc', '--stream-key', 'main-key-0123']), [{ name: 'main', source: 'testsrc', streamKey: 'main-key-0123' }]);
  });

  test('--channel adds channels in order, with their sources; --channel-key gives one its key', () => {
    assert.deepEqual(
      channels([
        '--channel', 'sports=testsrc',
        '--channel', `film-2=${MEDIA_FILE}`,
        '--channel', 'obs=rtmp://0.0.0.0:1936/live/obs-key-0123',
        '--channel-key', 'film-2=film-key-0123',
      ]),
      [
        { name: 'main', source: 'testsrc', streamKey: null },
        { name: 'sports', source: 'testsrc', streamKey: null },
        { name: 'film-2', source: MEDIA_FILE, streamKey: 'film-key-0123' },
        { name: 'obs', source: 'rtmp://0.0.0.0:1936/live/obs-key-0123', streamKey: null },
      ],
    );
  });

  test('a source may itself hold "=": the name ends at the first', () => {
    assert.equal(channels(['--channel', 'cam=rtsp://10.0.0.1/stream?a=b'])[1]?.source, 'rtsp://10.0.0.1/stream?a=b');
  });

  test('bad names, repeated names, bad sources and stray keys are refused with the reason', () => {
    refused(['--channel', 'testsrc'], /--channel must be name=source/);
    refused(['--channel', 'Sports=testsrc'], /--channel: channel name must be 1-32 of \[a-z0-9-\]/);
    refused(['--channel=-x=testsrc'], /channel name must be/);
    refused(['--channel', `${'a'.repeat(33)}=testsrc`], /channel name must be/);
    refused(['--channel', 'main=testsrc'], /"main" is the default channel: set its source with --source/);
    refused(['--channel', 'a=testsrc', '--channel', 'a=testsrc'], /channel "a" given twice/);
    refused(['--channel', 'a='], /--channel a: an empty source/);
    refused(['--channel', 'a=/no/such/file.mp4'], /--channel a: no such file/);
    refused(['--channel-key', 'a=key-0123456'], /--channel-key: no --channel "a"/);
    refused(['--channel', 'a=testsrc', '--channel-key', 'a=short'], /--channel-key a: the key must be 8-128/);
    refused(['--channel', 'a=testsrc', '--channel-key', 'main=key-0123456'], /"main" is the default channel: set its key with --stream-key/);
    refused(['--channel', 'a=testsrc', '--stream-key', 'same-key-0123', '--channel-key', 'a=same-key-0123'], /two channels have the same stream key/);
    refused(['--stream-id', 'x'.repeat(60), '--channel', 'abcdef=testsrc'], /its stream id .* is over 64 characters/);
  });

  test('two RTMP channels listening on one port are refused; on two ports they are fine', () => {
    refused(['--source', 'rtmp://0.0.0.0:1935/live/k1', '--channel', 'b=rtmp://127.0.0.1/live/k2'], /channel b: its RTMP listener would take port 1935, as channel "main"'s does/);
    assert.equal(channels(['--source', 'rtmp://0.0.0.0:1935/live/k1', '--channel', 'b=rtmp://0.0.0.0:1936/live/k2']).length, 2);
    // A remote RTMP server is pulled from, not listened on.
    assert.equal(channels(['--channel', 'a=rtmp://example.org/live/x', '--channel', 'b=rtmp://example.org/live/y']).length, 3);
  });

  test('a key given is never echoed in an error', () => {
    assert.throws(() => parseOriginConfig(['--channel-key', 'secret-key-without-equals']), (e: unknown) => e instanceof Error && !e.message.includes('secret-key'));
  });
});

describe('channel paths and stream ids', () => {
  test('the default channel keeps the paths and stream id of an origin of one stream', () => {
    assert.equal(channelLivePath('main'), '/live');
    assert.equal(channelTrackerPath('main'), '/tracker');
    assert.equal(channelStreamId('live', 'main'), 'live');
  });

  test('a named channel has its own paths, and a stream id no other channel of the origin has', () => {
    assert.equal(channelLivePath('sports'), '/live/sports');
    assert.equal(channelTrackerPath('sports'), '/tracker/sports');
    assert.equal(channelStreamId('live', 'sports'), 'live_sports');
  });

  test('a peer takes --channel, checked like the origin checks it', () => {
    assert.equal(parsePeerConfig([])?.channel, 'main');
    assert.equal(parsePeerConfig(['--channel', 'sports'])?.channel, 'sports');
    assert.throws(() => parsePeerConfig(['--channel', 'Sports']), /--channel must be 1-32 of \[a-z0-9-\]/);
    assert.throws(() => parsePeerConfig(['--stream-id', 'x'.repeat(60), '--channel', 'abcdef']), /over 64 characters/);
  });
});
