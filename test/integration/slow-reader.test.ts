/**
 * A neighbour that stops reading costs bounded memory. The victim is a peer
 * node in a process of its own (the bundle, as `npm run peer` runs it) with
 * unlimited upload, the case where a piece used to leave our accounting the
 * moment it was handed to the socket. Hostile identities handshake, show
 * interest, and earn a regular unchoke as an honest neighbour would, by
 * serving the victim fresh pieces for a few seconds (a peer that never gives
 * gets only its bounded welcome and trial); then they ask for the freshest pieces as fast
 * as the request limit allows while never reading their sockets again. A
 * second wave comes with fresh ids. Before the fix the victim grew ~15 MB/s.
 * Asking again for a piece already sent gets nothing, so a reader is owed at
 * most the victim's store: one the kernel's buffers hide may never be found
 * not reading, and must then have been sent no piece twice.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Origin } from '../../origin/origin.ts';
import { ensurePeerBundle } from '../../harness/peer-bundle.ts';
import type { PeerNode } from '../../peer-node/node.ts';
import { PlaybackModel, type PlaybackResult } from '../../harness/playback-model.ts';
import { DEFAULT_PIECE_SIZE, MAX_PEER_REQUESTS_PER_SEC } from '../../shared/limits.ts';
import { pieceRange } from '../../shared/segment.ts';
import { decodeWire, encodeWire } from '../../shared/wire-protocol.ts';
import { type RawClient, handshakeFrame, rawClient } from '../helpers/hostile-peer.ts';
import { startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { type Started, peakRss, rssBytes, startScript, stopProcess, waitForOutput } from '../../harness/process.ts';
import { originSha, startTestPeer, trackerUrl } from '../helpers/swarm.ts';
import { waitFor, waitUntil } from '../helpers/wait.ts';

const MB = 1024 * 1024;
const ATTACK_MS = 30_000;
/** The second wave, with fresh identities, comes this long into the attack. */
const SECOND_WAVE_MS = 14_000;
/** Two, so each finds a regular slot free beside the two honest peers. */
const READERS_PER_WAVE = 2;
/** How long a reader gives fresh pieces before it stops reading: a few segments' worth, so it ranks among the victim's uploaders. */
const GIVE_MS = 3000;
/** Just under the request limit, so the victim never disconnects them for flooding. */
const REQUESTS_PER_SEC = Math.floor(MAX_PEER_REQUESTS_PER_SEC * 0.9);
const MAX_GROWTH_BYTES = 20 * MB;

interface SlowReader {
  id: string;
  client: RawClient;
  unchokedAtMs: number | null;
  requests: number;
  /** Pieces it served the victim before it stopped reading. */
  served: number;
  /** The victim's last word on choking it, before it stopped reading. */
  choked: boolean;
  reading: boolean;
  /** Pieces that reached it after it stopped reading ("seq:piece" -> copies), read once the attack is over. */
  owed: Map<string, number>;
}

describe('a neighbour that stops reading', () => {
  let origin: Origin;
  let victim: Started;
  let victimHttp = '';
  const honest: PeerNode[] = [];
  let models: PlaybackModel[] = [];
  let results: PlaybackResult[] = [];
  const readers: SlowReader[] = [];
  let baseline = 0;
  let peak = 0;
  const rssEachSecondMb: number[] = [];

  /** Handshakes, says it is interested, gives fresh pieces for GIVE_MS once unchoked, then stops reading for good. */
  async function slowReader(id: string, address: string): Promise<SlowReader> {
    const r: SlowReader = { id, client: rawClient(`${victimHttp.replace(/^http/, 'ws')}/peer`, { localAddress: address }), unchokedAtMs: null, requests: 0, served: 0, choked: true, reading: true, owed: new Map() };
    readers.push(r);
    assert.equal(await r.client.opened, true, `${id} was refused`);
    r.client.ws.on('message', (data: Buffer) => {
      const m = decodeWire(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      if (!m.ok) return;
      if (m.value.type === 'unchoke' && r.unchokedAtMs === null) r.unchokedAtMs = Date.now();
      if (m.value.type === 'choke' || m.value.type === 'unchoke') r.choked = m.value.type === 'choke';
      if (m.value.type === 'piece' && !r.reading) {
        const key = `${m.value.seq}:${m.value.piece}`;
        r.owed.set(key, (r.owed.get(key) ?? 0) + 1);
      }
      if (m.value.type === 'request') {
        const piece = pieceOf(m.value.seq, m.value.piece);
        if (!piece) return;
        r.client.ws.send(encodeWire({ type: 'piece', seq: m.value.seq, piece: m.value.piece, data: piece }));
        r.served++;
      }
    });
    r.client.ws.send(handshakeFrame(id));
    r.client.ws.send(encodeWire({ type: 'interested' }));
    r.client.ws.send(encodeWire({ type: 'unchoke' }));
    await give(r, Date.now() + GIVE_MS);
    r.reading = false;
    r.client.ws.pause();
    return r;
  }

  function pieceOf(seq: number, piece: number): Uint8Array | null {
    const found = origin.window.lookup(seq);
    if (found.state !== 'live') return null;
    const { start, end } = pieceRange(found.segment.data.byteLength, DEFAULT_PIECE_SIZE, piece);
    return start < end ? found.segment.data.subarray(start, end) : null;
  }

  /** Tells the victim it holds every piece of each segment the origin publishes, as soon as it is published: the victim asks, and is served. */
  async function give(r: SlowReader, untilMs: number): Promise<void> {
    let last = -1;
    while (Date.now() < untilMs && r.client.isOpen()) {
      const newest = origin.window.announcements().at(-1);
      if (newest && newest.seq !== last) {
        last = newest.seq;
        r.client.ws.send(encodeWire({ type: 'have', pieces: newest.pieceHashes.map((_, piece) => ({ seq: newest.seq, piece })) }));
      }
      await sleep(5);
    }
  }

  /** The pieces of the newest segments, cycled: the victim holds them, and they are the ones it has just been sent. */
  function* freshPieces(): Generator<{ seq: number; piece: number }> {
    for (;;) {
      const newest = origin.window.announcements().slice(-3);
      if (newest.length === 0) return;
      for (const s of newest) for (let piece = 0; piece < s.pieceHashes.length; piece++) yield { seq: s.seq, piece };
    }
  }

  async function attack(wave: SlowReader[], untilMs: number): Promise<void> {
    const pieces = freshPieces();
    const perTick = Math.max(1, Math.round(REQUESTS_PER_SEC / 100));
    while (Date.now() < untilMs) {
      for (const r of wave) {
        if (r.unchokedAtMs === null || !r.client.isOpen()) continue;
        for (let i = 0; i < perTick; i++) {
          const p = pieces.next().value;
          if (!p) break;
          r.client.ws.send(encodeWire({ type: 'request', seq: p.seq, piece: p.piece }));
          r.requests++;
        }
      }
      // Pacing the readers' requests.
      await sleep(10);
    }
  }

  async function wave(n: number, untilMs: number): Promise<void> {
    const wave = await Promise.all(Array.from({ length: READERS_PER_WAVE }, (_, i) => slowReader(`slow-${n}-${i}`, `127.0.7.${10 * n + i + 1}`)));
    // Bounded; the attack goes on with whoever was unchoked, and the memory test fails if any reader never was.
    await waitUntil(() => wave.every((r) => r.unchokedAtMs !== null), 15_000);
    await attack(wave, untilMs);
  }

  before(async () => {
    origin = await startTestOrigin();
    const sha = originSha(origin);
    await waitForSegments(origin, 2);
    // The bundle as `npm run peer` runs it, rebuilt first if a source is newer (a file run by hand skips pretest).
    victim = startScript(await ensurePeerBundle(), ['--tracker', trackerUrl(origin), '--port', '0', '--peer-id', 'victim', '--max-neighbours-per-address', '0', '--log-level', 'debug']);
    [, victimHttp] = (await waitForOutput(victim, /playlist (http\S+)\/live\.m3u8/)) as unknown as [string, string];
    for (let i = 0; i < 2; i++) honest.push(await startTestPeer(origin, { peerId: `honest-${i}`, seed: i + 1, uploadKbps: 3000, latencyMs: 10 }));
    models = [victimHttp, ...honest.map((p) => p.url)].map((url) => PlaybackModel.forPeer(url, sha));
    for (const m of models) m.start();
    await waitFor('every player to start', () => models.every((m) => m.current().segmentsDue >= 3), 30_000);
    const pid = victim.child.pid as number;
    baseline = await rssBytes(pid);
    const startedAt = Date.now();
    const sampler = setInterval(() => void rssBytes(pid).then((b) => rssEachSecondMb.push(Math.round(b / MB)), () => undefined), 1000);
    peak = await peakRss(pid, async () => {
      await Promise.all([
        wave(1, startedAt + ATTACK_MS),
        // On purpose: the second wave comes SECOND_WAVE_MS into the attack.
        sleep(SECOND_WAVE_MS).then(() => wave(2, startedAt + ATTACK_MS)),
      ]);
    });
    clearInterval(sampler);
    // What the victim sent the readers still connected, read at last.
    for (const r of readers) if (r.client.isOpen()) r.client.ws.resume();
    await sleep(2000);
    results = await Promise.all(models.map((m) => m.close()));
  });

  after(async () => {
    await Promise.all(models.map((m) => m.close()));
    for (const r of readers) r.client.ws.terminate();
    await Promise.all(honest.map((p) => p.close()));
    if (victim) await stopProcess(victim);
    await origin?.close();
  });

  test(`the victim's memory grows by less than ${MAX_GROWTH_BYTES / MB} MB while they ask and never read`, (t) => {
    const asked = readers.reduce((n, r) => n + r.requests, 0);
    t.diagnostic(`${readers.length} slow readers sent ${asked} requests over ${ATTACK_MS / 1000} s; victim RSS ${(baseline / MB).toFixed(1)} MB before, peak ${(peak / MB).toFixed(1)} MB (+${((peak - baseline) / MB).toFixed(1)} MB)`);
    t.diagnostic(`victim RSS each second (MB): ${rssEachSecondMb.join(' ')}`);
    t.diagnostic(`pieces each reader served before it stopped reading: ${readers.map((r) => `${r.id} ${r.served}${r.choked ? ' (choked)' : ''}`).join(', ')}`);
    assert.ok(readers.every((r) => r.unchokedAtMs !== null), 'a slow reader was never unchoked: the attack did not happen');
    assert.ok(asked > READERS_PER_WAVE * REQUESTS_PER_SEC * 5, `only ${asked} requests were sent`);
    assert.ok(peak - baseline < MAX_GROWTH_BYTES, `victim grew ${((peak - baseline) / MB).toFixed(1)} MB`);
  });

  test('each slow reader is cut off for not reading, and the victim says so, or was sent no piece twice', (t) => {
    const log = victim.stderr();
    for (const r of readers) {
      const cut = log.split('\n').some((line) => line.includes(`"neighbour":"${r.id}"`) && line.includes('not reading what we send'));
      const copies = [...r.owed.values()];
      t.diagnostic(`${r.id}: ${cut ? 'cut off for not reading' : 'still connected'}; ${copies.length} pieces reached it after it stopped reading, at most ${Math.max(0, ...copies)} copies of one`);
      assert.ok(cut || copies.every((c) => c === 1), `${r.id} was neither cut off for not reading nor sent each piece once`);
    }
  });

  test('the victim and its honest neighbours keep playing', (t) => {
    results.forEach((r, i) => {
      t.diagnostic(`player ${i}: ${r.segmentsOnTime}/${r.segmentsDue} on time, ${r.stalls} stalls, corrupt ${r.corrupt}`);
      assert.equal(r.corrupt, 0);
      assert.ok(r.segmentsDue >= 25, `player ${i} played only ${r.segmentsDue} segments`);
      assert.ok(r.segmentsOnTime / r.segmentsDue >= 0.9, `player ${i} continuity ${r.segmentsOnTime}/${r.segmentsDue}`);
    });
  });
});
