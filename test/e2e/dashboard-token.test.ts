/**
 * The dashboard behind --admin-token in Debian's Chromium: a browser cannot
 * put a bearer header on a page load, so `/dashboard?token=…` trades the token
 * for an HttpOnly, SameSite=Strict cookie and redirects to `/dashboard`; the
 * page's polling of `/api/dashboard` then carries the cookie.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { DASHBOARD_DIST_DIR } from '../../origin/dashboard/dist-dir.ts';
import type { DashboardDebugStats } from '../../origin/dashboard/main.ts';
import type { Origin } from '../../origin/origin.ts';
import { ADMIN_COOKIE } from '../../shared/admin-auth.ts';
import { CHROMIUM, launchChromium } from '../../harness/browser.ts';
import { startTestOrigin } from '../helpers/origin.ts';
import { waitFor } from '../helpers/wait.ts';

const TOKEN = 'dashboard-e2e-token-0123456789';

describe('the dashboard behind an admin token, in Chromium', { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}` }, () => {
  let origin: Origin | undefined;
  let context: BrowserContext | undefined;
  let userDataDir: string | undefined;
  let page: Page;

  before(async () => {
    assert.ok(existsSync(join(DASHBOARD_DIST_DIR, 'index.html')), 'dashboard not built: npm run build:dashboard');
    origin = await startTestOrigin({ adminToken: TOKEN });
    userDataDir = await mkdtemp(join(tmpdir(), 'p2p-live-chromium-'));
    context = await launchChromium(userDataDir, { width: 1024, height: 768 });
    page = context.pages()[0] ?? (await context.newPage());
  });

  after(async () => {
    await context?.close();
    await origin?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  });

  test('without the token the page is refused in one line', async () => {
    const res = await page.goto(`${(origin as Origin).url}/dashboard`);
    assert.equal(res?.status(), 401);
    assert.equal((await page.locator('body').innerText()).trim(), 'admin token required: Authorization: Bearer <token>');
  });

  test('?token= opens it: the token leaves the address bar, and the polling carries an HttpOnly SameSite=Strict cookie', { timeout: 60_000 }, async () => {
    const base = (origin as Origin).url;
    const res = await page.goto(`${base}/dashboard?token=${encodeURIComponent(TOKEN)}`);
    assert.equal(res?.status(), 200);
    assert.equal(page.url(), `${base}/dashboard`);
    assert.equal(await page.title(), 'p2p-live dashboard');
    const stats = await waitFor('three answers from /api/dashboard', async () => {
      const s = await page.evaluate(() => window.__dashboard?.stats() ?? null) as DashboardDebugStats | null;
      return s && s.updates >= 3 ? s : undefined;
    }, 30_000, 250);
    assert.equal(stats.failures, 0, `failed polls, last: ${stats.lastError}`);
    // An origin of one channel: no channel table, no channel column.
    assert.deepEqual(stats.channels, ['main']);
    assert.equal(await page.locator('#channels-card').isHidden(), true);
    assert.equal(await page.locator('#peers th.channel-col').isHidden(), true);
    const cookies = await (context as BrowserContext).cookies(base);
    const cookie = cookies.find((c) => c.name === ADMIN_COOKIE);
    assert.ok(cookie, 'no admin cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.notEqual(cookie.value, TOKEN);
    // Scripts on the page cannot read it.
    assert.equal(await page.evaluate(() => document.cookie), '');
  });
});
