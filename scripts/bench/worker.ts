/**
 * A benchmark worker: hosts some of a scenario's peer nodes (the same code as
 * `npm run peer`, each with its own sockets, store, policy state and emulated
 * link) and a playback model beside each, and reports to the runner over IPC.
 */
import { pino } from 'pino';
import { type PeerConfig, peerConfig } from '../../peer-node/config.ts';
import { type PeerNode, createPeerNode } from '../../peer-node/node.ts';
import { PlaybackModel } from '../../harness/playback-model.ts';
import { AbrPlaybackModel } from '../../harness/abr-playback-model.ts';
import type { PeerFinal, ToRunner, ToWorker, WorkerPeer } from './worker-protocol.ts';

const log = pino({ level: 'silent' });

interface Hosted {
  spec: WorkerPeer;
  node: PeerNode;
  model: PlaybackModel | AbrPlaybackModel;
  joinedAtMs: number;
  lags: Map<number, number>;
}

const hosted = new Map<string, Hosted>();
const finals: PeerFinal[] = [];
const cpuStart = process.cpuUsage();

function send(msg: ToRunner, then?: () => void): void {
  process.send?.(msg, undefined, undefined, then);
}

function recordLags(h: Hosted): void {
  for (const e of h.node.store.all()) {
    if (e.completedAtMs !== null && !h.lags.has(e.info.seq)) h.lags.set(e.info.seq, e.completedAtMs - e.info.publishedAtMs);
  }
}

async function add(spec: WorkerPeer, trackerUrl: string): Promise<void> {
  // Every benchmark peer is on 127.0.0.1: the per-address neighbour cap would split the swarm.
  const config: Partial<PeerConfig> = { tracker: trackerUrl, port: 0, peerId: spec.id, seed: spec.seed, maxNeighboursPerAddress: 0, ...spec.config };
  const node = createPeerNode(peerConfig(config), { log });
  await node.start();
  const model = spec.abr ? AbrPlaybackModel.forPeer(node.url) : PlaybackModel.forPeer(node.url);
  model.start();
  hosted.set(spec.id, { spec, node, model, joinedAtMs: Date.now(), lags: new Map() });
}

async function finish(h: Hosted): Promise<void> {
  hosted.delete(h.spec.id);
  recordLags(h);
  const playback = await h.model.close();
  const renditions = h.node.stats().renditions;
  await h.node.close();
  finals.push({
    id: h.spec.id,
    counters: { ...h.node.counters },
    playback,
    ...(h.spec.abr && { renditions }),
    lags: [...h.lags].map(([seq, lagMs]) => ({ seq, lagMs })),
    joinedAtMs: h.joinedAtMs,
    leftAtMs: Date.now(),
  });
}

const lagTimer = setInterval(() => {
  for (const h of hosted.values()) recordLags(h);
  send({
    type: 'stats',
    peers: [...hosted.values()].map((h) => ({
      id: h.spec.id,
      counters: { ...h.node.counters },
      neighbours: h.node.swarm.handshaken().length,
      ...(h.spec.abr && { renditions: h.node.stats().renditions }),
    })),
  });
}, 1000);

process.on('message', (msg: ToWorker) => {
  void (async () => {
    switch (msg.type) {
      case 'add':
        await Promise.all(msg.peers.map((p) => add(p, msg.trackerUrl)));
        return;
      case 'remove':
        await Promise.all(msg.ids.map((id) => hosted.get(id)).filter((h): h is Hosted => h !== undefined).map(finish));
        return;
      case 'finish': {
        clearInterval(lagTimer);
        await Promise.all([...hosted.values()].map(finish));
        const cpu = process.cpuUsage(cpuStart);
        send({ type: 'final', peers: finals, cpuMs: (cpu.user + cpu.system) / 1000 }, () => process.disconnect?.());
        return;
      }
    }
  })();
});

// The runner going away (killed, crashed) must not leave this worker behind.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
