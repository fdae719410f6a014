import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BrowserContext, Page } from 'playwright-core';
import { LOW_LATENCY_SEGMENT_MS } from '../../origin/config.ts';
import type { Origin } from '../../origin/origin.ts';
import { peerConfig } from '../../peer-node/config.ts';
import { type PeerNode, createPeerNode } from '../../peer-node/node.ts';
import { PLAYER_DIR } from '../../peer-node/player-dir.ts';
import { LIVE_LATENCY, LOW_LATENCY } from '../../player/latency.ts';
import { CHROMIUM, launchChromium } from '../../harness/browser.ts';
import { quietLog, startTestOrigin } from '../helpers/origin.ts';
import { ensurePlayerBuilt, playerStats } from '../helpers/player-page.ts';
import { trackerUrl } from '../helpers/swarm.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * The origin in --low-latency mode (0.5 s segments), two peer nodes, and the
 * player page in Debian's Chromium playing one of them with hls.js: it must
 * play, run hls.js's low-latency mode at a live distance of LOW_LATENCY's
 * segments, and show in its panel a latency below what the 2 s segments of
 * player.test.ts aim for (LIVE_LATENCY's target durations of 2 s).
 */
const WATCH_S = 8;
const SEGMENT_S = LOW_LATENCY_SEGMENT_MS / 1000;
const TWO_SECOND_MODE_TARGET_S = LIVE_LATENCY.targetSegments * 2;

describe('the player page in Chromium, playing a low-latency stream from a peer node', { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}` }, () => {
  let origin: Origin | undefined;
  const peers: PeerNode[] = [];
  let context: BrowserContext | undefined;
  let userDataDir: string | undefined;
  let page: Page;
  const errors: string[] = [];

  before(async () => {
    await ensurePlayerBuilt();
    // An even frame rate: --low-latency needs a whole number of frames in 0.5 s.
    origin = await startTestOrigin({ lowLatency: true, fps: 16 });
    for (let i = 0; i < 2; i++) {
      const peer = createPeerNode(peerConfig({ tracker: trackerUrl(origin), port: 0, peerId: `ll-viewer-${i}`, seed: i + 1 }), { log: quietLog, staticDir: PLAYER_DIR });
      peers.push(peer);
      await peer.start();
    }
    userDataDir = await mkdtemp(join(tmpdir(), 'p2p-live-chromium-ll-'));
    context = await launchChromium(userDataDir, { width: 1100, height: 900 });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
    });
    await page.goto(`${(peers[0] as PeerNode).url}/`);
  });

  after(async () => {
    await context?.close();
    await Promise.all(peers.map((p) => p.close()));
    await origin?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  });

  test(`plays with hls.js's low-latency mode at ${LOW_LATENCY.targetSegments} segments behind the edge, and its panel shows a latency under the 2 s mode's ${TWO_SECOND_MODE_TARGET_S} s`, { timeout: 50_000 }, async (t) => {
    await waitFor('the page to start playing', async () => {
      const s = await playerStats(page);
      return s !== null && s.currentTime > 0 && !s.paused && s.phase === 'attached';
    }, 30_000, 250);
    const config = await page.evaluate(() => {
      const c = window.__player?.hls?.config;
      return c ? { lowLatencyMode: c.lowLatencyMode, liveSyncDuration: c.liveSyncDuration ?? null, liveSyncDurationCount: c.liveSyncDurationCount } : null;
    });
    assert.deepEqual(config && { lowLatencyMode: config.lowLatencyMode, liveSyncDuration: config.liveSyncDuration }, {
      lowLatencyMode: true,
      liveSyncDuration: LOW_LATENCY.targetSegments * SEGMENT_S,
    });
    const first = (await playerStats(page))?.currentTime ?? 0;
    const latencies: number[] = [];
    for (let k = 0; k < WATCH_S; k++) {
      // On purpose: a sample a second over WATCH_S seconds of playback is what this test watches.
      await sleep(1000);
      latencies.push((await playerStats(page))?.latencyS ?? Number.NaN);
    }
    const s = await playerStats(page);
    assert.ok(s);
    const advanced = s.currentTime - first;
    const panel = await page.locator('[data-stat="latency"]').getAttribute('data-value');
    const sorted = [...latencies].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
    t.diagnostic(
      `advanced ${advanced.toFixed(1)} s in ${WATCH_S} s; ${s.fragmentsLoaded} fragments; behind the playlist's edge ${latencies.map((l) => l.toFixed(2)).join(', ')} s (panel ${panel}); ` +
        `${s.stalls} stalls (${s.stallMs} ms); p2p ${s.p2pBytes} B, origin ${s.originBytes} B`,
    );
    assert.equal(s.fatalErrors, 0, `fatal hls.js error ${s.lastError}`);
    assert.ok(advanced >= WATCH_S - 3, `currentTime advanced only ${advanced.toFixed(1)} s in ${WATCH_S} s`);
    assert.ok(s.fragmentsLoaded >= 2 * WATCH_S, `hls.js loaded ${s.fragmentsLoaded} fragments: ${SEGMENT_S} s ones, two a second`);
    assert.ok(panel !== null && panel !== '' && Number(panel) > 0, `the panel shows no latency: ${panel}`);
    assert.ok(median > 0 && median < TWO_SECOND_MODE_TARGET_S, `${median.toFixed(2)} s behind the playlist's edge, not under the 2 s mode's ${TWO_SECOND_MODE_TARGET_S} s`);
    assert.deepEqual(errors, [], 'uncaught errors in the page');
  });
});
