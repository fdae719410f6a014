/**
 * The origin's Ed25519 signing key (shared/announcement-signature.ts), from
 * `--signing-key FILE`: a PEM PKCS#8 private key, read and checked once at
 * start. A FILE that does not exist yet is created with a new key (mode 0600,
 * never over an existing file), so an origin keeps its identity across
 * restarts from its first run on, and peers that pinned its key keep playing.
 * Without the flag the key is made at start and lives as long as the process:
 * peers pinned to it must be restarted after the origin is.
 */
import { type KeyObject, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../shared/cli.ts';

export type SigningKeySource = 'file' | 'created' | 'generated';

export function loadSigningKey(file: string | null): { key: KeyObject; source: SigningKeySource } {
  if (file === null) return { key: generateKeyPairSync('ed25519').privateKey, source: 'generated' };
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new ConfigError(`--signing-key: cannot read ${file} (${code ?? (e as Error).message})`);
    const key = generateKeyPairSync('ed25519').privateKey;
    try {
      // 'wx': another process that created the file meanwhile keeps its key; we fail rather than sign with another.
      writeFileSync(file, key.export({ format: 'pem', type: 'pkcs8' }), { flag: 'wx', mode: 0o600 });
    } catch (w) {
      throw new ConfigError(`--signing-key: cannot create ${file} (${(w as NodeJS.ErrnoException).code ?? (w as Error).message})`);
    }
    return { key, source: 'created' };
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw new ConfigError(`--signing-key: ${file} is not a PEM private key (${(e as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new ConfigError(`--signing-key: ${file} holds an ${key.asymmetricKeyType} key, not Ed25519`);
  return { key, source: 'file' };
}
