/**
 * Who may read the operator pages (the origin's dashboard and metrics, which
 * list every viewer's address; a peer node's metrics and stats). Without an
 * admin token only loopback clients may; with one, only requests that carry
 * it, from anywhere, loopback included: a reverse proxy on the same machine
 * makes every client look like loopback.
 *
 * A browser cannot put a bearer header on a page load, so `<page>?token=…`
 * trades the token for an HttpOnly, SameSite=Strict cookie and redirects to
 * the page without it; the page's own requests then carry the cookie. The
 * cookie holds an HMAC of the token, not the token: it opens these pages and
 * nothing else, and proves nothing to a program that takes the bearer token.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

export const ADMIN_COOKIE = 'p2p_admin';
/** Long enough not to be guessed, printable so it fits a header and a compose file. */
export const ADMIN_TOKEN_PATTERN = /^[\x21-\x7e]{16,256}$/;
export const ADMIN_TOKEN_HELP = '16-256 printable ASCII characters without spaces';
/** How long a browser keeps the dashboard cookie; the token itself never expires. */
const COOKIE_MAX_AGE_S = 12 * 3600;

/** True for an address of the loopback interface, as Node reports a socket's remote address. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4) || address === '::1';
}

/** Equal-length digests, so the comparison takes the same time whatever was guessed. */
function same(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function cookieValue(token: string): string {
  return createHmac('sha256', token).update('p2p-live admin cookie').digest('base64url');
}

function cookieOf(req: Request): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === ADMIN_COOKIE) return rest.join('=');
  }
  return null;
}

function refuse(res: Response, status: 401 | 403, message: string): void {
  if (status === 401) res.set('WWW-Authenticate', 'Bearer realm="p2p-live admin"');
  res.status(status).set({ 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' }).send(`${message}\n`);
}

export type AdminDecision = 'ok' | { status: 401 | 403; message: string };

/** The rule alone, for one request: its remote address, its Authorization header and its cookie. */
export function decideAdmin(token: string | null, remoteAddress: string | undefined, authorization: string | undefined, cookie: string | null): AdminDecision {
  if (token === null) {
    return isLoopback(remoteAddress) ? 'ok' : { status: 403, message: 'admin pages answer loopback clients only (start with --admin-token to open them to others)' };
  }
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
  if (bearer !== undefined) return same(bearer, token) ? 'ok' : { status: 403, message: 'wrong admin token' };
  if (cookie !== null) return same(cookie, cookieValue(token)) ? 'ok' : { status: 403, message: 'wrong admin cookie' };
  return { status: 401, message: 'admin token required: Authorization: Bearer <token>' };
}

/**
 * Middleware guarding the operator routes it is mounted on. `loginPaths` are
 * pages a browser opens: there a right `?token=` sets the cookie and
 * redirects to the same path without the token.
 */
export function adminGate(token: string | null, loginPaths: readonly string[] = []): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const path = req.originalUrl.split('?')[0] ?? '';
    const given = req.query.token;
    if (token !== null && typeof given === 'string' && loginPaths.includes(path) && req.method === 'GET') {
      if (!same(given, token)) return refuse(res, 403, 'wrong admin token');
      const secure = req.secure ? '; Secure' : '';
      res.set('Set-Cookie', `${ADMIN_COOKIE}=${cookieValue(token)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${COOKIE_MAX_AGE_S}${secure}`);
      // The token leaves the address bar and the history; nothing on the page sends a Referer elsewhere anyway.
      res.set({ 'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-store' }).redirect(303, path);
      return;
    }
    const d = decideAdmin(token, req.socket.remoteAddress, req.headers.authorization, cookieOf(req));
    if (d === 'ok') return next();
    refuse(res, d.status, d.message);
  };
}
