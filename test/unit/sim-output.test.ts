import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Figures } from '../../scripts/bench/figures.ts';
import { offloadBound, physicalBounds } from '../../scripts/sim/bounds.ts';
import { HEADER_LINES, renderSweepTable, type SweepRow } from '../../scripts/sim/sweep-table.ts';
import { niceTicks, renderSweepSvg } from '../../scripts/sim/svg.ts';

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

/** Tags balance, attributes are quoted, and no `<` or `&` stands unescaped in text: enough of XML to catch a broken writer. */
function assertWellFormed(svg: string): void {
  assert.ok(svg.startsWith('<svg '), 'starts with <svg');
  assert.ok(svg.trimEnd().endsWith('</svg>'), 'ends with </svg>');
  const stack: string[] = [];
  let rest = svg;
  while (rest.length > 0) {
    const lt = rest.indexOf('<');
    const textPart = lt === -1 ? rest : rest.slice(0, lt);
    assert.doesNotMatch(textPart, /&(?!(amp|lt|gt|quot|#39);)/, `unescaped & in ${JSON.stringify(textPart)}`);
    assert.ok(!textPart.includes('>'), `stray > in ${JSON.stringify(textPart)}`);
    if (lt === -1) break;
    const tag = /^<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/.exec(rest.slice(lt));
    assert.ok(tag, `malformed tag at ${JSON.stringify(rest.slice(lt, lt + 60))}`);
    const [whole, closing, name, , selfClosing] = tag;
    if (closing) assert.equal(stack.pop(), name, `</${name}> closes what it did not open`);
    else if (!selfClosing) stack.push(name ?? '');
    rest = rest.slice(lt + whole.length);
  }
  assert.deepEqual(stack, [], 'every tag is closed');
}

const panel = (svg: string, figure: string) => {
  const start = svg.indexOf(`<g class="panel" data-figure="${figure}">`);
  assert.ok(start >= 0, `no ${figure} panel`);
  return svg.slice(start, svg.indexOf('</g>', start));
};
const pointsOf = (svg: string, figure: string) =>
  [...panel(svg, figure).matchAll(/<circle class="point" data-peers="(\d+)" cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => ({ peers: Number(m[1]), x: Number(m[2]), y: Number(m[3]) }));

describe('the sweep as SVG', () => {
  const rows = [row(50, { offload: 0.95 }), row(500, { offload: 0.97 }), row(5000, { offload: 0.99 })];

  test('is well-formed and self-contained', () => {
    const svg = renderSweepSvg(rows);
    assertWellFormed(svg);
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="900" height="300"/);
    assert.doesNotMatch(svg, /<script|<image|@import|url\(|href=|@font-face/);
    assertWellFormed(renderSweepSvg([]));
  });

  test('three panels, each with one line through its points and its bound dashed', () => {
    const svg = renderSweepSvg(rows);
    assert.equal(svg.match(/class="series"/g)?.length, 3);
    for (const figure of ['offload', 'originCopies', 'continuity']) {
      const p = panel(svg, figure);
      assert.equal(p.match(/class="series"/g)?.length, 1, figure);
      assert.match(p, /<path class="bound" d="[^"]+" [^>]*stroke-dasharray=/, figure);
      assert.deepEqual(pointsOf(svg, figure).map((q) => q.peers), [50, 500, 5000], figure);
    }
  });

  test('N lies on a log scale: 50 → 500 is as wide as 500 → 5000', () => {
    const [a, b, c] = pointsOf(renderSweepSvg(rows), 'offload').map((q) => q.x) as [number, number, number];
    assert.ok(a < b && b < c);
    assert.ok(Math.abs(b - a - (c - b)) < 0.02, `${b - a} vs ${c - b}`);
  });

  test('a higher figure sits higher on the page', () => {
    const ys = pointsOf(renderSweepSvg(rows), 'offload').map((q) => q.y);
    assert.ok(ys[0]! > ys[1]! && ys[1]! > ys[2]!, String(ys));
  });

  test('x ticks at the powers of ten and at each N; y ticks are round numbers', () => {
    const svg = renderSweepSvg([row(50), row(200), row(1000), row(10_000)]);
    const labels = [...panel(svg, 'offload').matchAll(/<text [^>]*text-anchor="middle">([^<]+)<\/text>/g)].map((m) => m[1]);
    for (const label of ['50', '100', '200', '1000', '10k']) assert.ok(labels.includes(label), `${label} among ${labels.join(' ')}`);
    assert.deepEqual(niceTicks(0.969, 1), { values: [0.96, 0.97, 0.98, 0.99, 1], decimals: 2 });
    assert.deepEqual(niceTicks(0.95, 1), { values: [0.95, 0.96, 0.97, 0.98, 0.99, 1], decimals: 2 });
    assert.deepEqual(niceTicks(0, 73.5), { values: [0, 20, 40, 60, 80], decimals: 0 });
  });

  test('the same rows give the same picture, in whatever order they come', () => {
    assert.equal(renderSweepSvg(rows), renderSweepSvg(rows));
    assert.equal(renderSweepSvg([...rows].reverse()), renderSweepSvg(rows));
  });

  test('a missing figure breaks its line instead of bridging it', () => {
    const svg = renderSweepSvg([row(50), row(500, { offload: undefined }), row(5000)]);
    const d = /<path class="series" d="([^"]+)"/.exec(panel(svg, 'offload'))?.[1] ?? '';
    assert.equal(d.match(/M/g)?.length, 2, d);
    assert.equal(pointsOf(svg, 'offload').length, 2);
  });

  test('text is escaped', () => {
    const svg = renderSweepSvg(rows, { title: 'N <= 5000 & "loss" \'5 %\'' });
    assertWellFormed(svg);
    assert.ok(svg.includes('N &lt;= 5000 &amp; &quot;loss&quot; &#39;5 %&#39;'));
  });

  test('a row with no peers cannot sit on a log axis', () => {
    assert.throws(() => renderSweepSvg([row(0)]), RangeError);
  });
});
