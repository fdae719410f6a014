import type { TrackerConn, TrackerConnEvents } from '../origin/tracker-conn.ts';
import type { TrackerServer } from '../origin/tracker-server.ts';
import type { TrackerConnect, TrackerSocket, TrackerSocketEvents } from '../peer-node/tracker-socket.ts';
import type { Clock } from '../shared/clock.ts';

/**
 * A `TrackerConnect` whose sockets reach `server` in memory, on `clock`'s
 * timers: the real TrackerServer and TrackerClient run in virtual time, with
 * no socket. Every frame and every close arrives one `latencyMs` after it was
 * sent; frames are handed over as they are (no copy). The tracker sees each
 * connection come from `address`, the host it puts in the peer's listed URL.
 */
export function memoryTrackerConnect(clock: Clock, latencyMs: number, server: Pick<TrackerServer, 'attach'>, address: string | null = '127.0.0.1'): TrackerConnect {
  return (_url, events) => {
    const line = new MemoryTrackerLine(clock, latencyMs, events);
    line.dial(server, address);
    return line.socket;
  };
}

type EndState = 'connecting' | 'open' | 'closing' | 'closed';

/**
 * One connection, both ends. Closing works as a WebSocket close handshake:
 * the end that closes stops sending at once, the other end hears the close
 * one latency later and the closer one latency after that; `terminate` ends
 * its own end at once and the far end one latency later. Nothing is buffered,
 * so `bufferedAmount` is always 0.
 */
class MemoryTrackerLine {
  private peerEnd: EndState = 'connecting';
  private trackerEnd: EndState = 'connecting';
  /** The tracker's side, once it took the connection; null until then or if it refused it. */
  private tracker: TrackerConnEvents | null = null;

  readonly socket: TrackerSocket;
  private readonly conn: TrackerConn;

  constructor(
    private readonly clock: Clock,
    private readonly latencyMs: number,
    private readonly peer: TrackerSocketEvents,
  ) {
    const line = this;
    this.socket = {
      get open() {
        return line.peerEnd === 'open';
      },
      send: (text) => {
        if (this.peerEnd !== 'open') return;
        this.later(() => {
          if (this.trackerEnd !== 'closed') this.tracker?.onMessage(text);
        });
      },
      close: (code, reason) => {
        if (this.peerEnd === 'connecting') return this.socket.terminate();
        if (this.peerEnd !== 'open') return;
        this.peerEnd = 'closing';
        this.later(() => {
          this.endTracker();
          this.later(() => this.endPeer(code, reason));
        });
      },
      terminate: () => {
        this.endPeer(1006, '');
        this.later(() => this.endTracker());
      },
    };
    this.conn = {
      get open() {
        return line.trackerEnd === 'open';
      },
      bufferedAmount: 0,
      send: (frame) => {
        if (this.trackerEnd !== 'open') return;
        this.later(() => {
          if (this.peerEnd === 'open' || this.peerEnd === 'closing') this.peer.onMessage(frame);
        });
      },
      close: (code, reason) => {
        if (this.trackerEnd !== 'open') return;
        this.trackerEnd = 'closing';
        this.later(() => {
          this.endPeer(code, reason);
          this.later(() => this.endTracker());
        });
      },
      terminate: () => {
        this.endTracker();
        this.later(() => this.endPeer(1006, ''));
      },
    };
  }

  /**
   * The upgrade reaches the tracker one latency after the dial and its answer
   * reaches the peer one latency later, ahead of anything the tracker sends.
   * A refused connection never opens: the peer hears only the close.
   */
  dial(server: Pick<TrackerServer, 'attach'>, address: string | null): void {
    this.later(() => {
      if (this.peerEnd === 'closed') return;
      this.trackerEnd = 'open';
      this.later(() => {
        if (this.peerEnd !== 'connecting' || this.tracker === null) return;
        this.peerEnd = 'open';
        this.peer.onOpen();
      });
      this.tracker = server.attach(this.conn, address);
    });
  }

  private later(fn: () => void): void {
    this.clock.setTimeout(fn, this.latencyMs);
  }

  private endPeer(code: number, reason: string): void {
    if (this.peerEnd === 'closed') return;
    this.peerEnd = 'closed';
    this.peer.onClose(code, reason);
  }

  private endTracker(): void {
    if (this.trackerEnd === 'closed') return;
    this.trackerEnd = 'closed';
    this.tracker?.onClose();
  }
}
