/**
 * Graceful shutdown of the two programs, as processes: SIGTERM stops
 * accepting, says goodbye on every link (neighbours see close 1001, the
 * tracker sees a `leave`, tracker clients see 1001), stops ffmpeg, and exits 0
 * within a few seconds, leaving no process behind.
 *
 * The test stands in for the other parties so it sees exactly what they see:
 * a tracker client, a neighbour the peer dials (listed in the tracker), and a
 * neighbour that dials the peer. An origin whose ffmpeg waits for an RTMP
 * broadcaster shows that ffmpeg is stopped, not left to die of failed uploads
 * (one on the test pattern would: its next upload to a dead origin fails).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket, WebSocketServer } from 'ws';
import { PROTOCOL_VERSION } from '../../shared/limits.ts';
import { decodeTrackerToPeer, encodePeerToTracker } from '../../shared/tracker-protocol.ts';
import { decodeWire, encodeWire } from '../../shared/wire-protocol.ts';
import { type Started, childPids, isAlive, startScript, stopProcess, waitForOutput } from '../../harness/process.ts';
import { ensurePeerBundle } from '../../harness/peer-bundle.ts';
import { waitFor, waitUntil } from '../helpers/wait.ts';
import { listening, portForFfmpegRtmpListener } from '../../harness/ports.ts';

const LIGHT = ['--width', '320', '--height', '180', '--fps', '15', '--video-kbps', '300'];
/** "A few seconds": the longest a SIGTERMed program may take to exit. */
const EXIT_WITHIN_MS = 4000;
/** Time allowed for a signal to reach a busy program's handler. */
const SIGNAL_HANDLED_MS = 250;

interface Closed {
  code: number;
  reason: string;
}

/** A WebSocket the test holds: records text messages and how it was closed. */
function watch(ws: WebSocket) {
  const texts: string[] = [];
  const binaries: Uint8Array[] = [];
  const closed = new Promise<Closed>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('error', () => undefined);
  ws.on('message', (data, isBinary) => {
    const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
    if (isBinary) binaries.push(new Uint8Array(buf));
    else texts.push(buf.toString());
  });
  return { ws, texts, binaries, closed };
}

/** Joins the tracker as `peerId`; resolves once welcomed. */
async function joinTracker(trackerUrl: string, peerId: string, url: string | null) {
  const c = watch(new WebSocket(trackerUrl));
  await new Promise<void>((resolve, reject) => {
    c.ws.once('open', () => resolve());
    c.ws.once('error', reject);
  });
  c.ws.send(encodePeerToTracker({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId, url, uploadKbps: 0 }));
  await waitFor(`${peerId} welcomed`, () => c.texts.some((t) => t.includes('"welcome"')));
  return c;
}

function handshake(peerId: string): Uint8Array {
  return encodeWire({ type: 'handshake', version: PROTOCOL_VERSION, streamId: 'live', peerId });
}

function isHandshakeFrom(frame: Uint8Array, peerId: string): boolean {
  const d = decodeWire(frame);
  return d.ok && d.value.type === 'handshake' && d.value.peerId === peerId;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** True while `pid` runs; a zombie (dead, not yet reaped by whoever adopted it) counts as gone. */
function running(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function tcpRefused(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

async function leavesCounted(originUrl: string): Promise<number> {
  const text = await (await fetch(`${originUrl}/metrics`)).text();
  const m = /^origin_tracker_messages_total\{channel="main",type="leave",direction="in"\} (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

async function healthPeers(originUrl: string): Promise<number> {
  return ((await (await fetch(`${originUrl}/healthz`)).json()) as { peers: number }).peers;
}

/** Every ffmpeg an origin of this file ran: none may outlive the file. */
const ffmpegs: number[] = [];

/** An origin on the test pattern, or listening for RTMP on `rtmpPort`; resolves once its ffmpeg is at work. */
async function startOrigin(rtmpPort: number | null = null): Promise<{ p: Started; url: string; ffmpeg: number[] }> {
  const source = rtmpPort === null ? [] : ['--source', `rtmp://127.0.0.1:${rtmpPort}/live/shutdown-test-key`];
  const p = startScript('origin/main.ts', ['--port', '0', ...LIGHT, ...source]);
  const [, playlist] = await waitForOutput(p, /playlist\s+(http\S+)/);
  const url = (playlist as string).replace(/\/live\/index\.m3u8$/, '');
  // Only then is the child ffmpeg itself, not one of the capability probes fluent-ffmpeg runs first.
  // (An RTMP listener is not probed by connecting: ffmpeg -listen 1 takes one client and fails with it.)
  if (rtmpPort === null) await waitFor('a first segment', async () => (await fetch(`${url}/live/index.m3u8`)).status === 200, 30_000);
  else await waitFor('ffmpeg listening for RTMP', () => listening(rtmpPort), 15_000);
  const ffmpeg = await waitFor('ffmpeg', async () => {
    const kids = await childPids(p.child.pid as number);
    return kids.length > 0 ? kids : undefined;
  });
  ffmpegs.push(...ffmpeg);
  return { p, url, ffmpeg };
}


async function startPeer(trackerUrl: string, peerId: string): Promise<Started> {
  return startScript(await ensurePeerBundle(), ['--tracker', trackerUrl, '--port', '0', '--peer-id', peerId, '--max-neighbours-per-address', '0', '--upload-kbps', '900', '--latency-ms', '20']);
}

async function peerUrl(p: Started): Promise<string> {
  const [, url] = await waitForOutput(p, /player\s+(http:\/\/\S+?)\/?$/m);
  return url as string;
}

describe('graceful shutdown on SIGTERM', () => {
  const started: Started[] = [];
  const servers: Server[] = [];
  const sockets: WebSocket[] = [];

  after(async () => {
    for (const ws of sockets) ws.terminate();
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
    await Promise.all(started.map((p) => stopProcess(p)));
    const all = [...started.map((p) => p.child.pid as number), ...ffmpegs];
    await waitUntil(() => !all.some(running), 3000, 20);
    const left = all.filter(running);
    for (const pid of left) process.kill(pid, 'SIGKILL');
    assert.deepEqual(left, [], 'processes left running (now killed)');
  });

  test('a peer says goodbye to its neighbours (1001) and the tracker (leave), and exits 0 within seconds', async (t) => {
    const origin = await startOrigin();
    started.push(origin.p);
    const trackerUrl = `${origin.url.replace(/^http/, 'ws')}/tracker`;

    // A neighbour the peer will dial: listed in the tracker with the address of a server of ours.
    const wss = new WebSocketServer({ noServer: true });
    const dialledServer = createServer();
    servers.push(dialledServer);
    dialledServer.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)));
    const dialledPort = await listen(dialledServer);
    // The peer may dial us more than once and keep one link: the one it handshook on.
    const dialledLinks: ReturnType<typeof watch>[] = [];
    wss.on('connection', (ws) => {
      sockets.push(ws);
      dialledLinks.push(watch(ws));
      ws.send(handshake('test-dialled'));
      ws.send(encodeWire({ type: 'bitfield', segments: [] }));
    });
    const listed = await joinTracker(trackerUrl, 'test-dialled', `ws://127.0.0.1:${dialledPort}/peer`);
    sockets.push(listed.ws);

    const peer = await startPeer(trackerUrl, 'leaving');
    started.push(peer);
    const url = await peerUrl(peer);
    const port = Number(new URL(url).port);
    const dialled = await waitFor('the peer to dial our listed neighbour and handshake', () => dialledLinks.find((l) => l.binaries.some((f) => isHandshakeFrom(f, 'leaving'))), 15_000);

    // A neighbour that dials the peer.
    const dialler = watch(new WebSocket(`${url.replace(/^http/, 'ws')}/peer`));
    sockets.push(dialler.ws);
    await new Promise<void>((resolve, reject) => {
      dialler.ws.once('open', () => resolve());
      dialler.ws.once('error', reject);
    });
    dialler.ws.send(handshake('test-dialler'));
    await waitFor('the peer to answer our handshake', () => dialler.binaries.some((f) => isHandshakeFrom(f, 'leaving')));
    await waitFor('the peer joined', async () => (await healthPeers(origin.url)) === 2);
    const leavesBefore = await leavesCounted(origin.url);

    const t0 = Date.now();
    peer.child.kill('SIGTERM');
    const exit = await peer.exited;
    const tookMs = Date.now() - t0;
    t.diagnostic(`peer exited with ${exit.code ?? exit.signal} ${tookMs} ms after SIGTERM`);
    assert.equal(exit.code, 0, `peer exit: ${JSON.stringify(exit)}; stderr: ${peer.stderr()}`);
    assert.ok(tookMs < EXIT_WITHIN_MS, `peer took ${tookMs} ms to exit`);
    assert.ok(!isAlive(peer.child.pid as number));

    const [outbound, inbound] = await Promise.all([dialled.closed, dialler.closed]);
    t.diagnostic(`neighbour it dialled saw ${outbound.code} "${outbound.reason}", neighbour that dialled it saw ${inbound.code} "${inbound.reason}"`);
    assert.equal(outbound.code, 1001, 'the neighbour the peer dialled got a goodbye');
    assert.equal(inbound.code, 1001, 'the neighbour that dialled the peer got a goodbye');
    await waitFor('the tracker to count a leave', async () => (await leavesCounted(origin.url)) === leavesBefore + 1, 5000);
    assert.equal(await healthPeers(origin.url), 1, 'only our listed neighbour is left in the tracker');
    assert.ok(await tcpRefused(port), 'the peer port no longer accepts connections');
  });

  test('the origin closes tracker links with 1001, stops ffmpeg, accepts nobody new, and exits 0 within seconds', async (t) => {
    const origin = await startOrigin();
    started.push(origin.p);
    const trackerUrl = `${origin.url.replace(/^http/, 'ws')}/tracker`;
    const port = Number(new URL(origin.url).port);
    const peer = await startPeer(trackerUrl, 'staying');
    started.push(peer);
    const url = await peerUrl(peer);
    const client = await joinTracker(trackerUrl, 'test-client', null);
    sockets.push(client.ws);
    await waitFor('the peer joined', async () => ((await (await fetch(`${url}/api/stats`)).json()) as { trackerConnected: boolean }).trackerConnected);
    const ffmpeg = origin.ffmpeg;
    assert.equal(ffmpeg.length, 1, `one ffmpeg, got ${ffmpeg.join(',')}`);

    // Joins attempted from the moment SIGTERM is sent: record when each connection opened and whether it was welcomed.
    const probes: { openedAfterMs: number; welcomed: boolean }[] = [];
    let probing = true;
    const t0 = Date.now();
    origin.p.child.kill('SIGTERM');
    const prober = (async () => {
      for (let i = 0; probing; i++) {
        const ws = new WebSocket(trackerUrl);
        sockets.push(ws);
        ws.on('error', () => undefined);
        ws.on('open', () => {
          const probe = { openedAfterMs: Date.now() - t0, welcomed: false };
          probes.push(probe);
          ws.on('message', (d) => {
            const m = decodeTrackerToPeer(d.toString());
            if (m.ok && m.value.type === 'welcome') probe.welcomed = true;
          });
          ws.send(encodePeerToTracker({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId: `late-${i}`, url: null, uploadKbps: 0 }));
        });
        // Pacing: late joins keep coming while the origin shuts down.
        await sleep(20);
      }
    })();
    const exit = await origin.p.exited;
    const tookMs = Date.now() - t0;
    probing = false;
    await prober;
    const welcomed = probes.filter((p) => p.welcomed);
    t.diagnostic(
      `origin exited with ${exit.code ?? exit.signal} ${tookMs} ms after SIGTERM; ${probes.length} joins opened after SIGTERM, ` +
        `welcomed: ${welcomed.map((p) => `${p.openedAfterMs} ms`).join(', ') || 'none'}`,
    );
    assert.equal(exit.code, 0, `origin exit: ${JSON.stringify(exit)}; stderr: ${origin.p.stderr()}`);
    assert.ok(tookMs < EXIT_WITHIN_MS, `origin took ${tookMs} ms to exit`);

    const closed = await client.closed;
    assert.equal(closed.code, 1001, `tracker client saw ${closed.code} "${closed.reason}"`);
    // ffmpeg is stopped before the origin exits, not left to die of its failed uploads later.
    for (const pid of [origin.p.child.pid as number, ...ffmpeg]) await waitFor(`process ${pid} gone when the origin exited`, () => !running(pid), 500, 20);
    assert.ok(await tcpRefused(port), 'the origin port no longer accepts connections');
    // The signal needs a moment to reach the origin's handler; after that, nobody new gets in.
    assert.deepEqual(welcomed.filter((p) => p.openedAfterMs >= SIGNAL_HANDLED_MS), [], 'peers joined an origin that was shutting down');
    // The peer notices and keeps running, waiting for the origin to come back.
    await waitFor('the peer to see the tracker gone', async () => !((await (await fetch(`${url}/api/stats`)).json()) as { trackerConnected: boolean }).trackerConnected);
    assert.equal(peer.child.exitCode, null, 'the peer keeps running');
  });

  // An ffmpeg that writes nothing (waiting for a broadcaster) would not die of failed uploads: only
  // the origin stopping it, or the parent-death signal, takes it down.
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    test(`an origin waiting for its RTMP broadcaster takes its listening ffmpeg down on ${signal}`, async (t) => {
      const rtmpPort = await portForFfmpegRtmpListener();
      const origin = await startOrigin(rtmpPort);
      started.push(origin.p);
      assert.equal(origin.ffmpeg.length, 1);
      const t0 = Date.now();
      origin.p.child.kill(signal);
      const exit = await origin.p.exited;
      t.diagnostic(`origin exited with ${exit.code ?? exit.signal} ${Date.now() - t0} ms after ${signal}`);
      if (signal === 'SIGTERM') assert.equal(exit.code, 0, `origin exit: ${JSON.stringify(exit)}; stderr: ${origin.p.stderr()}`);
      assert.ok(Date.now() - t0 < EXIT_WITHIN_MS);
      for (const pid of origin.ffmpeg) await waitFor(`ffmpeg ${pid} gone with the origin`, () => !running(pid), 1000, 20);
      assert.ok(!listening(rtmpPort), 'the RTMP port is free again');
    });
  }

  test('SIGTERM while the origin is still starting: it finishes starting, then closes, exits 0 and leaves no ffmpeg', async (t) => {
    // An ffmpeg whose version check takes 2 s holds the origin in its start-up long enough to signal it there.
    const dir = mkdtempSync(join(tmpdir(), 'slow-ffmpeg-'));
    const slow = join(dir, 'ffmpeg');
    writeFileSync(slow, '#!/bin/sh\n[ "$1" = "-version" ] && sleep 2\nexec ffmpeg "$@"\n', { mode: 0o755 });
    try {
      const p = startScript('origin/main.ts', ['--port', '0', ...LIGHT], { env: { FFMPEG_PATH: slow } });
      started.push(p);
      await waitFor('the version check under way', async () => (await childPids(p.child.pid as number)).length > 0, 15_000, 20);
      const t0 = Date.now();
      p.child.kill('SIGTERM');
      const exit = await p.exited;
      t.diagnostic(`origin exited with ${exit.code ?? exit.signal} ${Date.now() - t0} ms after a SIGTERM in its start-up`);
      assert.equal(exit.code, 0, `origin exit: ${JSON.stringify(exit)}; stderr: ${p.stderr()}`);
      assert.ok(Date.now() - t0 < EXIT_WITHIN_MS + 2000, 'exits within seconds of the version check');
      const ours = () => execFileSync('ps', ['-eo', 'pid,args']).toString().split('\n').filter((l) => l.includes(slow) || l.includes(dir));
      // Bounded: its ffmpeg is given 1 s to go (the assertion says if it did not).
      await waitUntil(() => ours().length === 0, 1000, 20);
      const left = ours();
      assert.deepEqual(left, [], 'an ffmpeg of this origin outlived it');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
