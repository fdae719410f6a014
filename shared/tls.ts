/**
 * TLS for both programs, from PEM files named by flags: a server's
 * certificate and key (`--tls-cert`, `--tls-key`), and a private CA to trust
 * for outgoing connections (`--ca`). Files are read and checked once at
 * start; a problem is a ConfigError, one line naming the flag.
 *
 * Everything a program dials over TLS (the tracker, the origin's HTTP, other
 * peers, and the origin's connect-back probe of peers) takes `client`, so a
 * private CA is trusted in one place.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Server, createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type SecureContext, createSecureContext, rootCertificates } from 'node:tls';
import type { Logger } from 'pino';
import { ConfigError } from './cli.ts';

export interface TlsFiles {
  tlsCert: string | null;
  tlsKey: string | null;
  ca: string | null;
}

export interface TlsSetup {
  /** Certificate and key to serve https/wss with, or null for plain http/ws. */
  readonly server: { cert: Buffer; key: Buffer } | null;
  /**
   * Options for every outgoing connection (https.Agent, ws, tls.connect):
   * one context trusting the system's roots plus the private CA, or {} for
   * the defaults. Node's `ca` replaces the roots rather than adding to them,
   * hence both; and one context built once, since building it parses every
   * root (measured: ~47 ms each), which a `ca` option would do per connection.
   */
  readonly client: { secureContext?: SecureContext };
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function read(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ConfigError(`${flag}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

function certificate(flag: string, file: string, pem: string, nowMs: number): X509Certificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    throw new ConfigError(`${flag}: ${file} holds no valid PEM certificate`);
  }
  if (Date.parse(cert.validTo) < nowMs) throw new ConfigError(`${flag}: the certificate in ${file} expired on ${cert.validTo}`);
  return cert;
}

/** Reads and checks the files; throws ConfigError naming the flag on the first problem. */
export function loadTls(files: TlsFiles, nowMs = Date.now()): TlsSetup {
  let server: TlsSetup['server'] = null;
  if ((files.tlsCert === null) !== (files.tlsKey === null)) {
    throw new ConfigError(`${files.tlsCert === null ? '--tls-cert' : '--tls-key'} is needed too: --tls-cert and --tls-key go together`);
  }
  if (files.tlsCert !== null && files.tlsKey !== null) {
    const cert = read('--tls-cert', files.tlsCert);
    const key = read('--tls-key', files.tlsKey);
    const leaf = certificate('--tls-cert', files.tlsCert, (cert.toString().match(PEM_CERT) ?? [''])[0], nowMs);
    let privateKey;
    try {
      privateKey = createPrivateKey(key);
    } catch {
      throw new ConfigError(`--tls-key: ${files.tlsKey} holds no valid PEM private key (unencrypted)`);
    }
    if (!leaf.checkPrivateKey(privateKey)) throw new ConfigError(`--tls-key: ${files.tlsKey} is not the key of the certificate in ${files.tlsCert}`);
    server = { cert, key };
  }
  let client: TlsSetup['client'] = {};
  if (files.ca !== null) {
    const pems = read('--ca', files.ca).toString().match(PEM_CERT) ?? [];
    if (pems.length === 0) throw new ConfigError(`--ca: ${files.ca} holds no PEM certificate`);
    for (const pem of pems) certificate('--ca', files.ca, pem, nowMs);
    client = { secureContext: createSecureContext({ ca: [...rootCertificates, ...pems] }) };
  }
  return { server, client };
}

/**
 * An HTTP server, or an HTTPS one when TLS is set up: upgrades (WebSocket)
 * arrive on either the same way. A failed TLS handshake costs only that socket.
 */
export function createWebServer(tls: TlsSetup, app: Parameters<typeof createHttpServer>[1], log: Logger): Server {
  if (!tls.server) return createHttpServer(app);
  const server = createHttpsServer({ ...tls.server }, app);
  server.on('tlsClientError', (err, socket) => {
    log.debug({ err: err.message, address: socket.remoteAddress }, 'TLS handshake failed');
    socket.destroy();
  });
  return server;
}

/**
 * When `err` is a certificate that could not be trusted (unknown CA,
 * self-signed, another host's, expired): its OpenSSL code and what the
 * operator should do about it. Else null.
 */
export function untrustedCertificate(err: Error): { code: string; hint: string } | null {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (!/CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(code)) return null;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return { code, hint: 'the certificate does not name the host dialled' };
  if (code === 'CERT_HAS_EXPIRED') return { code, hint: 'the certificate has expired' };
  return { code, hint: 'pass --ca with the CA that signed it' };
}
