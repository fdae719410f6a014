import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { memoryLinkPair } from '../../peer-node/memory-link.ts';
import { ManualClock } from '../../shared/clock.ts';

const LATENCY_MS = 20;
const frame = (n: number) => new Uint8Array([n]);

/** A pair on a manual clock, with what each end received and whether and how it closed. */
function pair() {
  const clock = new ManualClock();
  const [a, b] = memoryLinkPair(clock, { latencyMs: LATENCY_MS });
  const seen = { a: [] as number[], b: [] as number[], aClosed: null as string | null, bClosed: null as string | null };
  a.onMessage((f) => seen.a.push(f[0] as number));
  b.onMessage((f) => seen.b.push(f[0] as number));
  a.onClose((code, reason) => void (seen.aClosed = `${code} ${reason}`));
  b.onClose((code, reason) => void (seen.bClosed = `${code} ${reason}`));
  return { clock, a, b, seen };
}

describe('memoryLinkPair', () => {
  test('a frame arrives one latency later, in order; its send completes at once', () => {
    const { clock, a, seen } = pair();
    const done: boolean[] = [];
    a.send(frame(1), (sent) => done.push(sent));
    a.send(frame(2));
    assert.deepEqual(done, [true]);
    clock.advance(LATENCY_MS - 1);
    assert.deepEqual(seen.b, []);
    clock.advance(1);
    assert.deepEqual(seen.b, [1, 2]);
    assert.equal(a.bufferedAmount, 0);
  });

  test('close ends this side at once and the other one latency later; later sends fail', () => {
    const { clock, a, b, seen } = pair();
    a.send(frame(1));
    a.close(1008, 'bye');
    assert.deepEqual({ a: seen.aClosed, b: seen.bClosed }, { a: '1008 bye', b: null });
    clock.advance(LATENCY_MS);
    // What was on the wire before the close still arrives before it.
    assert.deepEqual({ got: seen.b, b: seen.bClosed }, { got: [1], b: '1008 bye' });
    const done: boolean[] = [];
    a.send(frame(2), (sent) => done.push(sent));
    b.send(frame(3), (sent) => done.push(sent));
    clock.advance(LATENCY_MS);
    assert.deepEqual({ done, a: seen.a, b: seen.b }, { done: [false, false], a: [], b: [1] });
  });

  test('an end that stops reading leaves the sender buffered and its sends pending, failed when the link closes', () => {
    const { clock, a, b, seen } = pair();
    b.stopReading();
    const done: boolean[] = [];
    a.send(new Uint8Array(100), (sent) => done.push(sent));
    a.send(new Uint8Array(50), (sent) => done.push(sent));
    clock.advance(10 * LATENCY_MS);
    assert.deepEqual({ done, buffered: a.bufferedAmount, got: seen.b.length }, { done: [], buffered: 150, got: 0 });
    // It still sends, and its close still reaches the other side.
    b.send(frame(7));
    b.close(1001, 'gone');
    clock.advance(LATENCY_MS);
    assert.deepEqual({ done, buffered: a.bufferedAmount, got: seen.a, closed: seen.aClosed }, { done: [false, false], buffered: 0, got: [7], closed: '1001 gone' });
  });
});
