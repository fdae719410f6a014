/**
 * `--origin-key`: the origin's public key a peer verifies announcements with
 * (shared/announcement-signature.ts), given as its 32 raw bytes in base64 or
 * as a PEM file of it (SubjectPublicKeyInfo, `openssl pkey -pubout`).
 */
import { type KeyObject, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { publicKeyFromBase64 } from '../shared/announcement-signature.ts';
import { ConfigError } from '../shared/cli.ts';
import { ORIGIN_KEY_PATTERN } from '../shared/tracker-protocol.ts';

export function loadOriginKey(value: string | null): KeyObject | null {
  if (value === null) return null;
  if (ORIGIN_KEY_PATTERN.test(value)) return publicKeyFromBase64(value);
  let pem: string;
  try {
    pem = readFileSync(value, 'utf8');
  } catch (e) {
    throw new ConfigError(`--origin-key: neither a 44-character base64 key nor a readable file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  // A peer needs only the public half; a private key handed to viewers would let them sign as the origin.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) throw new ConfigError(`--origin-key: ${value} is a private key; give peers the public key (openssl pkey -in ${value} -pubout)`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw new ConfigError(`--origin-key: ${value} is not a PEM public key (${(e as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new ConfigError(`--origin-key: ${value} holds an ${key.asymmetricKeyType} key, not Ed25519`);
  return key;
}
