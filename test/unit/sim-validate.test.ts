import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compare, renderComparison } from '../../scripts/sim/validate.ts';

test('agreement is judged per figure: offload and continuity absolutely, origin copies and lag relatively', () => {
  const rows = compare(
    { offload: 0.9, continuity: 0.97, originCopies: 2.0, lagMsP50: 1000, lagMsP95: 2000 },
    { offload: 0.914, continuity: 0.985, originCopies: 2.4, lagMsP50: 1300, lagMsP95: 1000 },
  );
  const verdict = Object.fromEntries(rows.filter((r) => r.ok !== null).map((r) => [r.key, r.ok]));
  assert.deepEqual(verdict, { offload: true, continuity: false, originCopies: false, lagMsP50: false });
  assert.ok(Math.abs((rows.find((r) => r.key === 'originCopies')?.diff ?? 0) - 0.2) < 1e-9);
  assert.equal(rows.find((r) => r.key === 'lagMsP95')?.ok, null, 'shown, not judged');
  const text = renderComparison('t', rows);
  assert.match(text, /offload\s+90\.00 %\s+91\.40 %\s+\+1\.40 pp\s+±1\.5 pp\s+agrees/);
  assert.match(text, /continuity\s+0\.9700\s+0\.9850\s+\+0\.0150\s+±0\.01\s+DIFFERS/);
});

test('a figure one side lacks is not judged', () => {
  const rows = compare({ offload: 0.5 }, {});
  assert.equal(rows.find((r) => r.key === 'offload')?.ok, null);
});
