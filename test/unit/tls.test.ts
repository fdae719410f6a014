import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError } from '../../shared/cli.ts';
import { loadTls, untrustedCertificate } from '../../shared/tls.ts';
import { type TestCerts, makeTestCerts } from '../helpers/tls-certs.ts';

describe('loadTls: PEM files checked at start, one line naming the flag', () => {
  let certs: TestCerts;
  before(() => {
    certs = makeTestCerts();
  });
  after(() => certs.remove());

  test('no files: plain http and the default trust', () => {
    assert.deepEqual(loadTls({ tlsCert: null, tlsKey: null, ca: null }), { server: null, client: {} });
  });

  test('a leaf and its key serve; a CA is trusted besides the system roots', () => {
    const t = loadTls({ tlsCert: certs.cert, tlsKey: certs.key, ca: certs.ca });
    assert.ok(t.server && t.server.cert.length > 0 && t.server.key.length > 0);
    assert.ok(t.client.secureContext, 'no client context');
  });

  const bad: [string, () => Parameters<typeof loadTls>[0], RegExp][] = [
    ['a missing certificate file', () => ({ tlsCert: join(certs.dir, 'nope.pem'), tlsKey: certs.key, ca: null }), /^--tls-cert: cannot read .*nope\.pem \(ENOENT\)$/],
    ['a key without a certificate', () => ({ tlsCert: null, tlsKey: certs.key, ca: null }), /^--tls-cert is needed too/],
    ['a certificate without a key', () => ({ tlsCert: certs.cert, tlsKey: null, ca: null }), /^--tls-key is needed too/],
    ['a certificate file that is not PEM', () => ({ tlsCert: certs.key, tlsKey: certs.key, ca: null }), /^--tls-cert: .* holds no valid PEM certificate$/],
    ['a key file that is not a key', () => ({ tlsCert: certs.cert, tlsKey: certs.ca, ca: null }), /^--tls-key: .* holds no valid PEM private key/],
    ['the key of another certificate', () => ({ tlsCert: certs.cert, tlsKey: certs.otherKey, ca: null }), /^--tls-key: .* is not the key of the certificate in/],
    ['a CA file without a certificate', () => ({ tlsCert: null, tlsKey: null, ca: certs.key }), /^--ca: .* holds no PEM certificate$/],
    ['a missing CA file', () => ({ tlsCert: null, tlsKey: null, ca: join(certs.dir, 'nope.pem') }), /^--ca: cannot read/],
  ];
  for (const [name, files, message] of bad) {
    test(`refuses ${name}`, () => {
      assert.throws(() => loadTls(files()), (e: Error) => e instanceof ConfigError && message.test(e.message) && !e.message.includes('\n'));
    });
  }

  test('refuses a garbled certificate and an expired one', () => {
    const garbled = join(certs.dir, 'garbled.pem');
    writeFileSync(garbled, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    assert.throws(() => loadTls({ tlsCert: garbled, tlsKey: certs.key, ca: null }), /^ConfigError: --tls-cert: .* holds no valid PEM certificate$|--tls-cert: .* holds no valid PEM certificate/);
    const inThreeDays = Date.now() + 3 * 86_400_000;
    assert.throws(() => loadTls({ tlsCert: certs.cert, tlsKey: certs.key, ca: null }, inThreeDays), /--tls-cert: the certificate in .* expired on/);
  });
});

describe('untrustedCertificate', () => {
  const err = (code: string) => Object.assign(new Error(code), { code });
  const table: [string, RegExp][] = [
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', /--ca/],
    ['SELF_SIGNED_CERT_IN_CHAIN', /--ca/],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', /--ca/],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', /--ca/],
    ['CERT_HAS_EXPIRED', /expired/],
    ['ERR_TLS_CERT_ALTNAME_INVALID', /does not name the host/],
  ];
  for (const [code, hint] of table) {
    test(`${code} is a trust problem`, () => {
      const u = untrustedCertificate(err(code));
      assert.equal(u?.code, code);
      assert.match(u?.hint ?? '', hint);
    });
  }
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'EPROTO']) test(`${code} is not`, () => assert.equal(untrustedCertificate(err(code)), null));
});
