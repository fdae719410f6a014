/**
 * The demo: an origin on the test pattern and a few peer nodes, all in this
 * process, with their URLs and a live status line. Ctrl-C stops everything,
 * ffmpeg included.
 */
import { existsSync } from 'node:fs';
import { originConfig, originFlags } from '../origin/config.ts';
import { DASHBOARD_DIST_DIR } from '../origin/dashboard/dist-dir.ts';
import { checkFfmpeg } from '../origin/ffmpeg-process.ts';
import { type Origin, createOrigin } from '../origin/origin.ts';
import { peerConfig } from '../peer-node/config.ts';
import { PLAYER_DIR } from '../peer-node/player-dir.ts';
import { type PeerNode, createPeerNode } from '../peer-node/node.ts';
import { type FlagSpec, commandName, helpText, parseConfig } from '../shared/cli.ts';
import { createLogger } from '../shared/log.ts';
import { runMain } from '../shared/process.ts';

const demoFlags = {
  port: originFlags.port,
  peers: { kind: 'int', default: 3, min: 1, max: 50, help: 'peer nodes to start', env: 'DEMO_PEERS' },
  streamKey: originFlags.streamKey,
  logLevel: originFlags.logLevel,
} as const satisfies Record<string, FlagSpec>;
const STATUS_EVERY_MS = 5000;

void runMain('demo', async () => {
  const demo = parseConfig(demoFlags, process.argv.slice(2), process.env);
  if (!demo) {
    process.stdout.write(`${helpText(commandName('npm start --'), demoFlags)}\n`);
    return null;
  }
  const base = originConfig({ port: demo.port, streamKey: demo.streamKey, signingKey: process.env.SIGNING_KEY ?? null });
  const missing = checkFfmpeg(base.ffmpegPath);
  if (missing) throw new Error(missing);
  const log = createLogger('demo', demo.logLevel);
  const origin: Origin = createOrigin(base, { log: log.child({ program: 'origin' }) });
  await origin.start();
  const peers: PeerNode[] = [];
  const staticDir = existsSync(PLAYER_DIR) ? PLAYER_DIR : null;
  for (let i = 0; i < demo.peers; i++) {
    const peer = createPeerNode(peerConfig({ tracker: `${origin.url.replace(/^http/, 'ws')}/tracker`, port: 0, maxNeighboursPerAddress: 0 }), {
      log: log.child({ program: 'peer' }),
      staticDir,
    });
    await peer.start();
    peers.push(peer);
  }
  const lines = [
    `origin dashboard ${origin.url}/dashboard${existsSync(DASHBOARD_DIST_DIR) ? '' : '  (page not built: npm run build:dashboard)'}`,
    `origin playlist  ${origin.url}/live/index.m3u8`,
    `origin metrics   ${origin.url}/metrics`,
    ...peers.map((p, i) => `${`peer ${i + 1} ${staticDir ? 'player' : 'playlist'}`.padEnd(16)} ${p.url}/${staticDir ? '' : 'live.m3u8'}`),
    `stream key       ${origin.streamKey}`,
    `origin key       ${origin.originKey}  (for other peers: --origin-key)`,
    'Ctrl-C stops everything.',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const status = setInterval(() => {
    const p2p = peers.reduce((n, p) => n + p.counters.p2pBytes, 0);
    const fromOrigin = peers.reduce((n, p) => n + p.counters.originBytes, 0);
    const offload = p2p + fromOrigin === 0 ? 0 : p2p / (p2p + fromOrigin);
    const neighbours = peers.map((p) => p.swarm.handshaken().length).join('/');
    process.stdout.write(
      `status: segments ${origin.window.size} in window, peers ${origin.tracker.registry.size}, neighbours ${neighbours}, offload ${(offload * 100).toFixed(1)} %\n`,
    );
  }, STATUS_EVERY_MS);
  return {
    log,
    async close() {
      clearInterval(status);
      await Promise.all(peers.map((p) => p.close()));
      await origin.close();
    },
  };
});
