import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Figures } from '../../scripts/bench/figures.ts';
import { offloadBound, physicalBounds } from '../../scripts/sim/bounds.ts';
import { HEADER_LINES, renderSweepTable, type SweepRow } from '../../scripts/sim/sweep-table.ts';

const STREAM = 1500;

function row(peers: number, figures: Figures = {}, more: Partial<SweepRow> = {}): SweepRow {
  return {
    peers,
    figures: { peers, offload: 0.971, originCopies: 1.234, continuity: 0.99871, rebufferRatio: 0.0012, lagMsP50: 812.4, lagMsP95: 1450.6, behindLiveMsP50: 6100, startupMsP50: 2300, overhead: 0.0123, corruptPlayed: 0, ...figures },
    bounds: physicalBounds({ viewers: peers, totalPeerUploadKbps: peers * 2 * STREAM, streamKbps: STREAM }),
    wallMs: 2500,
    peakRssMb: 412.3,
    events: 1_000_000,
    bytesPerViewer: 45_231,
    ...more,
  };
}

describe('the physical bounds of a run', () => {
  test('N-limited: uploads to spare, and one copy of each segment still comes from the origin', () => {
    assert.equal(offloadBound({ viewers: 50, totalPeerUploadKbps: 50 * 3000, streamKbps: STREAM }), 1 - 1 / 50);
    assert.equal(offloadBound({ viewers: 10_000, totalPeerUploadKbps: Infinity, streamKbps: STREAM }), 1 - 1 / 10_000);
  });

  test('upload-limited: the peers cannot upload more than they have', () => {
    // 50 viewers at 0.5x the stream rate: 37,500 kbit/s of upload for 75,000 of demand.
    assert.equal(offloadBound({ viewers: 50, totalPeerUploadKbps: 50 * 750, streamKbps: STREAM }), 0.5);
    // 10 at 0.8x: 12,000 / 15,000, below 1 - 1/10.
    assert.equal(offloadBound({ viewers: 10, totalPeerUploadKbps: 10 * 1200, streamKbps: STREAM }), 0.8);
  });

  test('free-riders watch without uploading: they count in N, not in the upload', () => {
    // 40 contributors at 1.5x and 10 free-riders: 90,000 / (50 × 1,500) = 1.2, so N limits at 0.98.
    assert.equal(offloadBound({ viewers: 50, totalPeerUploadKbps: 40 * 2250 + 10 * 0, streamKbps: STREAM }), 0.98);
    // 40 contributors at 1.0x and 10 free-riders: 60,000 / 75,000 = 0.8 < 0.98.
    assert.equal(offloadBound({ viewers: 50, totalPeerUploadKbps: 40 * 1500, streamKbps: STREAM }), 0.8);
    // Only free-riders: nothing can come from peers.
    assert.equal(offloadBound({ viewers: 20, totalPeerUploadKbps: 0, streamKbps: STREAM }), 0);
  });

  test('one viewer or none can offload nothing', () => {
    assert.equal(offloadBound({ viewers: 1, totalPeerUploadKbps: 5000, streamKbps: STREAM }), 0);
    assert.equal(offloadBound({ viewers: 0, totalPeerUploadKbps: 0, streamKbps: STREAM }), 0);
  });

  test('copies and continuity are bounded by 1.0 whatever the swarm', () => {
    assert.deepEqual(physicalBounds({ viewers: 200, totalPeerUploadKbps: 200 * 750, streamKbps: STREAM }), { offload: 0.5, originCopies: 1, continuity: 1 });
  });

  test('a value that is not a size or a rate fails and names the input', () => {
    for (const [input, name] of [
      [{ viewers: -1, totalPeerUploadKbps: 0, streamKbps: STREAM }, 'viewers'],
      [{ viewers: 2.5, totalPeerUploadKbps: 0, streamKbps: STREAM }, 'viewers'],
      [{ viewers: 5, totalPeerUploadKbps: Number.NaN, streamKbps: STREAM }, 'totalPeerUploadKbps'],
      [{ viewers: 5, totalPeerUploadKbps: -3, streamKbps: STREAM }, 'totalPeerUploadKbps'],
      [{ viewers: 5, totalPeerUploadKbps: 100, streamKbps: 0 }, 'streamKbps'],
    ] as const) {
      assert.throws(() => offloadBound(input), (e: unknown) => e instanceof RangeError && e.message.startsWith(name));
    }
  });
});

describe('the sweep table', () => {
  const lines = (text: string) => text.split('\n');
  const cells = (line: string) => line.trim().split(/ {2,}/);

  test('a header, then one line per row with its figures formatted and bounds beside them', () => {
    const text = renderSweepTable([row(50), row(200), row(10_000)]);
    assert.equal(lines(text).length, HEADER_LINES + 3);
    const header = lines(text).slice(0, HEADER_LINES).join('\n');
    for (const name of ['peers', 'offload', 'originCopies', 'continuity', 'rebuffer', 'lag', 'behind', 'startup', 'overhead', 'corrupt', 'wall', 'events', 'RSS', '/viewer']) {
      assert.ok(header.includes(name), `header has no ${name}`);
    }
    assert.deepEqual(cells(lines(text)[HEADER_LINES] ?? ''), [
      '50',
      '97.10 % (≤ 98.00)',
      '1.23 (≥ 1.00)',
      '0.9987 (≤ 1.000)',
      '0.12 %',
      '812',
      '1451',
      '6100',
      '2300',
      '1.23 %',
      '0',
      '2.5',
      '400000',
      '412',
      '45231',
    ]);
    assert.equal(cells(lines(text)[HEADER_LINES + 2] ?? '')[1], '97.10 % (≤ 99.99)');
  });

  test('columns line up and the table fits a 160-column terminal', () => {
    const text = renderSweepTable([row(50), row(1000), row(10_000, { lagMsP95: 123_456 }, { wallMs: 3_600_000, events: 2e9 })]);
    const widths = new Set(lines(text).map((l) => l.length));
    assert.equal(widths.size, 1, 'every line is as wide as the others');
    assert.ok([...widths][0]! <= 160, `${[...widths][0]} columns`);
  });

  test('a missing figure prints – and keeps its bound', () => {
    const text = renderSweepTable([row(50, { offload: undefined, continuity: Number.NaN, lagMsP95: undefined }, { wallMs: 0 }), row(200, { corruptPlayed: undefined })]);
    const first = cells(lines(text)[HEADER_LINES] ?? '');
    assert.equal(first[1], '– (≤ 98.00)');
    assert.equal(first[3], '– (≤ 1.000)');
    assert.equal(first[6], '–');
    assert.equal(first[12], '–', 'events/s of a run that took no time');
    assert.equal(cells(lines(text)[HEADER_LINES + 1] ?? '')[10], '–');
    assert.ok(!text.includes('undefined') && !text.includes('NaN'));
  });

  test('no rows: the header alone', () => {
    assert.equal(lines(renderSweepTable([])).length, HEADER_LINES);
  });
});
