import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type IngestBody, type IngestGrowth, IngestReceiver, type IngestedSegment, isIngestSegmentFile } from '../../origin/ingest-receiver.ts';
import { MAX_SEGMENT_BYTES } from '../../shared/limits.ts';

/** What a receiver did, in order: each grow (a copy of its bytes, as they were then) and each publication. */
function recorder() {
  const log: ({ kind: 'grow'; run: string; index: number; bytes: string } | { kind: 'publish'; run: string; index: number; data: string })[] = [];
  const published: IngestedSegment[] = [];
  const r = new IngestReceiver(
    (s) => {
      published.push(s);
      log.push({ kind: 'publish', run: s.run, index: s.index, data: s.data.toString() });
    },
    '',
    (g: IngestGrowth) => log.push({ kind: 'grow', run: g.run, index: g.index, bytes: g.bytes.toString() }),
  );
  return { r, log, published };
}

const playlist = (...names: string[]) => Buffer.from(`#EXTM3U\n${names.map((n) => `#EXTINF:0.500000,\n${n}`).join('\n')}\n`);

function opened(r: IngestReceiver, run: string, file: string): IngestBody {
  const o = r.open(run, file);
  assert.equal(o.status, 'open', JSON.stringify(o));
  return (o as { body: IngestBody }).body;
}

describe('ingest: a segment body fed as it arrives', () => {
  test('grow sees every byte so far at each chunk, before the segment publishes, and the published bytes are exactly those', () => {
    const { r, log, published } = recorder();
    const body = opened(r, 'a', 's0.ts');
    for (const chunk of ['ab', 'cde', '', 'f']) assert.equal(body.write(Buffer.from(chunk)), 'ok');
    // The segment muxer sends the list naming a segment just before that segment's last bytes.
    r.put('a', 'stream.m3u8', playlist('s0.ts'), 5);
    assert.equal(published.length, 0, 'not before its body has ended');
    assert.deepEqual(body.end(7), { status: 'accepted', published: 1 });
    assert.deepEqual(log, [
      { kind: 'grow', run: 'a', index: 0, bytes: 'ab' },
      { kind: 'grow', run: 'a', index: 0, bytes: 'abcde' },
      { kind: 'grow', run: 'a', index: 0, bytes: 'abcdef' },
      { kind: 'publish', run: 'a', index: 0, data: 'abcdef' },
    ]);
    assert.deepEqual([published[0]?.durationMs, published[0]?.segmentPutEndMs, published[0]?.playlistPutMs], [500, 7, 5]);
    assert.equal(published[0]?.data.byteLength, 6, 'the published buffer holds the body and nothing after it');
  });

  test('a body bigger than the first allocation grows across copies, and every view handed to grow keeps its bytes', () => {
    const views: Buffer[] = [];
    let data: Buffer | null = null;
    const r = new IngestReceiver((s) => (data = s.data), '', (g) => views.push(g.bytes));
    const body = opened(r, 'a', 's0.ts');
    const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(10_000, i));
    for (const c of chunks) body.write(c);
    r.put('a', 'stream.m3u8', playlist('s0.ts'), 0);
    body.end(1);
    const whole = Buffer.concat(chunks);
    assert.ok(data !== null && whole.equals(data));
    views.forEach((v, i) => assert.ok(v.equals(whole.subarray(0, 10_000 * (i + 1))), `view ${i}`));
  });

  test('a whole segment PUT is grown once with its body, then published with it', () => {
    const { r, log } = recorder();
    r.put('a', 's0.ts', Buffer.from('whole'), 1);
    r.put('a', 'stream.m3u8', playlist('s0.ts'), 2);
    assert.deepEqual(log, [
      { kind: 'grow', run: 'a', index: 0, bytes: 'whole' },
      { kind: 'publish', run: 'a', index: 0, data: 'whole' },
    ]);
  });

  test('a body over MAX_SEGMENT_BYTES is refused and what came of it dropped', () => {
    const { r, log, published } = recorder();
    const body = opened(r, 'a', 's0.ts');
    assert.equal(body.write(Buffer.alloc(MAX_SEGMENT_BYTES - 1)), 'ok');
    assert.equal(body.write(Buffer.alloc(2)), 'too-large');
    assert.equal(body.write(Buffer.alloc(1)), 'too-large', 'stays refused');
    r.put('a', 'stream.m3u8', playlist('s0.ts'), 2);
    assert.equal(body.end(3).status, 'rejected');
    assert.equal(published.length, 0);
    assert.equal(log.filter((e) => e.kind === 'grow').length, 1, 'the chunk over the bound is never grown');
    // The run goes on: its next segment publishes, the lost one is passed over.
    const next = opened(r, 'a', 's1.ts');
    next.write(Buffer.from('one'));
    r.put('a', 'stream.m3u8', playlist('s0.ts', 's1.ts'), 4);
    next.end(5);
    assert.deepEqual(published.map((s) => [s.index, s.data.toString()]), [[1, 'one']]);
  });

  test('an aborted body never publishes and grows no more; the run goes on', () => {
    const { r, log, published } = recorder();
    const body = opened(r, 'a', 's0.ts');
    body.write(Buffer.from('par'));
    body.abort();
    body.abort();
    assert.equal(body.write(Buffer.from('tial')), 'dropped');
    r.put('a', 'stream.m3u8', playlist('s0.ts'), 1);
    assert.equal(body.end(2).status, 'rejected');
    const next = opened(r, 'a', 's1.ts');
    next.write(Buffer.from('one'));
    next.end(3);
    r.put('a', 'stream.m3u8', playlist('s0.ts', 's1.ts'), 4);
    assert.deepEqual(log, [
      { kind: 'grow', run: 'a', index: 0, bytes: 'par' },
      { kind: 'grow', run: 'a', index: 1, bytes: 'one' },
      { kind: 'publish', run: 'a', index: 1, data: 'one' },
    ]);
    assert.equal(published.length, 1);
  });

  test('at most two bodies of a run are open: a third drops the oldest', () => {
    const { r, log, published } = recorder();
    const [b0, b1] = [opened(r, 'a', 's0.ts'), opened(r, 'a', 's1.ts')];
    b0.write(Buffer.from('zero'));
    b1.write(Buffer.from('one'));
    const b2 = opened(r, 'a', 's2.ts');
    assert.equal(b0.write(Buffer.from('more')), 'dropped');
    assert.equal(b1.write(Buffer.from('!')), 'ok');
    b2.write(Buffer.from('two'));
    for (const b of [b0, b1, b2]) b.end(1);
    r.put('a', 'stream.m3u8', playlist('s0.ts', 's1.ts', 's2.ts'), 2);
    assert.deepEqual(published.map((s) => s.data.toString()), ['one!', 'two']);
    assert.ok(!log.some((e) => e.kind === 'grow' && e.index === 0 && e.bytes !== 'zero'), 'the dropped one grew no more');
  });

  test('a second PUT of the same segment takes the place of the first', () => {
    const { r, published } = recorder();
    const first = opened(r, 'a', 's0.ts');
    first.write(Buffer.from('old'));
    const second = opened(r, 'a', 's0.ts');
    assert.equal(first.write(Buffer.from('er')), 'dropped');
    second.write(Buffer.from('new'));
    second.end(1);
    r.put('a', 'stream.m3u8', playlist('s0.ts'), 2);
    assert.deepEqual(published.map((s) => s.data.toString()), ['new']);
  });

  test('a new run beyond the two kept drops the open bodies of the oldest', () => {
    const { r, published } = recorder();
    const old = opened(r, 'a', 's0.ts');
    old.write(Buffer.from('a0'));
    opened(r, 'b', 's0.ts');
    opened(r, 'c', 's0.ts');
    assert.equal(old.write(Buffer.from('!')), 'dropped');
    assert.equal(old.end(1).status, 'rejected');
    r.put('a', 'stream.m3u8', playlist('s0.ts'), 2);
    assert.equal(published.length, 0);
  });

  test('a segment already published is read and dropped, as put() drops it, without growing', () => {
    const { r, log, published } = recorder();
    r.put('a', 's0.ts', Buffer.from('zero'), 1);
    r.put('a', 'stream.m3u8', playlist('s0.ts'), 2);
    const again = opened(r, 'a', 's0.ts');
    assert.equal(again.write(Buffer.from('again')), 'ok');
    assert.deepEqual(again.end(3), { status: 'accepted', published: 0 });
    assert.equal(published.length, 1);
    assert.equal(log.filter((e) => e.kind === 'grow').length, 1);
  });

  test('a body still open when a later segment of its run publishes is dropped', () => {
    const { r, published } = recorder();
    const slow = opened(r, 'a', 's0.ts');
    slow.write(Buffer.from('slow'));
    r.put('a', 's1.ts', Buffer.from('one'), 1);
    r.put('a', 'stream.m3u8', playlist('s1.ts'), 2);
    assert.equal(slow.write(Buffer.from('er')), 'dropped');
    assert.deepEqual(published.map((s) => s.data.toString()), ['one']);
  });

  test('only segment files open; playlists and other names come whole to put()', () => {
    const { r } = recorder();
    assert.equal(r.open('a', 'stream.m3u8').status, 'rejected');
    assert.equal(r.open('a', '../s0.ts').status, 'rejected');
    assert.equal(new IngestReceiver(() => undefined, '720p-').open('a', 's0.ts').status, 'rejected', "another rendition's name");
    assert.deepEqual(['s0.ts', '720p-s12.ts', 'stream.m3u8', 's.ts', 's1.ts.m3u8', 'S1.ts'].map(isIngestSegmentFile), [true, true, false, false, false, false]);
  });
});
