/**
 * Crashes and restarts, every program as a process of its own: ffmpeg killed
 * under the origin, the origin killed and started again on the same port, a
 * peer killed and started again with the same port and id. Three peer nodes
 * with emulated links play throughout, each watched by a PlaybackModel.
 *
 * The test learns what the origin published by joining the tracker itself
 * (as a free-rider with no address, so nobody seeds or dials it), and checks
 * every segment any player received against those announcements.
 *
 * The origin restart runs first, while the players still have the buffer they
 * started with (a player never re-buffers after a stall, so after the ffmpeg
 * restart it would play at the live edge with nothing in hand).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Server, createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocketServer } from 'ws';
import { PlaybackModel, type PlaybackResult } from '../../harness/playback-model.ts';
import { TrackerWatch } from '../../harness/tracker-watch.ts';
import { decodePeerToTracker } from '../../shared/tracker-protocol.ts';
import { type Started, childPids, isAlive, startScript, stopProcess, waitForOutput } from '../../harness/process.ts';
import { ensurePeerBundle } from '../../harness/peer-bundle.ts';
import { waitFor } from '../helpers/wait.ts';

/** The origin's signing key, made by its first run and read by the second: peers pin it on first use and refuse any other. */
const KEY_DIR = mkdtempSync(join(tmpdir(), 'p2p-restart-'));
const ORIGIN_FLAGS = ['--width', '320', '--height', '180', '--fps', '15', '--video-kbps', '300', '--signing-key', join(KEY_DIR, 'origin-key.pem')];
const PEER_FLAGS = ['--max-neighbours-per-address', '0', '--upload-kbps', '900', '--latency-ms', '20'];
const PEER_IDS = ['p0', 'p1', 'p2'];
/** How long the origin stays down; meanwhile a stand-in tracker on its port records reconnection attempts. */
const DOWN_MS = 4000;
/** How long players are watched once they play again. */
const RESUMED_WATCH_MS = 10_000;


/** True while `pid` runs; a zombie (dead, not yet reaped by whoever adopted it) counts as gone. */
function running(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

interface Peer {
  id: string;
  port: number;
  url: string;
  p: Started;
  model: PlaybackModel;
}

/** Starts the origin on `port` (0: any free one, read back from what it prints). */
async function startOrigin(port: number): Promise<{ p: Started; port: number }> {
  const p = startScript('origin/main.ts', ['--port', String(port), ...ORIGIN_FLAGS]);
  const [, url] = await waitForOutput(p, /playlist\s+(http\S+)/);
  return { p, port: Number(new URL(url as string).port) };
}

async function startPeer(trackerUrl: string, id: string, port: number): Promise<{ p: Started; url: string }> {
  const p = startScript(await ensurePeerBundle(), ['--tracker', trackerUrl, '--port', String(port), '--peer-id', id, ...PEER_FLAGS]);
  const [, url] = await waitForOutput(p, /player\s+(http:\/\/\S+?)\/?$/m);
  return { p, url: url as string };
}

async function json<T>(url: string): Promise<T> {
  return (await (await fetch(url, { signal: AbortSignal.timeout(3000) })).json()) as T;
}

type Stats = { trackerConnected: boolean; neighbours: number; p2pBytes: number };

/** Segments a model received that the origin did not announce with those exact bytes. */
function unverified(r: PlaybackResult, known: TrackerWatch): string[] {
  return r.digests.filter((d) => known.sha(d.seq) !== d.sha256).map((d) => `seq ${d.seq}`);
}

/** Each listed segment of a playlist with the tags before it. */
function playlistEntries(text: string): { seq: number; discontinuity: boolean }[] {
  const out: { seq: number; discontinuity: boolean }[] = [];
  let disc = false;
  for (const line of text.split('\n')) {
    if (line === '#EXT-X-DISCONTINUITY') disc = true;
    const m = /seg-(\d+)\.ts$/.exec(line);
    if (m) {
      out.push({ seq: Number(m[1]), discontinuity: disc });
      disc = false;
    }
  }
  return out;
}

describe('crashes and restarts of ffmpeg, the origin and a peer', () => {
  let originPort: number;
  let trackerUrl: string;
  let originUrl: string;
  let origin: Started;
  const everyOrigin: Started[] = [];
  const peers: Peer[] = [];
  const everyPeer: Started[] = [];
  const retired: PlaybackModel[] = [];
  let known: TrackerWatch;
  /** Each peer's successive playlists from the origin restart on. */
  const playlistsAcrossRestart = new Map<string, string[]>();
  let lastOldSeq = -1;
  /** First segment of the origin now running. */
  let originFirstSeq = -1;
  let firstNewSeq = -1;
  /** Recorded by the fixture across the origin's restart: joins the stand-in saw, and each player at each step. */
  const attempts = new Map<string, number[]>();
  let atKill = new Map<string, PlaybackResult>();
  let duringOutage = new Map<string, PlaybackResult>();
  const resumedAt = new Map<string, PlaybackResult>();
  let afterWatch = new Map<string, PlaybackResult>();
  let rejoinedMs = -1;
  let trackerPeersAfterRejoin = -1;

  before(async () => {
    // Port 0 and read back: a port picked free and reused later can be taken in between.
    ({ p: origin, port: originPort } = await startOrigin(0));
    everyOrigin.push(origin);
    originUrl = `http://127.0.0.1:${originPort}`;
    trackerUrl = `ws://127.0.0.1:${originPort}/tracker`;
    known = new TrackerWatch(trackerUrl, { peerId: 'test-watcher' });
    await waitFor('3 segments', () => known.bySeq.size >= 3, 30_000);
    originFirstSeq = Math.min(...known.bySeq.keys());
    const started = await Promise.all(PEER_IDS.map((id) => startPeer(trackerUrl, id, 0)));
    started.forEach(({ p, url }, i) => {
      everyPeer.push(p);
      const model = PlaybackModel.forPeer(url, known.sha);
      model.start();
      peers.push({ id: PEER_IDS[i] as string, port: Number(new URL(url).port), url, p, model });
    });
    await waitFor('every player playing', () => peers.every((x) => x.model.current().segmentsDue >= 3), 30_000);

    // The origin killed and restarted on its port: what every player and peer did is recorded here, and the
    // first two tests judge it, each on its own (the later tests act on the swarm this leaves running).
    atKill = new Map(peers.map((x) => [x.id, x.model.current()]));
    lastOldSeq = known.newest;
    const oldPids = [origin.child.pid as number, ...(await childPids(origin.child.pid as number))];
    origin.child.kill('SIGKILL');
    await origin.exited;
    const killedAt = Date.now();

    // A stand-in on the origin's port: it accepts tracker connections, notes each join, and hangs up.
    const standIn: Server = createServer((_req, res) => res.writeHead(503).end());
    const wss = new WebSocketServer({ noServer: true });
    standIn.on('upgrade', (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('error', () => undefined);
        ws.on('message', (data) => {
          const m = decodePeerToTracker(data.toString());
          if (m.ok && m.value.type === 'join' && m.value.peerId !== 'test-watcher') {
            attempts.set(m.value.peerId, [...(attempts.get(m.value.peerId) ?? []), Date.now() - killedAt]);
          }
          ws.close(1013, 'try again later');
        });
      }),
    );
    await new Promise<void>((resolve) => standIn.listen(originPort, '127.0.0.1', resolve));
    for (const pid of oldPids) await waitFor(`pid ${pid} gone with the origin`, () => !running(pid), 3000);
    await waitFor('every peer to see the tracker gone', async () => {
      const s = await Promise.all(peers.map((x) => json<Stats>(`${x.url}/api/stats`)));
      return s.every((v) => !v.trackerConnected);
    }, 3000);
    // On purpose: the origin stays down DOWN_MS, long enough to see the peers' backoff.
    await sleep(DOWN_MS - (Date.now() - killedAt));
    for (const ws of wss.clients) ws.terminate();
    standIn.closeAllConnections();
    await new Promise((resolve) => standIn.close(resolve));
    duringOutage = new Map(peers.map((x) => [x.id, x.model.current()]));

    ({ p: origin } = await startOrigin(originPort));
    everyOrigin.push(origin);
    const restartedAt = Date.now();
    // Keep every peer's playlist, as a player reloads it, from the restart until the old stream has left it:
    // a peer that rejoins early may carry its player onto the new stream before the slowest one rejoins.
    let capturing = true;
    const capture = (async () => {
      while (capturing) {
        for (const x of peers) {
          const text = await (await fetch(`${x.url}/live.m3u8`, { signal: AbortSignal.timeout(3000) })).text();
          const list = playlistsAcrossRestart.get(x.id) ?? [];
          if (list.at(-1) !== text) list.push(text);
          playlistsAcrossRestart.set(x.id, list);
        }
        // Sampling, as a player reloads its playlist.
        await sleep(250);
      }
    })();

    try {
      await waitFor('the new origin announcing', () => known.newest > lastOldSeq, 30_000);
      await waitFor('every peer rejoined', async () => {
        const s = await Promise.all(peers.map((x) => json<Stats>(`${x.url}/api/stats`)));
        return s.every((v) => v.trackerConnected);
      }, 20_000);
      rejoinedMs = Date.now() - restartedAt;
      trackerPeersAfterRejoin = (await json<{ peers: number }>(`${originUrl}/healthz`)).peers;
      firstNewSeq = Math.min(...[...known.bySeq.keys()].filter((s) => s > lastOldSeq));
      originFirstSeq = firstNewSeq;

      // Players reach the new stream, then play it for a while.
      await waitFor('every player on the new stream', () => {
        for (const x of peers) {
          const r = x.model.current();
          if (!resumedAt.has(x.id) && r.digests.some((d) => d.seq >= firstNewSeq)) resumedAt.set(x.id, r);
        }
        return resumedAt.size === peers.length;
      }, 40_000);
      // On purpose: the players must play the new stream for a while, and the old stream leave the playlists.
      await sleep(RESUMED_WATCH_MS);
    } finally {
      capturing = false;
      await capture;
    }
    afterWatch = new Map(peers.map((x) => [x.id, x.model.current()]));
  });

  after(async () => {
    await Promise.all([...peers.map((x) => x.model.close()), ...retired.map((m) => m.close())]);
    known?.close();
    await Promise.all([...everyPeer, ...everyOrigin].map((p) => stopProcess(p)));
    for (const p of [...everyPeer, ...everyOrigin]) assert.ok(!isAlive(p.child.pid as number), `pid ${p.child.pid} left running`);
    rmSync(KEY_DIR, { recursive: true, force: true });
  });

  test('the origin killed and restarted on its port: peers play on from the swarm, rejoin with backoff, and play the new stream', (t) => {
    assert.equal(trackerPeersAfterRejoin, PEER_IDS.length + 1, 'the tracker counts every peer and the watcher');
    for (const [id, times] of attempts) t.diagnostic(`${id} tried the tracker at ${times.join(', ')} ms after the kill`);
    t.diagnostic(`old stream ended at seq ${lastOldSeq}, new one starts at ${firstNewSeq}; peers rejoined ${rejoinedMs} ms after the origin was back`);
    for (const x of peers) {
      const [k, o, r, now] = [atKill.get(x.id), duringOutage.get(x.id), resumedAt.get(x.id), afterWatch.get(x.id)] as [PlaybackResult, PlaybackResult, PlaybackResult, PlaybackResult];
      t.diagnostic(
        `${x.id}: at kill ${k.segmentsOnTime}/${k.segmentsDue} on time, ${k.failed} failed; ` +
          `by the restart ${o.segmentsOnTime}/${o.segmentsDue}, ${o.failed} failed; ` +
          `on the new stream ${r.segmentsOnTime}/${r.segmentsDue}, ${r.failed} failed, ${r.stalls} stalls; ` +
          `${RESUMED_WATCH_MS} ms later ${now.segmentsOnTime}/${now.segmentsDue}, ${now.failed} failed, ${now.stalls} stalls`,
      );
    }

    // Backoff: each peer retried, and each wait was about twice the one before (0.5 s, 1 s, 2 s...).
    assert.deepEqual([...attempts.keys()].sort(), PEER_IDS, 'every peer tried to reconnect');
    for (const [id, times] of attempts) {
      assert.ok(times.length >= 2 && times.length <= 4, `${id} tried ${times.length} times in ${DOWN_MS} ms`);
      const gaps = times.slice(1).map((v, i) => v - (times[i] as number));
      for (let i = 1; i < gaps.length; i++) assert.ok((gaps[i] as number) >= 1.5 * (gaps[i - 1] as number), `${id} retried after ${gaps.join(', ')} ms`);
    }
    for (const x of peers) {
      const [k, o, r, now] = [atKill.get(x.id), duringOutage.get(x.id), resumedAt.get(x.id), afterWatch.get(x.id)] as [PlaybackResult, PlaybackResult, PlaybackResult, PlaybackResult];
      // Played on from what the swarm already held: every segment listed before the kill, on time, none refused.
      assert.ok(o.segmentsDue - k.segmentsDue >= 1, `${x.id} played nothing after the kill`);
      assert.equal(o.segmentsOnTime - k.segmentsOnTime, o.segmentsDue - k.segmentsDue, `${x.id} stalled while the origin was down`);
      assert.equal(o.failed, k.failed, `${x.id} was refused segments while the origin was down`);
      // And the new stream without a single failure, every segment as the new origin published it.
      assert.equal(now.failed, r.failed, `${x.id} was refused segments of the new stream`);
      assert.ok(now.segmentsDue - r.segmentsDue >= RESUMED_WATCH_MS / 1000 - 2, `${x.id} played ${now.segmentsDue - r.segmentsDue} new segments`);
      assert.equal(now.corrupt, 0);
      assert.deepEqual(unverified(now, known), [], `${x.id} received segments the origin did not announce`);
    }
  });

  test(
    "a peer's playlist carries the player across the restarted origin's jump in numbers: EXT-X-DISCONTINUITY, steady media sequence",
    () => {
      assert.ok(firstNewSeq > lastOldSeq + 1, `a restarted origin numbers on from its clock: ${lastOldSeq} then ${firstNewSeq}`);
      for (const [id, playlists] of playlistsAcrossRestart) {
        const spanning = playlists.filter((text) => {
          const seqs = playlistEntries(text).map((e) => e.seq);
          return seqs.some((v) => v <= lastOldSeq) && seqs.some((v) => v >= firstNewSeq);
        });
        assert.ok(spanning.length > 0, `${id}: some playlist listed both streams`);
        for (const text of spanning) {
          const first = playlistEntries(text).find((e) => e.seq >= firstNewSeq);
          assert.equal(first?.discontinuity, true, `${id}: no discontinuity before seg-${first?.seq}:\n${text}`);
        }
        // RFC 8216 6.2.2: a segment keeps its media sequence number (EXT-X-MEDIA-SEQUENCE + position)
        // and its discontinuity sequence number (EXT-X-DISCONTINUITY-SEQUENCE + tags up to it) in every reload.
        const msn = new Map<number, number>();
        const dsn = new Map<number, number>();
        for (const text of playlists) {
          const base = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1]);
          let d = Number(/#EXT-X-DISCONTINUITY-SEQUENCE:(\d+)/.exec(text)?.[1]);
          playlistEntries(text).forEach((e, i) => {
            if (e.discontinuity) d++;
            const [m0, d0] = [msn.get(e.seq), dsn.get(e.seq)];
            assert.ok(m0 === undefined || m0 === base + i, `${id}: seg-${e.seq} was media sequence ${m0}, now ${base + i}:\n${text}`);
            assert.ok(d0 === undefined || d0 === d, `${id}: seg-${e.seq} was discontinuity sequence ${d0}, now ${d}:\n${text}`);
            msn.set(e.seq, base + i);
            dsn.set(e.seq, d);
          });
        }
        assert.ok(!playlists.at(-1)?.includes(`seg-${lastOldSeq}.ts`), `${id}: the old stream never left the playlist`);
      }
    },
  );

  test('ffmpeg killed: ingest restarts, numbering continues with a discontinuity, players carry on', async (t) => {
    const [ffmpeg, ...others] = await waitFor('ffmpeg', async () => {
      const kids = await childPids(origin.child.pid as number);
      return kids.length > 0 ? kids : undefined;
    });
    assert.ok(ffmpeg !== undefined && others.length === 0, 'the origin runs exactly one ffmpeg');
    const before = known.newest;
    process.kill(ffmpeg, 'SIGKILL');
    await waitFor('the old ffmpeg gone', () => !running(ffmpeg), 5000);
    const resumed = await waitFor('a segment of the new ingest run', () => [...known.bySeq.values()].find((s) => s.seq > before && s.discontinuity), 30_000);
    const [next, ...extra] = await childPids(origin.child.pid as number);
    assert.ok(next !== undefined && next !== ffmpeg && extra.length === 0, `one new ffmpeg, got ${[next, ...extra].join(',')}`);
    const seqs = [...known.bySeq.keys()].filter((v) => v >= originFirstSeq).sort((a, b) => a - b);
    assert.deepEqual(seqs, seqs.map((_, i) => (seqs[0] as number) + i), 'numbering continues: no gap, no reuse');
    assert.equal(resumed.seq, before + 1, 'the first new segment follows the last old one');
    const metrics = await (await fetch(`${originUrl}/metrics`)).text();
    assert.match(metrics, /^origin_ingest_restarts_total\{channel="main"\} 1$/m);

    // Each peer marks the restart for its player, and each player goes on past it without a failure.
    for (const x of peers) {
      await waitFor(`${x.id} to list the new run`, async () => {
        const entry = playlistEntries(await (await fetch(`${x.url}/live.m3u8`)).text()).find((e) => e.seq === resumed.seq);
        return entry?.discontinuity === true;
      }, 20_000);
    }
    await waitFor('every player past the restart', () => peers.every((x) => x.model.current().digests.some((d) => d.seq > resumed.seq)), 20_000);
    for (const x of peers) {
      const r = x.model.current();
      t.diagnostic(`${x.id}: ${r.segmentsOnTime}/${r.segmentsDue} on time, ${r.stalls} stalls, ${r.failed} failed`);
      assert.equal(r.failed, 0, `${x.id} was refused segments`);
      assert.equal(r.corrupt, 0);
      assert.deepEqual(unverified(r, known), [], `${x.id} received segments the origin did not announce`);
    }
  });

  test('a peer killed and restarted with the same port and id is taken back at once, finds neighbours and plays', async (t) => {
    const victim = peers.find((x) => x.id === 'p2') as Peer;
    const survivors = peers.filter((x) => x !== victim);
    const survivorsBefore = new Map(survivors.map((x) => [x.id, x.model.current()]));
    retired.push(victim.model);
    const before = (await json<{ peers: number }>(`${originUrl}/healthz`)).peers;
    victim.p.child.kill('SIGKILL');
    const killedAt = Date.now();
    await waitFor('the tracker to drop the dead peer', async () => (await json<{ peers: number }>(`${originUrl}/healthz`)).peers === before - 1, 15_000, 20);
    const droppedMs = Date.now() - killedAt;
    await victim.p.exited;
    assert.ok(!isAlive(victim.p.child.pid as number));

    const again = await startPeer(trackerUrl, victim.id, victim.port);
    everyPeer.push(again.p);
    assert.equal(again.url, victim.url, 'same address as before');
    const restartedAt = Date.now();
    await waitFor('the restarted peer rejoined', async () => (await json<Stats>(`${again.url}/api/stats`)).trackerConnected, 10_000);
    const rejoinedMs = Date.now() - restartedAt;
    await waitFor('the restarted peer to have neighbours', async () => (await json<Stats>(`${again.url}/api/stats`)).neighbours >= 1, 15_000);
    const model = PlaybackModel.forPeer(again.url, known.sha);
    model.start();
    Object.assign(victim, { p: again.p, model });
    // Until it has played 8 segments with bytes from its neighbours, rather than a fixed 12 s: the same proof, bounded.
    await waitFor('the restarted peer to play 8 segments from the swarm', async () => model.current().segmentsDue >= 8 && (await json<Stats>(`${again.url}/api/stats`)).p2pBytes > 0, 20_000, 250);
    const r = model.current();
    const stats = await json<Stats>(`${again.url}/api/stats`);
    t.diagnostic(`tracker dropped the dead peer ${droppedMs} ms after SIGKILL; restarted peer rejoined ${rejoinedMs} ms after start`);
    t.diagnostic(`restarted peer: ${stats.neighbours} neighbours, ${stats.p2pBytes} B from peers, ${r.segmentsOnTime}/${r.segmentsDue} on time, ${r.failed} failed`);

    assert.ok(droppedMs < 2000, `the tracker took ${droppedMs} ms to drop a peer whose socket closed`);
    assert.doesNotMatch(again.p.stderr(), /PEER_ID_TAKEN|refused/, 'the tracker refused the restarted peer');
    assert.equal((await json<{ peers: number }>(`${originUrl}/healthz`)).peers, before);
    assert.ok(stats.p2pBytes > 0, 'the restarted peer receives from its neighbours');
    assert.ok(r.segmentsDue >= 8, `restarted peer played ${r.segmentsDue} segments`);
    assert.equal(r.failed, 0);
    assert.equal(r.corrupt, 0);
    for (const x of survivors) {
      const b = survivorsBefore.get(x.id) as PlaybackResult;
      const now = x.model.current();
      assert.equal(now.failed, b.failed, `${x.id} was refused segments while a neighbour restarted`);
      assert.deepEqual(unverified(now, known), []);
    }
  });
});
