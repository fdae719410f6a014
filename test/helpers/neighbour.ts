import { memoryLinkPair } from '../../peer-node/memory-link.ts';
import { Neighbour } from '../../peer-node/neighbour.ts';
import type { Clock } from '../../shared/clock.ts';

/**
 * A handshaken neighbour named `id` on a memory link nobody reads, for unit
 * tests of the swarm's parts; `more` sets its state (choke flags, holdings' clock, allowance).
 */
export function testNeighbour(clock: Clock, id: string, more: Partial<Neighbour> = {}): Neighbour {
  const [link] = memoryLinkPair(clock, { latencyMs: 0 });
  const n = new Neighbour(link, true, clock.nowMs(), null, id);
  Object.assign(n, { peerId: id, handshaken: true, ...more });
  return n;
}
