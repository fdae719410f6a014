import { type PeerConfig, peerConfig } from '../../peer-node/config.ts';
import { type PeerNode, createPeerNode } from '../../peer-node/node.ts';
import type { Origin } from '../../origin/origin.ts';
import { quietLog } from './origin.ts';

export function trackerUrl(origin: Origin): string {
  return `${origin.url.replace(/^http/, 'ws')}/tracker`;
}

/**
 * A real peer node on a free port, in this process, joined to `origin`.
 * Every test peer is on 127.0.0.1, so the per-address neighbour cap is off
 * unless a test sets it.
 */
export async function startTestPeer(origin: Origin, overrides: Partial<PeerConfig> = {}): Promise<PeerNode> {
  const node = createPeerNode(peerConfig({ tracker: trackerUrl(origin), port: 0, maxNeighboursPerAddress: 0, ...overrides }), { log: quietLog });
  await node.start();
  return node;
}

/** The origin's SHA-256 of a segment it still holds. */
export function originSha(origin: Origin): (seq: number) => string | null {
  const seen = new Map<number, string>();
  origin.events.on('segmentPublished', ({ segment: s }) => {
    seen.set(s.info.seq, s.info.sha256);
    if (seen.size > 200) seen.delete(seen.keys().next().value as number);
  });
  return (seq) => seen.get(seq) ?? null;
}
