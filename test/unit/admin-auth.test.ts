import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseOriginConfig } from '../../origin/config.ts';
import { parsePeerConfig } from '../../peer-node/config.ts';
import { decideAdmin, isLoopback } from '../../shared/admin-auth.ts';
import { ConfigError } from '../../shared/cli.ts';

describe('isLoopback', () => {
  const table: [string | undefined, boolean][] = [
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['10.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['192.0.2.2', false],
    ['fd00::2', false],
    ['::', false],
    ['0.0.0.0', false],
    ['127.0.0.1.evil', false],
    ['', false],
    [undefined, false],
  ];
  for (const [address, expected] of table) test(`${String(address)} → ${expected}`, () => assert.equal(isLoopback(address), expected));
});

describe('decideAdmin', () => {
  const token = 'correct-horse-battery-staple';
  test('without a token: loopback yes, anyone else 403, whatever they send', () => {
    assert.equal(decideAdmin(null, '127.0.0.1', undefined, null), 'ok');
    assert.equal(decideAdmin(null, '::ffff:127.0.0.1', undefined, null), 'ok');
    assert.deepEqual(Object.keys(decideAdmin(null, '10.0.0.1', `Bearer ${token}`, null) as object), ['status', 'message']);
    assert.equal((decideAdmin(null, '::ffff:10.0.0.1', undefined, null) as { status: number }).status, 403);
  });
  test('with a token: only the right bearer or cookie, from anywhere, loopback included', () => {
    const status = (d: ReturnType<typeof decideAdmin>) => (d === 'ok' ? 200 : d.status);
    assert.equal(status(decideAdmin(token, '127.0.0.1', undefined, null)), 401);
    assert.equal(status(decideAdmin(token, '10.0.0.1', undefined, null)), 401);
    assert.equal(status(decideAdmin(token, '10.0.0.1', 'Bearer wrong', null)), 403);
    assert.equal(status(decideAdmin(token, '10.0.0.1', `Bearer ${token}x`, null)), 403);
    assert.equal(status(decideAdmin(token, '10.0.0.1', `Basic ${token}`, null)), 401);
    assert.equal(status(decideAdmin(token, '10.0.0.1', `Bearer ${token}`, null)), 200);
    assert.equal(status(decideAdmin(token, '10.0.0.1', `bearer  ${token}`, null)), 200);
    // The cookie holds an HMAC of the token, not the token.
    assert.equal(status(decideAdmin(token, '10.0.0.1', undefined, token)), 403);
  });
});

describe('--admin-token / ADMIN_TOKEN', () => {
  for (const [name, parse] of [['origin', parseOriginConfig], ['peer', parsePeerConfig]] as const) {
    test(`${name}: from the flag or the environment; a bad one fails naming the flag without echoing it`, () => {
      assert.equal(parse([])?.adminToken, null);
      assert.equal(parse([], { ADMIN_TOKEN: 'from-the-environment-0123' })?.adminToken, 'from-the-environment-0123');
      assert.equal(parse(['--admin-token', 'from-the-flag-0123456'], { ADMIN_TOKEN: 'from-the-environment-0123' })?.adminToken, 'from-the-flag-0123456');
      for (const bad of ['tooshort', 'has a space in it 0123']) {
        assert.throws(() => parse(['--admin-token', bad]), (e: Error) => e instanceof ConfigError && /^--admin-token must be/.test(e.message) && !e.message.includes(bad));
      }
    });
  }
});
