/**
 * A peer's fetch token: the tracker gives one to each joined peer in its
 * `welcome`, and the peer sends it with every fallback fetch from the origin,
 * so the origin knows whose fetch it is serving (origin/egress-class.ts).
 */

/** The request header of an origin fetch that carries the token. */
export const FETCH_TOKEN_HEADER = 'x-fetch-token';
/** Random bytes in a token: 128 bits, too many to guess. */
export const FETCH_TOKEN_BYTES = 16;
/** A token on the wire is its bytes in unpadded base64url. */
export const FETCH_TOKEN_CHARS = Math.ceil((FETCH_TOKEN_BYTES * 8) / 6);
export const FETCH_TOKEN_PATTERN = new RegExp(`^[A-Za-z0-9_-]{${FETCH_TOKEN_CHARS}}$`);
