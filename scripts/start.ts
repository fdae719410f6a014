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
import { masterPlaylistPath } from '../shared/rendition.ts';

const demoFlags = {
  port: originFlags.port,
  peers: { kind: 'int', default: 3, min: 1, max: 50, help: 'peer nodes to start (per channel)', env: 'DEMO_PEERS' },
  channels: { kind: 'int', default: 1, min: 1, max: 8, help: 'live channels to serve: main, then ch2, ch3, … each on the test pattern with its own peers' },
  streamKey: originFlags.streamKey,
  lowLatency: originFlags.lowLatency,
  ladder: originFlags.ladder,
  logLevel: originFlags.logLevel,
} as const satisfies Record<string, FlagSpec>;
const STATUS_EVERY_MS = 5000;

void runMain('demo', async () => {
  const demo = parseConfig(demoFlags, process.argv.slice(2), process.env);
  if (!demo) {
    process.stdout.write(`${helpText(commandName('npm start --'), demoFlags)}\n`);
    return null;
  }
  const named = Array.from({ length: demo.channels - 1 }, (_, i) => `ch${i + 2}`);
  const base = originConfig({
    port: demo.port,
    streamKey: demo.streamKey,
    signingKey: process.env.SIGNING_KEY ?? null,
    lowLatency: demo.lowLatency,
    channel: named.map((c) => `${c}=testsrc`),
    ladder: demo.ladder,
  });
  const missing = checkFfmpeg(base.ffmpegPath);
  if (missing) throw new Error(missing);
  const log = createLogger('demo', demo.logLevel);
  const origin: Origin = createOrigin(base, { log: log.child({ program: 'origin' }) });
  await origin.start();
  const peers: { channel: string; node: PeerNode }[] = [];
  const staticDir = existsSync(PLAYER_DIR) ? PLAYER_DIR : null;
  for (const channel of origin.channels.keys()) {
    for (let i = 0; i < demo.peers; i++) {
      const node = createPeerNode(peerConfig({ tracker: `${origin.url.replace(/^http/, 'ws')}/tracker`, channel, port: 0, maxNeighboursPerAddress: 0 }), {
        log: log.child({ program: 'peer', channel }),
        staticDir,
      });
      await node.start();
      peers.push({ channel, node });
    }
  }
  const several = origin.channels.size > 1;
  const lines = [
    `origin dashboard ${origin.url}/dashboard${existsSync(DASHBOARD_DIST_DIR) ? '' : '  (page not built: npm run build:dashboard)'}`,
    ...[...origin.channels.values()].map(
      (c) => `${several ? `${c.name} playlist` : 'origin playlist'}`.padEnd(16) + ` ${origin.url}${c.plain ? `${c.livePath}/index.m3u8` : masterPlaylistPath(c.name)}`,
    ),
    `origin metrics   ${origin.url}/metrics`,
    ...peers.map((p, i) => `${`peer ${i + 1} ${several ? `${p.channel} ` : ''}${staticDir ? 'player' : 'playlist'}`.padEnd(16)} ${p.node.url}/${staticDir ? '' : 'live.m3u8'}`),
    ...[...origin.channels.values()].map((c) => `${several ? `${c.name} key` : 'stream key'}`.padEnd(16) + ` ${c.streamKey}`),
    `origin key       ${origin.originKey}  (for other peers: --origin-key)`,
    'Ctrl-C stops everything.',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const status = setInterval(() => {
    for (const c of origin.channels.values()) {
      const mine = peers.filter((p) => p.channel === c.name).map((p) => p.node);
      const p2p = mine.reduce((n, p) => n + p.counters.p2pBytes, 0);
      const fromOrigin = mine.reduce((n, p) => n + p.counters.originBytes, 0);
      const offload = p2p + fromOrigin === 0 ? 0 : p2p / (p2p + fromOrigin);
      const neighbours = mine.map((p) => p.swarm.handshaken().length).join('/');
      process.stdout.write(
        `status${several ? ` ${c.name}` : ''}: segments ${c.window.size} in window, peers ${c.swarmSize()}, neighbours ${neighbours}, offload ${(offload * 100).toFixed(1)} %\n`,
      );
    }
  }, STATUS_EVERY_MS);
  return {
    log,
    async close() {
      clearInterval(status);
      await Promise.all(peers.map((p) => p.node.close()));
      await origin.close();
    },
  };
});
