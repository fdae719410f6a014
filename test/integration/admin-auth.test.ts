/**
 * Operator pages over real HTTP. The origin's /dashboard, /api/dashboard and
 * /metrics, and a peer node's /metrics, list viewers or what they watch:
 * without --admin-token they answer loopback clients only; with
 * one, only requests that carry it (bearer header, or the dashboard's cookie).
 *
 * The non-loopback client is this machine itself, dialling one of its own
 * non-loopback addresses (the programs listen on 0.0.0.0), so the server
 * sees that address as the remote one. Skipped where the machine has none.
 */
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { after, before, describe, test } from 'node:test';
import type { Origin } from '../../origin/origin.ts';
import type { PeerNode } from '../../peer-node/node.ts';
import { ADMIN_COOKIE } from '../../shared/admin-auth.ts';
import { startTestOrigin } from '../helpers/origin.ts';
import { startTestPeer } from '../helpers/swarm.ts';

const TOKEN = 'test-admin-token-0123456789';
const OPERATOR_ORIGIN = ['/metrics', '/api/dashboard', '/dashboard'];
const OPERATOR_PEER = ['/metrics'];

/** An IPv4 address of this machine that is not loopback, if it has one. */
const external = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

describe('operator pages without --admin-token', { skip: external ? false : 'no non-loopback IPv4 address on this machine' }, () => {
  let origin: Origin | undefined;
  let peer: PeerNode | undefined;
  before(async () => {
    origin = await startTestOrigin({ host: '0.0.0.0' });
    peer = await startTestPeer(origin, { host: '0.0.0.0' });
  });
  after(async () => {
    await peer?.close();
    await origin?.close();
  });

  test(`answer loopback, refuse ${external} with a one-line 403`, async () => {
    for (const [port, paths] of [[(origin as Origin).port, OPERATOR_ORIGIN], [(peer as PeerNode).port, OPERATOR_PEER]] as const) {
      for (const path of paths) {
        const near = await get(`http://127.0.0.1:${port}${path}`);
        assert.equal(near.status, 200, `loopback ${path}`);
        const far = await get(`http://${external}:${port}${path}`);
        assert.equal(far.status, 403, `${external} ${path}`);
        assert.match(far.body, /^admin pages answer loopback clients only[^\n]*\n$/);
        // A bearer token opens nothing when none was configured.
        assert.equal((await get(`http://${external}:${port}${path}`, { Authorization: `Bearer ${TOKEN}` })).status, 403);
      }
      // What everyone needs stays public.
      assert.equal((await get(`http://${external}:${port}/healthz`)).status, 200);
    }
  });
});

describe('operator pages with --admin-token', () => {
  let origin: Origin | undefined;
  let peer: PeerNode | undefined;
  before(async () => {
    origin = await startTestOrigin({ adminToken: TOKEN });
    peer = await startTestPeer(origin, { adminToken: TOKEN });
  });
  after(async () => {
    await peer?.close();
    await origin?.close();
  });

  test('no token 401, wrong token 403, right token 200, from loopback too', async () => {
    for (const [base, paths] of [[(origin as Origin).url, OPERATOR_ORIGIN], [(peer as PeerNode).url, OPERATOR_PEER]] as const) {
      for (const path of paths) {
        const none = await get(`${base}${path}`);
        assert.equal(none.status, 401, `${path} without a token`);
        assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="p2p-live admin"');
        assert.match(none.body, /^admin token required[^\n]*\n$/, 'one line, no stack');
        const wrong = await get(`${base}${path}`, { Authorization: 'Bearer test-admin-token-0123456780' });
        assert.equal(wrong.status, 403, `${path} with a wrong token`);
        assert.equal(wrong.body, 'wrong admin token\n');
        const right = await get(`${base}${path}`, { Authorization: `Bearer ${TOKEN}` });
        assert.equal(right.status, 200, `${path} with the token`);
      }
      assert.equal((await get(`${base}/healthz`)).status, 200);
    }
    const metrics = await get(`${(origin as Origin).url}/metrics`, { Authorization: `Bearer ${TOKEN}` });
    assert.match(metrics.body, /^# HELP origin_/m);
  });

  test('the dashboard page: ?token= sets an HttpOnly SameSite=Strict cookie that the page\'s polling carries', async () => {
    const base = (origin as Origin).url;
    assert.equal((await get(`${base}/dashboard?token=wrong-token-0123456789`)).status, 403);
    const login = await get(`${base}/dashboard?token=${encodeURIComponent(TOKEN)}`);
    assert.equal(login.status, 303);
    assert.equal(login.headers.get('location'), '/dashboard', 'the token leaves the address bar');
    const setCookie = login.headers.get('set-cookie') ?? '';
    assert.match(setCookie, new RegExp(`^${ADMIN_COOKIE}=[A-Za-z0-9_-]{43}; `));
    for (const attr of ['HttpOnly', 'SameSite=Strict', 'Path=/']) assert.ok(setCookie.split('; ').includes(attr), `cookie lacks ${attr}: ${setCookie}`);
    assert.ok(!setCookie.includes(TOKEN), 'the cookie is not the token');
    const cookie = setCookie.split(';')[0] as string;
    const page = await get(`${base}/dashboard`, { Cookie: cookie });
    assert.equal(page.status, 200, 'page with the cookie');
    assert.match(page.body, /<title>p2p-live dashboard<\/title>/);
    const api = await get(`${base}/api/dashboard`, { Cookie: cookie });
    assert.equal(api.status, 200);
    assert.equal((JSON.parse(api.body) as { streamId: string }).streamId, 'live');
    assert.equal((await get(`${base}/api/dashboard`, { Cookie: `${ADMIN_COOKIE}=AAAA` })).status, 403);
    // The peer node has no login page: a token in the query opens nothing there.
    assert.equal((await get(`${(peer as PeerNode).url}/metrics?token=${encodeURIComponent(TOKEN)}`)).status, 401);
  });
});
