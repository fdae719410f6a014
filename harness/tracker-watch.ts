/**
 * (harness/: shared by tests and scripts, see process.ts.)
 * What the origin announced, learnt over its tracker as a peer that neither
 * uploads nor listens (no address, so nobody seeds or dials it): the truth a
 * player's bytes are checked against when the origin runs in another process.
 * Reconnects until closed, so it survives an origin restart.
 */
import { WebSocket } from 'ws';
import { PROTOCOL_VERSION } from '../shared/limits.ts';
import type { SegmentAnnouncement } from '../shared/segment.ts';
import { decodeTrackerToPeer, encodePeerToTracker } from '../shared/tracker-protocol.ts';

export interface TrackerWatchOptions {
  /** The peer id it joins with. */
  peerId?: string;
  /** Newest announcements kept; older ones are forgotten, so a long run stays small. */
  keep?: number;
  reconnectMs?: number;
}

export class TrackerWatch {
  readonly bySeq = new Map<number, SegmentAnnouncement>();
  private ws: WebSocket | null = null;
  private closed = false;
  private readonly peerId: string;
  private readonly keep: number;
  private readonly reconnectMs: number;
  private retry: NodeJS.Timeout | null = null;

  constructor(
    private readonly trackerUrl: string,
    o: TrackerWatchOptions = {},
  ) {
    this.peerId = o.peerId ?? 'watcher';
    this.keep = o.keep ?? Number.POSITIVE_INFINITY;
    this.reconnectMs = o.reconnectMs ?? 250;
    this.connect();
  }

  /** The origin's SHA-256 of a segment, if announced (and still kept). */
  sha = (seq: number): string | null => this.bySeq.get(seq)?.sha256 ?? null;

  get newest(): number {
    return Math.max(-1, ...this.bySeq.keys());
  }

  close(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.ws?.terminate();
  }

  private connect(): void {
    if (this.closed) return;
    const ws = new WebSocket(this.trackerUrl);
    this.ws = ws;
    ws.on('error', () => undefined);
    ws.on('open', () =>
      ws.send(encodePeerToTracker({ type: 'join', version: PROTOCOL_VERSION, streamId: 'live', peerId: this.peerId, url: null, uploadKbps: 0 })),
    );
    ws.on('message', (data, isBinary) => {
      // Announcements come as binary frames, the welcome as text; ws hands over a whole message as one Buffer.
      const m = decodeTrackerToPeer(isBinary ? (data as Buffer) : data.toString());
      if (!m.ok) return;
      const list = m.value.type === 'welcome' ? m.value.segments : m.value.type === 'segment' ? [m.value.announcement] : [];
      for (const { segment: s } of list) this.bySeq.set(s.seq, s);
      while (this.bySeq.size > this.keep) this.bySeq.delete(this.bySeq.keys().next().value as number);
    });
    ws.on('close', () => {
      if (!this.closed) this.retry = setTimeout(() => this.connect(), this.reconnectMs);
    });
  }
}
