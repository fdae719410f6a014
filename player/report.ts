import { MAX_REPORT_OFFSET_MS, type PlayerReport } from '../shared/player-api.ts';
import { RENDITION_NAME_PATTERN } from '../shared/rendition.ts';
import type { PlayPosition } from './position.ts';
import type { StallSnapshot } from './stalls.ts';

/** `rendition`: the ladder's rung playing, named as the master playlist names it, so the node knows which swarm's deadlines these are. */
export function playerReport(position: PlayPosition, stalls: StallSnapshot, rendition: string | null = null): PlayerReport {
  return {
    seq: position.seq,
    offsetMs: Math.min(MAX_REPORT_OFFSET_MS, Math.max(0, Math.floor(position.offsetMs))),
    stalls: stalls.stalls,
    stallMs: Math.max(0, Math.round(stalls.stallMs)),
    ...(rendition !== null && RENDITION_NAME_PATTERN.test(rendition) ? { rendition } : {}),
  };
}

/**
 * Tells the peer node where its player is, so its picker knows the real
 * deadlines. One request at a time; nothing is sent before a position is known.
 */
export class Reporter {
  sent = 0;
  failed = 0;
  last: PlayerReport | null = null;
  private busy = false;

  constructor(private readonly url: string) {}

  async send(position: PlayPosition | null, stalls: StallSnapshot, rendition: string | null = null): Promise<void> {
    if (!position || this.busy) return;
    const report = playerReport(position, stalls, rendition);
    this.busy = true;
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(report),
        cache: 'no-store',
      });
      if (res.ok) {
        this.sent++;
        this.last = report;
      } else {
        this.failed++;
      }
    } catch {
      this.failed++;
    } finally {
      this.busy = false;
    }
  }
}
