/**
 * One peer's connection to the tracker, as the tracker's logic sees it: a
 * WebSocket in production (ws-tracker-edge.ts), an in-memory line in the
 * simulator and in fast tests (harness/memory-tracker.ts). A string is a text
 * frame and bytes are a binary frame, both ways.
 */
export interface TrackerConn {
  /** False from the moment either end starts closing: nothing more is sent or read. */
  readonly open: boolean;
  /** Bytes sent but not yet taken by the network: a peer far behind is dropped. */
  readonly bufferedAmount: number;
  send(frame: string | Uint8Array): void;
  /** Closes politely; the transport reports the end through `onClose`. */
  close(code: number, reason: string): void;
  /** Drops the connection at once, for a peer that does not answer a close. */
  terminate(): void;
}

/** What the transport tells the tracker about a connection it attached. */
export interface TrackerConnEvents {
  onMessage(frame: string | Uint8Array): void;
  /** The peer showed it is there without sending a message (a ws pong). */
  onAlive(): void;
  /** The connection is gone, however it ended; called once. */
  onClose(): void;
}
