import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { originLadder, parseOriginConfig } from '../../origin/config.ts';
import { IngestReceiver, type IngestedSegment } from '../../origin/ingest-receiver.ts';
import { LiveWindow } from '../../origin/live-window.ts';
import { AlignedNumbering, MIN_RUNG_PIECE_SIZE, renditionOfIngestFile, rungPieceSizes } from '../../origin/rendition.ts';
import { readSps, readTsCodecs } from '../../origin/ts-probe.ts';
import { generateSigner, verifyAnnouncement } from '../../shared/announcement-signature.ts';
import { ConfigError } from '../../shared/cli.ts';
import { avcMainCodec, h264Level } from '../../shared/h264-level.ts';
import { parseMasterPlaylist, renderMasterPlaylist, rungVariant } from '../../shared/master-playlist.ts';
import {
  DEFAULT_LADDER,
  LadderError,
  masterPlaylistPath,
  parseLadder,
  renditionLivePath,
  renditionOfPeerPath,
  renditionOfTrackerPath,
  renditionPeerPath,
  renditionStreamId,
  renditionTrackerPath,
} from '../../shared/rendition.ts';

function ladderOf(argv: string[]) {
  const config = parseOriginConfig(argv);
  assert.ok(config);
  return originLadder(config);
}

function refused(argv: string[], pattern: RegExp): void {
  assert.throws(() => parseOriginConfig(argv), (e: unknown) => e instanceof ConfigError && pattern.test(e.message), argv.join(' '));
}

describe('the --ladder spec', () => {
  test('the default ladder: 720p, 480p and 360p, highest first', () => {
    assert.deepEqual(parseLadder(DEFAULT_LADDER), [
      { name: '720p', width: 1280, height: 720, videoKbps: 2500 },
      { name: '480p', width: 854, height: 480, videoKbps: 1200 },
      { name: '360p', width: 640, height: 360, videoKbps: 700 },
    ]);
  });

  test('rungs come out highest first whatever order they are given in', () => {
    assert.deepEqual(
      parseLadder('240p=426x240@300, 1080p=1920x1080@5000').map((r) => r.name),
      ['1080p', '240p'],
    );
  });

  test('a bad rung is refused with what is wrong', () => {
    const bad: [string, RegExp][] = [
      ['', /name=WIDTHxHEIGHT@KBPS/],
      ['720p=1280x720', /name=WIDTHxHEIGHT@KBPS/],
      ['hd=1280x720@2500', /2-4 digits and "p"/],
      ['7p=1280x720@2500', /2-4 digits/],
      ['720p=1280x720@2500,720p=640x360@700', /given twice/],
      ['720p=1281x720@2500', /even numbers/],
      ['720p=32x32@2500', /even numbers/],
      ['720p=8000x720@2500', /even numbers/],
      ['720p=1280x720@10', /50-50000 kbps/],
      [Array.from({ length: 7 }, (_, i) => `${i + 10}p=640x360@700`).join(','), /at most 6 rungs/],
    ];
    for (const [spec, pattern] of bad) assert.throws(() => parseLadder(spec), (e: unknown) => e instanceof LadderError && pattern.test(e.message), spec);
  });

  test('--ladder alone is the default ladder, before another flag or at the end; without it there is none', () => {
    const names = (argv: string[]) => ladderOf(argv)?.map((r) => r.name) ?? null;
    assert.deepEqual(names(['--ladder']), ['720p', '480p', '360p']);
    assert.deepEqual(names(['--ladder', '--port', '0']), ['720p', '480p', '360p']);
    assert.deepEqual(names(['--ladder', '360p=640x360@700,240p=426x240@300']), ['360p', '240p']);
    assert.deepEqual(names(['--ladder=240p=426x240@300']), ['240p']);
    assert.equal(names([]), null);
    assert.deepEqual(names(['--ladder', '--copy']), ['720p', '480p', '360p'], 'with --copy the top rung is the source');
  });

  test('the origin refuses a bad ladder, and one it cannot publish with its other flags', () => {
    refused(['--ladder', '720p=1280x720'], /^--ladder: each rung/);
    refused(['--ladder', '720p=1280x720@2500', '--copy'], /--copy needs two rungs at least/);
    refused(['--ladder', '--redis', 'redis://127.0.0.1:6379'], /--redis is not supported/);
    refused(['--ladder', '--channel', '720p=testsrc'], /may not be named like a rendition/);
    refused(['--ladder', '--stream-id', 'x'.repeat(60), '--channel', 'sports=testsrc'], /over \d+ characters/);
  });
});

describe("each rung's piece size", () => {
  test('--piece-size for the top rung, the lower ones in proportion to their bitrate with audio, in whole KiB, at least 8 KiB', () => {
    const KiB = 1024;
    const table: [string, number, [string, number][]][] = [
      // The default ladder with 128 kbit/s audio: 2628, 1328, 828 kbit/s.
      ['default', 16 * KiB, [['720p', 16 * KiB], ['480p', 8 * KiB], ['360p', 8 * KiB]]],
      ['bigger pieces', 64 * KiB, [['720p', 64 * KiB], ['480p', 32 * KiB], ['360p', 20 * KiB]]],
    ];
    for (const [name, pieceSize, want] of table) assert.deepEqual([...rungPieceSizes(parseLadder('720p=1280x720@2500,480p=854x480@1200,360p=640x360@700'), pieceSize, 128)], want, name);
    // The benchmark's: 1500, 728 and 378 kbit/s.
    assert.deepEqual(
      [...rungPieceSizes(parseLadder('360p=640x360@1372,240p=426x240@600,144p=256x144@250'), 16 * KiB, 128)],
      [['360p', 16 * KiB], ['240p', 8 * KiB], ['144p', 8 * KiB]],
    );
    // A rung far below the top keeps pieces worth their headers.
    assert.equal(rungPieceSizes(parseLadder('1080p=1920x1080@8000,144p=256x144@100'), 16 * KiB, 64).get('144p'), MIN_RUNG_PIECE_SIZE);
    assert.equal(MIN_RUNG_PIECE_SIZE, 8 * KiB);
  });
});

describe('rendition names, paths and ids', () => {
  test('every path of a rendition is channel-qualified, the default channel included', () => {
    assert.equal(masterPlaylistPath('main'), '/live/main/master.m3u8');
    assert.equal(renditionLivePath('main', '720p'), '/live/main/720p');
    assert.equal(renditionTrackerPath('sports', '480p'), '/tracker/sports/480p');
    assert.equal(renditionStreamId('live', '720p'), 'live_720p');
    assert.equal(renditionStreamId('live_sports', '480p'), 'live_sports_480p');
  });

  test('a tracker path names a rendition only as /tracker/<channel>/<rendition>', () => {
    assert.deepEqual(renditionOfTrackerPath('/tracker/main/720p'), { channel: 'main', rendition: '720p' });
    for (const path of ['/tracker', '/tracker/main', '/tracker/main/hd', '/tracker/Main/720p', '/tracker/main/720p/x', '/tracker//720p']) {
      assert.equal(renditionOfTrackerPath(path), null, path);
    }
  });

  test("a node's neighbours in rendition r dial /peer/<r>, and only such a path names a rendition", () => {
    assert.equal(renditionPeerPath('720p'), '/peer/720p');
    assert.equal(renditionOfPeerPath('/peer/720p'), '720p');
    for (const path of ['/peer', '/peer/', '/peer/hd', '/peer/720p/x', '/peer//720p', '/peers/720p', '/x/peer/720p']) {
      assert.equal(renditionOfPeerPath(path), null, path);
    }
  });

  test("a rendition's announcements verify under its own name only", () => {
    const signer = generateSigner('main/720p');
    const { signed } = new LiveWindow(3, 4, signer, 1).publish(Buffer.from('segment'), 1000, false, 0);
    assert.ok(verifyAnnouncement(signer.publicKey, 'main/720p', signed));
    for (const other of ['main/480p', 'main', 'sports/720p']) assert.ok(!verifyAnnouncement(signer.publicKey, other, signed), other);
    for (const bad of ['main/', 'main/hd', '/720p', 'main/720p/x']) assert.throws(() => generateSigner(bad), /must match/, bad);
  });

  test("ffmpeg's ladder files name their rendition", () => {
    assert.equal(renditionOfIngestFile('720p-s12.ts'), '720p');
    assert.equal(renditionOfIngestFile('480p-stream.m3u8'), '480p');
    for (const file of ['s12.ts', 'stream.m3u8', 'hd-s1.ts', '-s1.ts']) assert.equal(renditionOfIngestFile(file), null, file);
  });
});

describe('H.264 levels and the master playlist', () => {
  test('each rung gets the lowest level that holds its size, frame rate and bitrate', () => {
    assert.equal(h264Level(1280, 720, 25, 2500, 5000), 31);
    assert.equal(h264Level(854, 480, 25, 1200, 2400), 30);
    assert.equal(h264Level(640, 360, 25, 700, 1400), 30);
    assert.equal(h264Level(640, 360, 15, 600, 1200), 22);
    assert.equal(h264Level(426, 240, 25, 300, 600), 21);
    assert.equal(h264Level(1920, 1080, 30, 5000, 10000), 40);
    assert.equal(h264Level(1280, 720, 60, 4000, 8000), 32);
    assert.equal(avcMainCodec(31), 'avc1.4d401f');
    assert.equal(avcMainCodec(21), 'avc1.4d4015');
  });

  test('the default ladder renders as the contract says, and parses back', () => {
    const variants = parseLadder(DEFAULT_LADDER).map((r) => rungVariant(r, 25, 96));
    const text = renderMasterPlaylist([...variants].reverse());
    assert.equal(
      text,
      [
        '#EXTM3U',
        '#EXT-X-VERSION:3',
        '#EXT-X-INDEPENDENT-SEGMENTS',
        `#EXT-X-STREAM-INF:BANDWIDTH=${variants[0]?.bandwidth},AVERAGE-BANDWIDTH=${variants[0]?.averageBandwidth},RESOLUTION=1280x720,CODECS="avc1.4d401f,mp4a.40.2",NAME="720p"`,
        '720p/index.m3u8',
        `#EXT-X-STREAM-INF:BANDWIDTH=${variants[1]?.bandwidth},AVERAGE-BANDWIDTH=${variants[1]?.averageBandwidth},RESOLUTION=854x480,CODECS="avc1.4d401e,mp4a.40.2",NAME="480p"`,
        '480p/index.m3u8',
        `#EXT-X-STREAM-INF:BANDWIDTH=${variants[2]?.bandwidth},AVERAGE-BANDWIDTH=${variants[2]?.averageBandwidth},RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2",NAME="360p"`,
        '360p/index.m3u8',
        '',
      ].join('\n'),
    );
    assert.deepEqual(parseMasterPlaylist(text), variants);
    // Audio and MPEG-TS framing are in: above the video bitrate alone, the peak above the average.
    for (const [i, kbps] of [2500, 1200, 700].entries()) {
      const v = variants[i];
      assert.ok(v && v.averageBandwidth > (kbps + 96) * 1000 && v.bandwidth > v.averageBandwidth, v?.name);
    }
  });

  test('a text that is no master playlist is refused', () => {
    assert.throws(() => parseMasterPlaylist('#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n'), /no #EXTM3U/);
    assert.throws(() => parseMasterPlaylist('#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\na.m3u8\n'), /bad EXT-X-STREAM-INF/);
  });
});

describe('the nginx edge (deploy/nginx/)', () => {
  test("lets a ladder's paths through, and nothing that is not one", () => {
    const template = readFileSync(new URL('../../deploy/nginx/p2p-live.conf.template', import.meta.url), 'utf8');
    const location = (prefix: string) => {
      const m = new RegExp(`location ~ "(\\^/${prefix}[^"]*)"`).exec(template);
      assert.ok(m, `a location for /${prefix}`);
      return new RegExp(m[1] as string);
    };
    const live = location('live');
    const tracker = location('tracker');
    for (const path of ['/live/master.m3u8', '/live/main/master.m3u8', '/live/main/720p/index.m3u8', '/live/sports/480p/seg-1796130149.ts', '/live/index.m3u8', '/live/sports/seg-1.ts']) {
      assert.ok(live.test(path), path);
    }
    for (const path of ['/live/main/720p/master.m3u8', '/live/main/hd/index.m3u8', '/live/main/720p/x/seg-1.ts', '/live/main/720p/seg-x.ts']) assert.ok(!live.test(path), path);
    for (const path of ['/tracker', '/tracker/main', '/tracker/main/720p']) assert.ok(tracker.test(path), path);
    for (const path of ['/tracker/main/hd', '/tracker/main/720p/x']) assert.ok(!tracker.test(path), path);
  });
});

describe("reading a copied source's codecs from its segment", () => {
  test('bytes that are no MPEG-TS with an H.264 SPS read as nothing', () => {
    assert.equal(readTsCodecs(Buffer.alloc(0)), null);
    assert.equal(readTsCodecs(Buffer.alloc(188 * 4, 0x47)), null);
    assert.equal(readTsCodecs(Buffer.from('not a transport stream at all')), null);
    // An SPS cut short is no SPS: 0x67 header, Main, 3.1, then nothing.
    assert.equal(readSps(Buffer.from([0x67, 0x4d, 0x40, 0x1f])), null);
  });
});

describe('aligned numbering across renditions', () => {
  const segment = (n: number) => Buffer.from(`segment ${n}`);

  test("a run's index is the same number in every rendition; a missed segment is a hole, never a shift", () => {
    const windows = [new LiveWindow(10, 4, generateSigner('main/720p'), 100), new LiveWindow(10, 4, generateSigner('main/360p'), 100)];
    const [hi, lo] = windows as [LiveWindow, LiveWindow];
    const numbering = new AlignedNumbering(() => windows);
    const publish = (w: LiveWindow, run: string, index: number) => w.publishAt(numbering.seqFor(run, index), segment(index), 1000, false, 0)?.info.seq;
    assert.equal(publish(hi, 'r1', 0), 100);
    assert.equal(publish(lo, 'r1', 0), 100);
    assert.equal(publish(hi, 'r1', 1), 101);
    // lo never gets index 1.
    assert.equal(publish(hi, 'r1', 2), 102);
    assert.equal(publish(lo, 'r1', 2), 102);
    assert.deepEqual(lo.announcements().map((s) => s.seq), [100, 102]);
    assert.equal(lo.lookup(101).state, 'unknown');
    assert.equal(lo.lookup(102).state, 'live');
    assert.deepEqual(lo.latestContiguous(6).map((s) => s.info.seq), [102], 'a playlist lists no hole: its numbers are consecutive');
    assert.deepEqual(hi.latestContiguous(2).map((s) => s.info.seq), [101, 102]);
    // A restarted ffmpeg counts from 0 again: its run is laid after the furthest number.
    assert.equal(publish(lo, 'r2', 0), 103);
    assert.equal(publish(hi, 'r2', 0), 103);
    assert.equal(publish(hi, 'r2', 1), 104);
    // A late file of the ended run behind the window is not published.
    assert.equal(publish(lo, 'r1', 0), undefined);
    assert.equal(lo.published, 3);
  });

  test('a number has one publish time in every rendition: the first to publish it stamps it, before signing', () => {
    const signer = generateSigner('main/720p');
    const [hi, lo] = [new LiveWindow(6, 4, signer, 0), new LiveWindow(6, 4, signer, 0)];
    const numbering = new AlignedNumbering(() => [hi, lo]);
    const publish = (w: LiveWindow, index: number, nowMs: number) => {
      const seq = numbering.seqFor('r1', index);
      return w.publishAt(seq, segment(index), 1000, false, numbering.stampFor(seq, nowMs));
    };
    assert.equal(publish(hi, 0, 5000)?.info.publishedAtMs, 5000);
    const late = publish(lo, 0, 5066);
    assert.equal(late?.info.publishedAtMs, 5000, 'the second rung says the first one\'s time');
    assert.ok(late && verifyAnnouncement(signer.publicKey, 'main/720p', late.signed), 'and its record is signed with it');
    // The lower rung is first this time: the time is whichever came first.
    assert.equal(publish(lo, 1, 6010)?.info.publishedAtMs, 6010);
    assert.equal(publish(hi, 1, 6050)?.info.publishedAtMs, 6010);
  });

  test("a rendition's ingest takes its own files only, and tells the run and index of each segment", () => {
    const got: IngestedSegment[] = [];
    const r = new IngestReceiver((s) => got.push(s), '720p-');
    assert.equal(r.put('r1', '720p-s0.ts', segment(0), 1).status, 'accepted');
    assert.deepEqual(r.put('r1', 's0.ts', segment(0), 1), { status: 'rejected', reason: 'unexpected file name' });
    assert.deepEqual(r.put('r1', 'stream.m3u8', Buffer.from(''), 1), { status: 'rejected', reason: 'unexpected file name' });
    assert.deepEqual(r.put('r1', '720p-stream.m3u8', Buffer.from('#EXTM3U\n#EXTINF:1.000,\n720p-s0.ts\n'), 2), { status: 'accepted', published: 1 });
    assert.deepEqual(
      got.map((s) => [s.run, s.index, s.data.toString()]),
      [['r1', 0, 'segment 0']],
    );
  });
});
