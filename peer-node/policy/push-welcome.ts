/**
 * Whether a node asks its neighbours to push it fresh pieces. A push is sent
 * unasked, so the receiver cannot pace it: two neighbours often push the same
 * piece (each learns the other did only once it is on its way), and in the
 * simulator about half of all pushed pieces arrive held already. On a link with
 * room that costs nothing but bytes; on a download link near full it queues
 * every piece behind duplicates, the node's view of its neighbours goes stale,
 * requests outlive their patience and are asked again, and the duplicates
 * grow: at 50 viewers whose download is 2 times the stream's rate, origin
 * copies 4.62 and continuity 0.651 (`npm run sim -- --scenario swarm-50
 * --download-kbps 3000 --duration 60`, seed 1). So a node whose download rate
 * is known says `pushes-off` while what it receives comes near that rate, and
 * `pushes-on` once it is well below, and fetches by request meanwhile, which
 * it paces itself (policy/request-budget.ts): 1.33 and 0.997. The shares were
 * chosen in that run and at 1.5 and 3 times the rate (0.6 and 0.45: 1.39 and
 * 0.998 at 2 times, 2.07 and 0.977 at 1.5 times).
 */

/** Receiving at this share of the link or more: pushes off. */
export const PUSH_OFF_SHARE = 0.5;
/** Below this share again: pushes on. Apart from the first, so a rate near one share does not flip the signal at every check. */
export const PUSH_ON_SHARE = 0.35;

/** Whether pushes are welcome now, given whether they were, the rate received lately and the link's (null: not known, always welcome). */
export function pushesWelcome(welcome: boolean, receivedBytesPerSec: number, linkBytesPerSec: number | null): boolean {
  if (linkBytesPerSec === null) return true;
  const share = receivedBytesPerSec / linkBytesPerSec;
  return welcome ? share < PUSH_OFF_SHARE : share < PUSH_ON_SHARE;
}
