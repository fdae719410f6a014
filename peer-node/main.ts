import { existsSync } from 'node:fs';
import { commandName, helpText } from '../shared/cli.ts';
import { createLogger } from '../shared/log.ts';
import { runMain } from '../shared/process.ts';
import { systemClock } from '../shared/clock.ts';
import { startBufferSweeper } from './buffer-sweeper.ts';
import { parsePeerConfig, peerFlags } from './config.ts';
import { createPeerNode } from './node.ts';
import { openBrowser } from './open-browser.ts';
import { PLAYER_DIR } from './player-dir.ts';

void runMain('peer', async () => {
  const config = parsePeerConfig(process.argv.slice(2), process.env);
  if (!config) {
    process.stdout.write(`${helpText(commandName('npm run peer --'), peerFlags)}\n`);
    return null;
  }
  const log = createLogger('peer', config.logLevel);
  const node = createPeerNode(config, { log, staticDir: existsSync(PLAYER_DIR) ? PLAYER_DIR : null });
  await node.start();
  // A process-wide policy, so the program's and not the node's: nodes hosted together (the benchmark's workers) share a heap.
  const sweeper = startBufferSweeper(systemClock);
  process.stdout.write(
    [`peer ${node.peerId}: player   ${node.url}/`, `peer ${node.peerId}: playlist ${node.url}/live.m3u8`, `peer ${node.peerId}: metrics  ${node.url}/metrics`].join('\n') + '\n',
  );
  if (config.open) void openBrowser(`${node.url}/`, log);
  return {
    close: () => {
      sweeper.cancel();
      return node.close();
    },
    log,
  };
});
