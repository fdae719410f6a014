/**
 * Which address a tracker connection comes from, and the peer-wire URL the
 * tracker may hand out for it. A peer chooses only the scheme and port of its
 * URL: the host is always the address its tracker connection comes from and
 * the path is the tracker's own (`/peer`, or `/peer/<r>` for rendition r of a
 * ladder: shared/rendition.ts), so a join can never point other peers at a
 * host, port or path of someone else's choosing beyond ports of its own address.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { PEER_PATH } from '../shared/rendition.ts';

/** `::ffff:127.0.0.1` (an IPv4 client of a dual-stack socket) is 127.0.0.1. */
export function normaliseAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? (m[1] as string) : address.toLowerCase();
}

/**
 * The client's address: the socket's, or, behind a reverse proxy, the last
 * entry of the trusted header (the one the proxy itself appended; earlier
 * entries come from the client and prove nothing). Null if the header is
 * trusted but missing or not an IP address.
 */
export function clientAddress(socketAddress: string | undefined, headers: IncomingHttpHeaders, trustedHeader: string | null): string | null {
  if (trustedHeader === null) return socketAddress ? normaliseAddress(socketAddress) : null;
  const raw = headers[trustedHeader.toLowerCase()];
  const value = Array.isArray(raw) ? raw.at(-1) : raw;
  const last = value?.split(',').at(-1)?.trim() ?? '';
  return isIP(last) === 0 ? null : normaliseAddress(last);
}

/**
 * The URL other peers dial: `<scheme>://<address>:<port><path>`, taking only
 * the scheme and port of what the peer advertised; `path` is the tracker's
 * (PEER_PATH, or renditionPeerPath of its rendition). Null when the advertised
 * URL gives no usable port or there is no address.
 */
export function peerWireUrl(advertised: string | null, address: string | null, path: string = PEER_PATH): string | null {
  if (advertised === null || address === null) return null;
  let url: URL;
  try {
    url = new URL(advertised);
  } catch {
    return null;
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') return null;
  // URL drops a port equal to the scheme's default.
  const port = url.port === '' ? (url.protocol === 'wss:' ? 443 : 80) : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  const host = isIP(address) === 6 ? `[${address}]` : address;
  return `${url.protocol}//${host}:${port}${path}`;
}
