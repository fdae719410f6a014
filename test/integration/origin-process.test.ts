import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { childPids, isAlive, startScript, stopProcess, waitForOutput } from '../../harness/process.ts';
import { waitFor } from '../helpers/wait.ts';

const LIGHT = ['--width', '320', '--height', '180', '--fps', '15', '--video-kbps', '300'];

describe('origin as a program', () => {
  test('a missing ffmpeg gives one clear line saying how to install it', async () => {
    const p = startScript('origin/main.ts', ['--port', '0'], { env: { FFMPEG_PATH: '/nonexistent/ffmpeg' } });
    const { code } = await p.exited;
    assert.equal(code, 1);
    assert.equal(p.stderr().trim().split('\n').length, 1);
    assert.match(p.stderr(), /ffmpeg not found.*apt-get install ffmpeg.*FFMPEG_PATH/);
  });

  test('bad flags fail with one line naming the flag', async () => {
    for (const [args, pattern] of [
      [['--port', 'eighty'], /--port must be an integer/],
      [['--segment-seconds', '0'], /--segment-seconds must be an integer from 1/],
      [['--log-level', 'loud'], /--log-level must be one of/],
      [['--no-such-flag'], /Unknown option '--no-such-flag'/],
      [['--channel', 'Sports=testsrc'], /--channel: channel name must be/],
      [['--channel', 'sports=/nonexistent.mp4'], /--channel sports: no such file/],
    ] as const) {
      const p = startScript('origin/main.ts', [...args]);
      const { code } = await p.exited;
      assert.equal(code, 2, args.join(' '));
      assert.match(p.stderr(), pattern);
      assert.equal(p.stderr().trim().split('\n').length, 1);
    }
  });

  test('--help lists the flags', async () => {
    const p = startScript('origin/main.ts', ['--help']);
    assert.equal((await p.exited).code, 0);
    assert.match(p.stdout(), /--segment-seconds/);
    assert.match(p.stdout(), /--stream-key/);
  });

  test('--channel adds a channel: each is printed with its paths and key, and plays', async () => {
    const p = startScript('origin/main.ts', ['--port', '0', ...LIGHT, '--channel', 'sports=testsrc', '--channel-key', 'sports=sports-key-0123']);
    try {
      const [, main] = await waitForOutput(p, /channel main: playlist\s+(http\S+)/);
      const [, sports] = await waitForOutput(p, /channel sports: playlist\s+(http\S+)/);
      assert.match(sports as string, /\/live\/sports\/index\.m3u8$/);
      assert.match(p.stdout(), /channel sports: tracker\s+ws:\S+\/tracker\/sports/);
      assert.match(p.stdout(), /channel main: stream key \S+ \(generated/);
      assert.doesNotMatch(p.stdout(), /sports-key-0123/, 'a key given is not printed');
      for (const url of [main, sports]) await waitFor(`a segment at ${url}`, async () => (await fetch(url as string)).status === 200, 20_000);
    } finally {
      await stopProcess(p);
    }
  });

  test('SIGTERM stops ffmpeg and exits 0; SIGKILL of the origin takes ffmpeg with it', async () => {
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const p = startScript('origin/main.ts', ['--port', '0', ...LIGHT]);
      try {
        const [, url] = await waitForOutput(p, /playlist\s+(http\S+)/);
        await waitFor('a segment', async () => (await fetch(url as string)).status === 200, 20_000);
        const ffmpeg = await waitFor('ffmpeg child', async () => {
          const kids = await childPids(p.child.pid as number);
          return kids.length > 0 ? kids : undefined;
        });
        p.child.kill(signal);
        const exit = await p.exited;
        if (signal === 'SIGTERM') assert.equal(exit.code, 0);
        for (const pid of ffmpeg) await waitFor(`ffmpeg ${pid} to exit after ${signal}`, () => !isAlive(pid), 5000);
      } finally {
        await stopProcess(p);
      }
    }
  });
});
