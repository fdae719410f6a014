import type { Clock } from '../shared/clock.ts';
import { decodeWire } from '../shared/wire-protocol.ts';
import type { Link } from './link.ts';

/** An inbound connection that names no stream by then is closed. */
const ROUTE_TIMEOUT_MS = 5000;

/**
 * A node in several swarms (one per rendition) listens on one `/peer`
 * socket: an inbound link goes to the swarm its handshake names. The
 * dialler speaks first (its handshake), so the first frame is read here,
 * `route` picks the swarm (or says why none), and the link is handed over
 * with that frame still to come, followed by whatever arrived meanwhile.
 */
export function routeInbound(link: Link, clock: Clock, route: (streamId: string) => ((link: Link) => void) | string): void {
  let routed = false;
  let target: ((frame: Uint8Array) => void) | null = null;
  /** Frames the swarm has not been given yet: the first, and any that came in the same read. */
  let queued: Uint8Array[] | null = null;
  const timer = clock.setTimeout(() => {
    if (!routed) link.close(1008, 'no handshake');
  }, ROUTE_TIMEOUT_MS);
  link.onClose(() => timer.cancel());
  link.onMessage((frame) => {
    if (queued) return void queued.push(frame);
    if (target) return target(frame);
    if (routed) return;
    routed = true;
    timer.cancel();
    const decoded = decodeWire(frame);
    if (!decoded.ok || decoded.value.type !== 'handshake') return link.close(1008, 'expected handshake');
    const accept = route(decoded.value.streamId);
    if (typeof accept === 'string') return link.close(1013, accept);
    queued = [frame];
    accept({
      send: (f, done) => link.send(f, done),
      close: (code, reason) => link.close(code, reason),
      onMessage(cb) {
        // After the swarm's own handshake has gone out (it sends it as it takes the link).
        queueMicrotask(() => {
          const pending = queued ?? [];
          queued = null;
          target = cb;
          for (const f of pending) cb(f);
        });
      },
      onClose: (cb) => link.onClose(cb),
      get bufferedAmount() {
        return link.bufferedAmount;
      },
    });
  });
}
