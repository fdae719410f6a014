import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { peerConfig } from '../../peer-node/config.ts';
import { LinkShaper } from '../../peer-node/link.ts';
import { DEFAULT_REFUSAL_MS, MAX_REFUSAL_MS, OriginFetcher, type OriginRange, REFUSED_ANSWER_MS, retryAfterMs } from '../../peer-node/origin-fetch.ts';
import { ManualClock } from '../../shared/clock.ts';

describe('origin fetcher: an origin that refuses is left alone for as long as it asks', () => {
  /** An origin that answers at once: refusing for `refuseMs` while `refusing`, else with the bytes asked for. */
  const rig = () => {
    const clock = new ManualClock(0);
    const asked: number[] = [];
    const origin = { refusing: true, refuseMs: 3000 as number | undefined };
    const range: OriginRange = (_seq, start, end, _token, done) => {
      asked.push(clock.nowMs());
      if (origin.refusing) done(null, origin.refuseMs);
      else done(new Uint8Array(end - start));
    };
    const fetcher = new OriginFetcher(range, new LinkShaper(peerConfig({ latencyMs: 0 }), clock), clock);
    const answers: string[] = [];
    const fetch = () => fetcher.piece(1, 0, 1000, 1000, 'token', (data) => answers.push(`${data ? 'bytes' : 'null'}@${clock.nowMs()}`));
    return { clock, asked, origin, answers, fetch };
  };

  test('after a refusal, fetches fail without asking it until Retry-After has passed, each after a short while rather than at once', () => {
    const r = rig();
    r.fetch();
    assert.deepEqual(r.answers, ['null@0']);
    // The swarm asks again at once, and again on each failure: the origin hears nothing of it.
    for (let t = 0; t < 3000; t = r.clock.nowMs()) {
      r.fetch();
      r.clock.advance(REFUSED_ANSWER_MS);
    }
    assert.deepEqual(r.asked, [0]);
    assert.equal(r.answers.length, 1 + 3000 / REFUSED_ANSWER_MS);
    assert.ok(r.answers.every((a) => a.startsWith('null@')));
    r.origin.refusing = false;
    r.fetch();
    assert.deepEqual(r.asked, [0, 3000]);
    assert.equal(r.answers.at(-1), 'bytes@3000');
  });

  test('a local failure never outlasts the refusal', () => {
    const r = rig();
    r.origin.refuseMs = 100;
    r.fetch();
    r.fetch();
    r.clock.advance(100);
    assert.deepEqual(r.answers, ['null@0', 'null@100']);
  });

  test('a failure that is no refusal (timeout, 404, reset) is no reason to wait', () => {
    const r = rig();
    r.origin.refuseMs = undefined;
    r.fetch();
    r.fetch();
    assert.deepEqual(r.asked, [0, 0]);
  });

  test('an origin asking for an hour is asked again after MAX_REFUSAL_MS', () => {
    const r = rig();
    r.origin.refuseMs = 3_600_000;
    r.fetch();
    r.clock.advance(MAX_REFUSAL_MS - 1);
    r.fetch();
    assert.deepEqual(r.asked, [0]);
    r.clock.advance(1);
    r.fetch();
    assert.deepEqual(r.asked, [0, MAX_REFUSAL_MS]);
  });

  const headers: [string | undefined, number][] = [
    ['2', 2000],
    [' 5 ', 5000],
    ['0', 0],
    [undefined, DEFAULT_REFUSAL_MS],
    ['Wed, 21 Oct 2026 07:28:00 GMT', DEFAULT_REFUSAL_MS],
    ['-1', DEFAULT_REFUSAL_MS],
    ['1.5', DEFAULT_REFUSAL_MS],
  ];
  for (const [header, ms] of headers) {
    test(`Retry-After ${JSON.stringify(header)} is ${ms} ms`, () => assert.equal(retryAfterMs(header), ms));
  }
});
