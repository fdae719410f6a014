import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { BrowserContext, Page } from 'playwright-core';
import type { DashboardSnapshot } from '../../origin/dashboard/api.ts';
import { DASHBOARD_DIST_DIR } from '../../origin/dashboard/dist-dir.ts';
import type { DashboardDebugStats } from '../../origin/dashboard/main.ts';
import type { Origin } from '../../origin/origin.ts';
import type { PeerNode } from '../../peer-node/node.ts';
import { PlaybackModel } from '../../harness/playback-model.ts';
import { startTestOrigin } from '../helpers/origin.ts';
import { originSha, startTestPeer } from '../helpers/swarm.ts';
import { CHROMIUM, launchChromium } from '../../harness/browser.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * The origin's dashboard in Debian's Chromium (playwright-core, no downloaded
 * browser): a real origin on ffmpeg's test pattern, two peer nodes each
 * watched by the playback model of the benchmarks (real HTTP traffic, no
 * browser needed for it), and the page at `/dashboard` charting it live.
 * The origin has a second channel, `news`, with no viewer: the page lists
 * both channels with each one's own figures.
 */
const PEER_IDS = ['viewer-a', 'viewer-b'];
const SCREENSHOT = '/tmp/dashboard-e2e.png';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Builds origin/dashboard/dist unless it is newer than every source of the page (npm test's pretest builds it too). */
async function ensureDashboardBuilt(): Promise<void> {
  const built = join(DASHBOARD_DIST_DIR, 'dashboard.js');
  if (existsSync(join(DASHBOARD_DIST_DIR, 'index.html')) && existsSync(built)) {
    const sources = await Promise.all(
      ['origin/dashboard', 'web'].map(async (dir) => (await readdir(join(ROOT, dir))).filter((f) => /\.(ts|html|css)$/.test(f)).map((f) => join(ROOT, dir, f))),
    );
    const newest = Math.max(...sources.flat().map((f) => statSync(f).mtimeMs));
    if (statSync(built).mtimeMs >= newest) return;
  }
  await promisify(execFile)(process.execPath, ['--import', 'tsx', 'origin/dashboard/build.ts'], { cwd: ROOT, timeout: 60_000 });
}

function debugStats(page: Page): Promise<DashboardDebugStats | null> {
  return page.evaluate(() => window.__dashboard?.stats() ?? null);
}

/** Each table row's numbers, by peer id and column. */
async function tableValues(page: Page): Promise<Map<string, Record<string, number>>> {
  const rows = await page.locator('#peers tbody tr').evaluateAll((trs) =>
    trs.map((tr) => {
      const values: Record<string, number> = {};
      for (const td of tr.querySelectorAll<HTMLElement>('td[data-stat]')) values[td.dataset.stat ?? ''] = Number(td.dataset.value);
      return { id: (tr as HTMLElement).dataset.peerId ?? '', values };
    }),
  );
  return new Map(rows.map((r) => [r.id, r.values]));
}

async function statValue(page: Page, stat: string): Promise<number | null> {
  const v = await page.locator(`[data-stat="${stat}"]`).first().getAttribute('data-value');
  return v === null ? null : Number(v);
}

describe('the origin dashboard in Chromium', { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}` }, () => {
  let origin: Origin | undefined;
  const peers: PeerNode[] = [];
  const players: PlaybackModel[] = [];
  let context: BrowserContext | undefined;
  let userDataDir: string | undefined;
  let page: Page;
  const pageErrors: string[] = [];
  const foreignRequests: string[] = [];

  before(async () => {
    await ensureDashboardBuilt();
    origin = await startTestOrigin({ channel: ['news=testsrc'] });
    const sha = originSha(origin);
    for (const [i, peerId] of PEER_IDS.entries()) {
      const peer = await startTestPeer(origin, { peerId, seed: i + 1 });
      peers.push(peer);
      const player = PlaybackModel.forPeer(peer.url, sha);
      player.start();
      players.push(player);
    }
    userDataDir = await mkdtemp(join(tmpdir(), 'p2p-live-chromium-'));
    context = await launchChromium(userDataDir, { width: 1280, height: 1000 });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    const base = origin.url;
    page.on('request', (r) => {
      if (!r.url().startsWith(`${base}/`) && !/^(blob|data):/.test(r.url())) foreignRequests.push(r.url());
    });
    await page.goto(`${origin.url}/dashboard`);
  });

  after(async () => {
    await context?.close();
    await Promise.all(players.map((p) => p.close()));
    await Promise.all(peers.map((p) => p.close()));
    await origin?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  });

  test('the page is the bundled dashboard, polling the origin', async () => {
    assert.equal(await page.title(), 'p2p-live dashboard');
    for (const id of ['#chart-bytes', '#chart-offload', '#chart-peers', '#chart-segments', '#peers']) {
      assert.equal(await page.locator(id).count(), 1, `${id} missing`);
    }
    const s = await waitFor('a first answer from /api/dashboard', async () => {
      const stats = await debugStats(page);
      return stats && stats.updates > 0 ? stats : undefined;
    }, 20_000, 200);
    assert.equal(s.lastError, null);
    assert.deepEqual(s.channels, ['main', 'news']);
  });

  test("the channels table shows each channel's peers, segments and offload", { timeout: 60_000 }, async () => {
    const o = origin as Origin;
    const row = (name: string, stat: string) => page.locator(`#channels tr[data-channel="${name}"] td[data-stat="${stat}"]`).getAttribute('data-value').then(Number);
    assert.equal(await page.locator('#channels-card').isVisible(), true);
    await waitFor('main with 2 peers and news with none', async () => (await row('main', 'channel-peers')) === 2 && (await row('news', 'channel-peers')) === 0, 20_000, 250);
    await waitFor('segments of both channels', async () => (await row('main', 'channel-segments')) > 0 && (await row('news', 'channel-segments')) > 0, 20_000, 250);
    const main = o.channels.get('main');
    assert.ok(main);
    await waitFor("main's offload equal to what the origin measures for main", async () => (await row('main', 'channel-offload')) === main.offloadRatio(), 30_000, 100);
    assert.equal(await row('news', 'channel-audience'), 0, 'news has no audience');
    assert.equal(await page.locator('#channels tr[data-channel="news"] td[data-stat="channel-offload"]').textContent(), '–');
    assert.deepEqual(await page.locator('#channels tbody tr td:nth-child(2)').allTextContents(), ['/live/index.m3u8', '/live/news/index.m3u8']);
  });

  test('the charts draw live samples, and keep adding them', { timeout: 90_000 }, async (t) => {
    await waitFor('10 samples in the egress chart', async () => Number(await page.locator('#chart-bytes').getAttribute('data-points')) >= 10, 60_000, 250);
    type Line = { series: string; d: string; points: number };
    // Each chart read in one go: the page redraws every second.
    const linesOf = (id: string): Promise<Line[]> =>
      page.locator(`${id} path.line`).evaluateAll((ps) => ps.map((p) => ({ series: p.getAttribute('data-series') ?? '', d: p.getAttribute('d') ?? '', points: Number(p.getAttribute('data-points')) })));
    for (const id of ['#chart-bytes', '#chart-offload', '#chart-peers', '#chart-segments']) {
      const lines = await linesOf(id);
      assert.ok(lines.length > 0, `${id}: no line`);
      const first = lines[0] as Line;
      assert.match(first.d, /^M[\d.]+ [\d.]+([LHV][\d. ]+)+$/, `${id}: path ${first.d.slice(0, 80)}`);
      assert.ok(first.points >= 2, `${id}: ${first.points} points`);
      const labels = await page.locator(`${id} text`).allTextContents();
      assert.ok(labels.length >= 5, `${id}: ${labels.length} axis labels`);
    }
    const bytes = await linesOf('#chart-bytes');
    assert.deepEqual(bytes.map((l) => l.series), ['p2p', 'origin', 'origin-http']);
    const before = (bytes[0] as Line).points;
    for (const l of bytes) {
      assert.equal(l.points, before, `${l.series}: as many points as the others`);
      // Rates are never missing: one unbroken line, a move then a draw to each further point.
      assert.equal((l.d.match(/M/g) ?? []).length, 1, `${l.series}: broken line`);
      assert.equal((l.d.match(/L/g) ?? []).length, l.points - 1, `${l.series}: ${l.points} points, path ${l.d.slice(0, 80)}`);
    }
    // The origin sends the stream into the swarm (seeding at least), so its egress line leaves zero.
    const egress = (bytes[1] as Line).d;
    const ys = [...egress.matchAll(/[ML][\d.]+ ([\d.]+)/g)].map((m) => Number(m[1]));
    assert.ok(new Set(ys).size > 1, `the origin egress line is flat: ${egress.slice(0, 120)}`);
    await waitFor('more samples', async () => Number(await page.locator('#chart-bytes').getAttribute('data-points')) >= before + 3, 30_000, 250);
    t.diagnostic(`egress chart: ${before} points, then more`);
  });

  test('the cards show what the origin counts, and they move', { timeout: 60_000 }, async (t) => {
    const o = origin as Origin;
    // Over both channels, as the cards are.
    const metric = async (c: { get(): Promise<{ values: { value: number }[] }> }) => (await c.get()).values.reduce((n, v) => n + v.value, 0);
    await waitFor('2 peers in the card', async () => (await statValue(page, 'peers')) === 2, 20_000, 250);
    // The page polls once a second and peers report every 2 s: the card and the counter agree between two reports.
    for (const [stat, counter] of [
      ['p2p-bytes', o.metrics.peerP2pBytes],
      ['segments', o.metrics.segmentsPublished],
      ['stalls', o.metrics.peerStalls],
      ['hash-failures', o.metrics.peerHashFailures],
    ] as const) {
      await waitFor(`the ${stat} card to equal the origin's counter`, async () => (await statValue(page, stat)) === (await metric(counter)), 30_000, 100);
    }
    const seg0 = (await statValue(page, 'segments')) ?? 0;
    assert.ok(seg0 > 0, `segments ${seg0}`);
    await waitFor('the segments card to grow', async () => ((await statValue(page, 'segments')) ?? 0) > seg0, 20_000, 250);
    const egress = await waitFor('origin egress in the card', async () => {
      const v = await statValue(page, 'egress');
      return v !== null && v > 0 ? v : undefined;
    }, 20_000, 250);
    const offload = await waitFor("the offload card to equal the origin's measured ratio", async () => {
      const v = await statValue(page, 'offload-total');
      return v !== null && v === o.offloadRatio() ? v : undefined;
    }, 30_000, 100);
    await waitFor('both peers reachable in the card', async () => (await statValue(page, 'peers-reachable')) === 2, 20_000, 250);
    assert.equal(await statValue(page, 'peers-unreachable'), 0);
    assert.ok(offload >= 0 && offload <= 1, `offload since start ${offload}`);
    assert.match((await page.locator('[data-stat="egress"]').textContent()) ?? '', /^\d+(\.\d+)? (bit|kbit|Mbit)\/s$/);
    assert.equal(await page.locator('#status').getAttribute('data-state'), 'live');
    t.diagnostic(`offload since start ${(offload * 100).toFixed(1)} %, ${seg0}+ segments, origin egress ${Math.round((egress * 8) / 1000)} kbit/s`);
  });

  test('the peers table shows both peers with live numbers that change', { timeout: 90_000 }, async (t) => {
    // Each peer has the other as neighbour and receives the stream, from the other peer or from the origin.
    const first = await waitFor('both peers in the table, each with a neighbour and bytes coming in', async () => {
      const rows = await tableValues(page);
      const ok = rows.size === PEER_IDS.length && PEER_IDS.every((id) => {
        const r = rows.get(id);
        return r !== undefined && (r.neighbours ?? 0) >= 1 && (r['p2p-rate'] ?? 0) + (r['origin-rate'] ?? 0) > 0;
      });
      return ok ? rows : undefined;
    }, 45_000, 500);
    const api = (await (await fetch(`${(origin as Origin).url}/api/dashboard`)).json()) as DashboardSnapshot;
    for (const id of PEER_IDS) {
      const row = first.get(id) as Record<string, number>;
      const rec = (origin as Origin).tracker.registry.get(id);
      assert.ok(rec, `${id} not joined`);
      assert.equal(row.joined, rec.joinedAtMs, `${id}: connected since`);
      for (const k of ['p2p-rate', 'origin-rate', 'upload-rate', 'stalls', 'stall-ms', 'hash-failures']) {
        assert.ok(Number.isFinite(row[k]) && (row[k] as number) >= 0, `${id}: ${k} = ${row[k]}`);
      }
      assert.equal(row['hash-failures'], 0, `${id}: bad pieces between honest peers`);
      assert.ok(api.peers.some((p) => p.peerId === id), `${id} not in /api/dashboard`);
    }
    const texts = await page.locator('#peers tbody tr').first().locator('td').allTextContents();
    assert.equal(texts.length, 11);
    assert.equal(texts[0], 'main', 'the channel it watches, shown since the origin has two');
    assert.equal(await page.locator('#peers th.channel-col').isVisible(), true);
    assert.equal(texts[2], 'yes', 'an honest peer is reachable');
    assert.match(texts[4] ?? '', /bit\/s$/);
    assert.match(texts[10] ?? '', /^\d\d:\d\d:\d\d \(.+\)$/);
    const snapshot = JSON.stringify([...first]);
    const changed = await waitFor('the table numbers to change', async () => {
      const now = await tableValues(page);
      const changedRows = PEER_IDS.filter((id) => {
        const a = first.get(id) ?? {};
        const b = now.get(id) ?? {};
        return ['p2p-rate', 'origin-rate', 'upload-rate'].some((k) => a[k] !== b[k]);
      });
      return changedRows.length === PEER_IDS.length ? now : undefined;
    }, 20_000, 500);
    t.diagnostic(`table then: ${snapshot}`);
    t.diagnostic(`table now:  ${JSON.stringify([...changed])}`);
  });

  test('no errors in the page, and nothing loaded from elsewhere', async () => {
    const s = await debugStats(page);
    assert.ok(s);
    assert.equal(s.failures, 0, `failed polls, last: ${s.lastError}`);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(foreignRequests, []);
  });

  test('screenshot', async (t) => {
    // The charts already hold the 13+ samples the test above waited for: enough length to look at, no wait.
    const png = await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], 'a PNG');
    t.diagnostic(`screenshot: ${SCREENSHOT}`);
    const ended = await Promise.all(players.map((p) => p.current()));
    t.diagnostic(`playback models: ${ended.map((r) => `${r.segmentsDue} due, ${r.stalls} stalls, ${r.corrupt} corrupt`).join('; ')}`);
    assert.ok(ended.every((r) => r.corrupt === 0));
  });
});
