/**
 * An origin that is shutting down welcomes nobody: close() stops the
 * tracker's acceptance before it stops ingest, so a join that arrives while
 * ffmpeg is being stopped is refused (close 1001, `SHUTTING_DOWN`) instead
 * of being welcomed into a stream that is about to end.
 *
 * Real origin, real ffmpeg; the joiners are raw WebSockets, some opened
 * before shutdown and joining the instant it begins, others dialling
 * throughout, so joins land both before and during it.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import type { Origin } from '../../origin/origin.ts';
import { PROTOCOL_VERSION } from '../../shared/limits.ts';
import { decodeTrackerToPeer, encodePeerToTracker } from '../../shared/tracker-protocol.ts';
import { startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { waitFor } from '../helpers/wait.ts';
import { trackerUrl } from '../helpers/swarm.ts';

interface Outcome {
  peerId: string;
  joinSentAtMs: number;
  welcomedAtOriginMs: number | null;
  close: { code: number; reason: string } | null;
}

/** Opens a tracker socket; `join()` sends the join; `done` resolves with what became of it. */
async function joiner(url: string, peerId: string) {
  const ws = new WebSocket(url);
  const outcome: Outcome = { peerId, joinSentAtMs: Number.NaN, welcomedAtOriginMs: null, close: null };
  ws.on('error', () => undefined);
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const m = decodeTrackerToPeer(String(data));
    if (m.ok && m.value.type === 'welcome') outcome.welcomedAtOriginMs = m.value.originTimeMs;
  });
  const done = new Promise<Outcome>((resolve) =>
    ws.on('close', (code, reason) => {
      outcome.close = { code, reason: reason.toString() };
      resolve(outcome);
    }),
  );
  const opened = await new Promise<boolean>((resolve) => {
    ws.once('open', () => resolve(true));
    ws.once('close', () => resolve(false));
  });
  return {
    opened,
    done,
    welcomed: () => outcome.welcomedAtOriginMs !== null,
    join() {
      outcome.joinSentAtMs = Date.now();
      ws.send(encodePeerToTracker({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId, url: null, uploadKbps: 0 }));
    },
  };
}

describe('joins during origin shutdown', () => {
  let origin: Origin | undefined;
  after(async () => {
    await origin?.close();
  });

  test('are refused with 1001 SHUTTING_DOWN, and nothing is welcomed once shutdown began', { timeout: 60_000 }, async (t) => {
    origin = await startTestOrigin();
    await waitForSegments(origin, 1);
    const url = trackerUrl(origin);
    const o = origin;

    // One welcomed before shutdown: the refusal is about timing, not about joining at all.
    const early = await joiner(url, 'early');
    early.join();
    const earlyDone = early.done;

    const waiting = await Promise.all(Array.from({ length: 8 }, (_, i) => joiner(url, `waiting-${i}`)));
    let ingestStopCalledAtMs = Number.NaN;
    let ingestStoppedAtMs = Number.NaN;
    const stopIngest = o.ingest.close.bind(o.ingest);
    o.ingest.close = async () => {
      ingestStopCalledAtMs = Date.now();
      await stopIngest();
      ingestStoppedAtMs = Date.now();
    };
    await waitFor('the early join welcomed', () => early.welcomed(), 5000, 5);

    const shutdownAtMs = Date.now();
    const closing = o.close();
    for (const w of waiting) w.join();
    // More joiners dial while ffmpeg is being stopped, until the server stops answering.
    const late: Promise<Outcome>[] = [];
    let stopped = false;
    void closing.then(() => (stopped = true));
    for (let i = 0; !stopped && i < 200; i++) {
      const j = await joiner(url, `late-${i}`);
      if (!j.opened) break;
      j.join();
      late.push(j.done);
      // Pacing on purpose: joins keep landing all through the shutdown, not all in one instant.
      await sleep(5);
    }
    await closing;
    const outcomes = await Promise.all([...waiting.map((w) => w.done), ...late]);
    const earlyOutcome = await earlyDone;

    assert.ok(earlyOutcome.welcomedAtOriginMs !== null && earlyOutcome.welcomedAtOriginMs < shutdownAtMs, 'the peer that joined before shutdown was welcomed');
    assert.equal(earlyOutcome.close?.code, 1001, 'a joined peer is told the origin is going away');
    const welcomedLate = outcomes.filter((x) => x.welcomedAtOriginMs !== null);
    assert.deepEqual(welcomedLate.map((x) => `${x.peerId} welcomed at +${(x.welcomedAtOriginMs ?? 0) - shutdownAtMs} ms`), [], 'welcomed after shutdown began');
    for (const x of outcomes) {
      // A late join still in flight when the tracker closes every socket is refused by that close instead.
      const reasons = x.peerId.startsWith('late-') ? ['SHUTTING_DOWN: origin shutting down', 'origin shutting down'] : ['SHUTTING_DOWN: origin shutting down'];
      assert.equal(x.close?.code, 1001, `${x.peerId}: close code`);
      assert.ok(reasons.includes(x.close?.reason ?? ''), `${x.peerId}: close reason ${x.close?.reason}`);
    }
    // Refusals came while ingest was still being stopped, which is when a welcome would have been wrong.
    const beforeIngestStopped = outcomes.filter((x) => x.joinSentAtMs < ingestStoppedAtMs).length;
    assert.ok(beforeIngestStopped >= waiting.length, `${beforeIngestStopped} joins arrived before ingest stopped`);
    assert.ok(Number.isFinite(ingestStopCalledAtMs) && ingestStopCalledAtMs >= shutdownAtMs);
    t.diagnostic(
      `${outcomes.length} joins during shutdown, all refused; ingest took ${ingestStoppedAtMs - ingestStopCalledAtMs} ms to stop; ` +
        `${beforeIngestStopped} joins were sent before it had; last welcome ${shutdownAtMs - (earlyOutcome.welcomedAtOriginMs ?? 0)} ms before shutdown`,
    );
  });
});
