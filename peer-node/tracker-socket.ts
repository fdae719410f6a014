/**
 * The peer node's connection to the tracker, as TrackerClient needs it: over
 * ws in production (ws-tracker-socket.ts), in memory in the simulator and in
 * fast tests (harness/memory-tracker.ts). A string is a text frame and bytes
 * are a binary frame (a segment announcement or a seeded piece).
 */
export interface TrackerSocket {
  readonly open: boolean;
  send(text: string): void;
  close(code: number, reason: string): void;
  /** Drops the connection at once, also one still opening. */
  terminate(): void;
}

/** Called by the socket, never from inside the `TrackerConnect` call that made it. */
export interface TrackerSocketEvents {
  onOpen(): void;
  onMessage(frame: string | Uint8Array): void;
  /** Once, however it ended, also when it never opened. */
  onClose(code: number, reason: string): void;
  onError(err: Error): void;
}

/** Dials the tracker at `url`. */
export type TrackerConnect = (url: string, events: TrackerSocketEvents) => TrackerSocket;
