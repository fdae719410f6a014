/**
 * Stable error codes: tests and callers match on `code`, never on the message,
 * so messages can be improved without breaking anyone.
 */
export type ProtocolErrorCode =
  | 'ERR_TOO_LARGE'
  | 'ERR_MALFORMED'
  | 'ERR_UNKNOWN_TYPE'
  | 'ERR_BAD_FIELD'
  | 'ERR_VERSION';

export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
  }
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: ProtocolError };

export function fail<T>(code: ProtocolErrorCode, message: string): Decoded<T> {
  return { ok: false, error: new ProtocolError(code, message) };
}

export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(x)}`);
}
