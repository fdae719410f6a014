import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PickerSegment } from '../../peer-node/policy/picker.ts';
import { ABANDON_AFTER_MS, PULL_HOLD_OFF_MS, holdOffFresh, wantedSegments } from '../../peer-node/policy/wanted.ts';

const NOW = 100_000;
const P = {}; // a held piece; null is one lacking

const announced = (seq: number, pieces: readonly (object | null)[], complete = false) => ({ info: { seq, size: pieces.length * 1000 }, complete: complete ? P : null, pieces });
const context = (more: Partial<Parameters<typeof wantedSegments>[2]> = {}) => ({
  firstWanted: 10,
  deadlines: new Map([
    [9, NOW + 500],
    [10, NOW + 1000],
    [11, NOW + 2000],
    [12, NOW + 3000],
  ]),
  asked: new Map<number, number>(),
  nowMs: NOW,
  urgentWindowMs: 1200,
  segmentMs: 1000,
  pieceSize: 16384,
  ...more,
});
const brief = (segs: readonly PickerSegment[]) => segs.map((s) => ({ seq: s.seq, deadlineMs: s.deadlineMs - NOW, have: s.have.map(Number).join(''), size: s.size }));

describe('wantedSegments', () => {
  test('announced segments from firstWanted on that are not whole and have a deadline, with what we hold', () => {
    const segs = wantedSegments([announced(9, [null]), announced(10, [P, null, P]), announced(11, [P, P], true), announced(12, [null, null]), announced(13, [null])], [], context());
    assert.deepEqual(brief(segs), [
      { seq: 10, deadlineMs: 1000, have: '101', size: 3000 },
      { seq: 12, deadlineMs: 3000, have: '00', size: 2000 },
    ]);
    for (const s of segs) assert.deepEqual(s.inFlight, []);
  });

  test('one long overdue is given up on, unless the player asked for it', () => {
    const deadlines = new Map([
      [10, NOW - ABANDON_AFTER_MS - 1],
      [11, NOW - ABANDON_AFTER_MS],
    ]);
    const both = [announced(10, [null]), announced(11, [null])];
    assert.deepEqual(wantedSegments(both, [], context({ deadlines })).map((s) => s.seq), [11]);
    assert.deepEqual(wantedSegments(both, [], context({ deadlines, asked: new Map([[10, NOW - 9000]]) })).map((s) => s.seq), [10, 11]);
  });

  test('open segments come last, a segment apart after every announced deadline and never urgent', () => {
    const opens = [
      { seq: 9, pieces: [null] },
      { seq: 13, pieces: [P, null] },
      { seq: 14, pieces: [null] },
    ];
    const rows: { name: string; announced: ReturnType<typeof announced>[]; deadlines: number[] }[] = [
      { name: 'after the last announced deadline', announced: [announced(12, [null])], deadlines: [3000, 3000 + 1001, 3000 + 2002] },
      { name: 'past the urgent window when nothing announced is later', announced: [announced(10, [null])], deadlines: [1000, 1200 + 1001, 1200 + 2002] },
      { name: 'with nothing announced wanted', announced: [], deadlines: [1200 + 1001, 1200 + 2002] },
    ];
    for (const row of rows) {
      const segs = wantedSegments(row.announced, opens, context());
      assert.deepEqual(segs.map((s) => s.deadlineMs - NOW), row.deadlines, row.name);
      const open13 = segs.find((s) => s.seq === 13);
      assert.deepEqual({ size: open13?.size, have: open13?.have }, { size: 2 * 16384, have: [true, false] }, row.name);
      assert.equal(segs.some((s) => s.seq === 9), false, `${row.name}: an open segment before firstWanted is not wanted`);
    }
  });
});

describe('holdOffFresh', () => {
  const seg = (seq: number, deadlineMs: number, have: boolean[]): PickerSegment => ({ seq, pieceCount: have.length, size: have.length * 1000, deadlineMs, have, inFlight: [] });

  test('a piece heard of within the hold-off reads as held, unless its segment is urgent; returns when the first wait ends', () => {
    const segments = [seg(10, NOW + 1000, [false, false]), seg(11, NOW + 2000, [false, true, false, false])];
    const heardAt = new Map([
      [10, new Map([[0, NOW - 10]])], // urgent segment: left to pull
      [
        11,
        new Map([
          [0, NOW - 100], // fresh: held meanwhile
          [1, NOW - 10], // held already
          [2, NOW - 40], // fresh, heard later: its wait ends later
          [3, NOW - PULL_HOLD_OFF_MS], // heard long enough ago: pulled
        ]),
      ],
    ]);
    const next = holdOffFresh(segments, heardAt, NOW, 1200);
    assert.deepEqual(segments.map((s) => s.have.map(Number).join('')), ['00', '1110']);
    assert.equal(next, NOW - 100 + PULL_HOLD_OFF_MS);
  });

  test('nothing fresh: no wait', () => {
    const segments = [seg(11, NOW + 2000, [false])];
    assert.equal(holdOffFresh(segments, new Map(), NOW, 1200), Number.POSITIVE_INFINITY);
    assert.equal(holdOffFresh(segments, new Map([[11, new Map([[0, NOW - 500]])]]), NOW, 1200), Number.POSITIVE_INFINITY);
    assert.deepEqual(segments[0]?.have, [false]);
  });
});
