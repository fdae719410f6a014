/** Cumulative counters of what the node did; metrics and tracker reports read them. */
export interface SwarmCounters {
  p2pBytes: number;
  /** Segment bytes from the origin: HTTP fallback fetches plus pieces it seeded to us. */
  originBytes: number;
  seedBytes: number;
  uploadedBytes: number;
  duplicateBytes: number;
  hashFailures: number;
  protocolErrors: number;
  peerRequests: number;
  /** Pieces we sent a neighbour unasked (relay push). */
  piecesPushed: number;
  originRequests: number;
  /** Peer-wire bytes other than segment payload, both ways, WebSocket framing included. */
  controlBytesIn: number;
  controlBytesOut: number;
  /** Tracker bytes other than seeded payload, both ways, WebSocket framing included. */
  trackerBytesIn: number;
  trackerBytesOut: number;
  stalls: number;
  stallMs: number;
  /** Segment announcements, whole or partial, dropped because the origin's key did not sign them (announcement-trust.ts). */
  badAnnouncements: number;
  /** Pieces stored while their segment was still open (progressive announcement): relay ahead of the whole announcement. */
  earlyPieces: number;
}

export function newCounters(): SwarmCounters {
  return {
    p2pBytes: 0,
    originBytes: 0,
    seedBytes: 0,
    uploadedBytes: 0,
    duplicateBytes: 0,
    hashFailures: 0,
    protocolErrors: 0,
    peerRequests: 0,
    piecesPushed: 0,
    originRequests: 0,
    controlBytesIn: 0,
    controlBytesOut: 0,
    trackerBytesIn: 0,
    trackerBytesOut: 0,
    stalls: 0,
    stallMs: 0,
    badAnnouncements: 0,
    earlyPieces: 0,
  };
}

/** WebSocket framing bytes of one frame (RFC 6455): header, extended length, and the mask clients add. */
export function frameOverheadBytes(payloadBytes: number, fromClient: boolean): number {
  const ext = payloadBytes > 65535 ? 8 : payloadBytes > 125 ? 2 : 0;
  return 2 + ext + (fromClient ? 4 : 0);
}
