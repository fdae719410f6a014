import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BrowserContext, Page } from 'playwright-core';
import type { Origin } from '../../origin/origin.ts';
import type { PeerNode } from '../../peer-node/node.ts';
import { PLAYER_DIR } from '../../peer-node/player-dir.ts';
import { createPeerNode } from '../../peer-node/node.ts';
import { peerConfig } from '../../peer-node/config.ts';
import type { PlayerDebugStats } from '../../player/main.ts';
import { CHROMIUM, launchChromium } from '../../harness/browser.ts';
import { quietLog, startTestOrigin } from '../helpers/origin.ts';
import { ensurePlayerBuilt, playerStats } from '../helpers/player-page.ts';
import { trackerUrl } from '../helpers/swarm.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * hls.js's ABR in Chromium, on a two-rung ladder, from peer nodes on this
 * machine. Without the node's pacing every segment would load at loopback
 * speed and both viewers would climb to the top. One viewer's node has an
 * emulated download of 800 kbit/s (its `--download-kbps`): below what the
 * top rung needs (its BANDWIDTH, ~1.2 Mbit/s), above the bottom one's; the
 * other's is not capped. The first must settle on the bottom rung without a
 * stall, the second reach the top.
 */
const LADDER = '360p=640x360@700,240p=426x240@300';
const CAPPED_KBPS = 800;
/** Playback watched after both viewers started. */
const PLAY_S = 30;
/** The last part of it in which the capped viewer must stay on the bottom rung. */
const SETTLED_S = 12;
/**
 * Stall time that is a loaded machine's hiccup, not a rung the link cannot carry (that stalls ~16 s in 30
 * without pacing). Inside the full `npm test` on this busy 2-core machine a viewer that fits its rung stalled
 * 0.8-1.1 s in 3 of 4 clean-clone runs on 2026-12-02, with stop 25's peer code as with stop 26's, and 0-14 ms alone.
 */
const MAX_HICCUP_MS = 2000;

describe('adaptive bitrate from peer nodes: hls.js sees the viewer\'s link, not loopback', { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}` }, () => {
  let origin: Origin | undefined;
  const peers: PeerNode[] = [];
  let context: BrowserContext | undefined;
  let userDataDir: string | undefined;
  const pages: Page[] = [];
  /** Per viewer, the rendition playing at each second, and the stats at the end. */
  const renditions: (string | null)[][] = [[], []];
  const finals: PlayerDebugStats[] = [];
  const errors: string[][] = [[], []];

  before(async () => {
    await ensurePlayerBuilt();
    origin = await startTestOrigin({ ladder: LADDER, segmentSeconds: 1 });
    for (const [i, downloadKbps] of [CAPPED_KBPS, 0].entries()) {
      const peer = createPeerNode(peerConfig({ tracker: trackerUrl(origin), port: 0, peerId: `abr-viewer-${i}`, seed: i + 1, downloadKbps, maxNeighboursPerAddress: 0 }), {
        log: quietLog,
        staticDir: PLAYER_DIR,
      });
      peers.push(peer);
      await peer.start();
    }
    userDataDir = await mkdtemp(join(tmpdir(), 'p2p-live-abr-chromium-'));
    context = await launchChromium(userDataDir, { width: 1100, height: 900 });
    for (const [i, peer] of peers.entries()) {
      const page = i === 0 ? (context.pages()[0] ?? (await context.newPage())) : await context.newPage();
      page.on('pageerror', (e) => errors[i]?.push(e.message));
      pages.push(page);
      await page.goto(`${peer.url}/`);
    }
    await Promise.all(
      pages.map((page, i) =>
        waitFor(`viewer ${i} to start playing`, async () => {
          const s = await playerStats(page);
          return s !== null && s.currentTime > 0 && !s.paused;
        }, 40_000, 250),
      ),
    );
    for (let k = 0; k < PLAY_S; k++) {
      const now = await Promise.all(pages.map(playerStats));
      now.forEach((s, i) => renditions[i]?.push(s?.rendition ?? null));
      await sleep(1000);
    }
    for (const page of pages) finals.push((await playerStats(page)) as PlayerDebugStats);
  });

  after(async () => {
    await context?.close();
    await Promise.all(peers.map((p) => p.close()));
    await origin?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  });

  test('both viewers see the ladder: two levels, named as the origin names them', (t) => {
    for (const [i, s] of finals.entries()) {
      t.diagnostic(
        `viewer ${i}: renditions by the second ${renditions[i]?.join(' ')}; ${s.switches} switches, ${s.stalls} stalls (${s.stallMs} ms), ` +
          `${s.fragmentsLoaded} fragments; node pace ${peers[i]?.stats().paceBytesPerSec?.toFixed(0)} B/s; shares ${JSON.stringify(s.renditionShares)}`,
      );
      assert.equal(s.levels, 2);
      assert.ok(s.rendition === '360p' || s.rendition === '240p');
      assert.equal(s.fatalErrors, 0, `viewer ${i}: ${s.lastError}`);
      assert.deepEqual(errors[i], []);
    }
  });

  test(`the viewer with ${CAPPED_KBPS} kbit/s settles on the bottom rung, and does not stall`, () => {
    const s = finals[0] as PlayerDebugStats;
    const last = (renditions[0] ?? []).slice(-SETTLED_S);
    assert.deepEqual(last, last.map(() => '240p'), `the last ${SETTLED_S} s: ${last.join(' ')}`);
    // A rung too big for the link stalls for seconds (16 s in 30 without pacing); Chromium beside other
    // test files on two loaded cores may miss a frame's time by tens of ms, which is not that.
    assert.ok(s.stallMs < MAX_HICCUP_MS, `${s.stalls} stalls, ${s.stallMs} ms`);
    assert.equal(peers[0]?.stats().rendition, '240p', 'the node serves the rendition the player is on');
  });

  test('the viewer with ample download reaches the top rung', () => {
    const seen = renditions[1] ?? [];
    assert.ok(seen.includes('360p'), `renditions: ${seen.join(' ')}`);
    assert.equal(finals[1]?.rendition, '360p');
  });

  test("the stats panel names the rendition playing and counts the switches; the node reports each rendition's share", async (t) => {
    for (const [i, page] of pages.entries()) {
      const text = (await page.locator('[data-stat="rendition"]').textContent()) ?? '';
      const detail = (await page.locator('[data-stat="rendition-detail"]').textContent()) ?? '';
      assert.equal(text, finals[i]?.rendition, `viewer ${i}`);
      assert.match(detail, text === '360p' ? /^640×360 · \d\.\d Mbit\/s$/ : /^426×240 · \d+ kbit\/s$/, `viewer ${i}: ${detail}`);
      assert.match((await page.locator('[data-stat="switches"]').textContent()) ?? '', /^\d+$/);
      const shares = (await page.locator('[data-stat="rendition-shares"]').textContent()) ?? '';
      assert.match(shares, /(240p|360p) (\d+(\.\d)? %|–)/, `viewer ${i}: ${shares}`);
      const node = peers[i]?.stats();
      assert.ok(node && node.renditions.length >= 1 && node.renditions.some((r) => r.role === 'active'));
      const shot = `/tmp/abr-e2e-viewer-${i}.png`;
      await page.screenshot({ path: shot, fullPage: true });
      t.diagnostic(`viewer ${i}: panel "${text}", "${detail}", "${shares}"; screenshot ${shot}`);
    }
  });
});
