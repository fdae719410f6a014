import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { browserCommands } from '../../peer-node/open-browser.ts';

const URL = 'http://127.0.0.1:9000/?a=1&b=2';

describe('which command opens the player (peer --open)', () => {
  test('the desktop opener of each platform when $BROWSER is unset or blank', () => {
    for (const env of [{}, { BROWSER: '' }, { BROWSER: ' : ' }]) {
      assert.deepEqual(browserCommands(URL, env, 'linux'), [{ command: 'xdg-open', args: [URL] }]);
    }
    assert.deepEqual(browserCommands(URL, {}, 'darwin'), [{ command: 'open', args: [URL] }]);
    // The URL as one argument, never through cmd: its `&` would end the command there.
    assert.deepEqual(browserCommands(URL, {}, 'win32'), [{ command: 'rundll32', args: ['url.dll,FileProtocolHandler', URL] }]);
  });

  test('$BROWSER wins on every platform: the URL appended, or put where %s stands, each entry of a :-list in turn', () => {
    for (const platform of ['linux', 'darwin', 'win32'] as const) {
      assert.deepEqual(browserCommands(URL, { BROWSER: '/tmp/record.sh' }, platform), [{ command: '/tmp/record.sh', args: [URL] }]);
    }
    assert.deepEqual(browserCommands(URL, { BROWSER: 'firefox --new-window %s --private' }, 'linux'), [{ command: 'firefox', args: ['--new-window', URL, '--private'] }]);
    assert.deepEqual(browserCommands(URL, { BROWSER: 'w3m:chromium --incognito' }, 'linux'), [
      { command: 'w3m', args: [URL] },
      { command: 'chromium', args: ['--incognito', URL] },
    ]);
  });
});
