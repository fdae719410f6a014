/**
 * (harness/: shared by tests and scripts, see process.ts.)
 * The playback model of BENCHMARKS.md: a headless player that uses only a
 * peer node's public HTTP interface, as hls.js does by default. It reads the
 * live playlist, starts 3 segments behind the live edge, fetches segments in
 * order, and plays one segment per segment duration; a segment not wholly in
 * hand at its deadline is a stall, and every later deadline moves by it.
 * It reports its position and stalls to the peer node, as the web player does.
 * The accounting is playout.ts, shared with the simulator; this is its HTTP face.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { httpRequest } from './http-client.ts';
import { type ListedSegment, type PlaybackResult, Playout } from './playout.ts';

export type { PlaybackResult } from './playout.ts';

export function parseLivePlaylist(text: string): ListedSegment[] {
  const out: ListedSegment[] = [];
  let pdt: number | null = null;
  let duration: number | null = null;
  let msn = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) msn = Number(line.slice(22));
    else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) pdt = Date.parse(line.slice(25));
    else if (line.startsWith('#EXTINF:')) duration = Math.round(Number.parseFloat(line.slice(8)) * 1000);
    else {
      const m = /(?:^|\/)seg-(\d+)\.ts$/.exec(line.trim());
      if (m && duration !== null) out.push({ seq: Number(m[1]), msn: msn++, uri: line.trim(), durationMs: duration, publishedAtMs: (pdt ?? Number.NaN) + duration });
      if (m) [pdt, duration] = [null, null];
    }
  }
  return out;
}

const REPORT_EVERY_MS = 1000;

export class PlaybackModel {
  private readonly playout = new Playout(Date.now());
  private stopped = false;
  private loops: Promise<void>[] = [];

  private readonly playlistUrl: string;
  private readonly reportUrl: string | null;
  private readonly expectedSha256: (seq: number) => string | null;

  /**
   * Plays `playlistUrl`; reports position and stalls to `reportUrl` (a peer
   * node's /api/player) unless it is null (plain HLS from the origin).
   */
  constructor(o: { playlistUrl: string; reportUrl: string | null; expectedSha256?: (seq: number) => string | null }) {
    this.playlistUrl = o.playlistUrl;
    this.reportUrl = o.reportUrl;
    this.expectedSha256 = o.expectedSha256 ?? (() => null);
  }

  /** A model playing a peer node's local stream, reporting to it as the web player does. */
  static forPeer(peerUrl: string, expectedSha256?: (seq: number) => string | null): PlaybackModel {
    return new PlaybackModel({ playlistUrl: `${peerUrl}/live.m3u8`, reportUrl: `${peerUrl}/api/player`, expectedSha256 });
  }

  start(): void {
    this.loops = [this.playlistLoop(), this.fetchLoop(), playOnWallClock(this.playout, () => this.stopped), this.reportLoop()];
  }

  /** The figures so far, while it plays. */
  current(): PlaybackResult {
    const r = this.playout.result;
    return { ...r, behindLiveMs: [...r.behindLiveMs], digests: [...r.digests] };
  }

  async close(): Promise<PlaybackResult> {
    this.stopped = true;
    await Promise.all(this.loops);
    return this.playout.finish(Date.now());
  }

  private async playlistLoop(): Promise<void> {
    while (!this.stopped) {
      try {
        const res = await httpRequest(this.playlistUrl, 5000);
        if (res.ok) this.playout.listed(parseLivePlaylist(res.body.toString()));
      } catch {
        // The peer node may not be listening yet; keep asking, as hls.js must.
      }
      await sleep(500);
    }
  }

  private async fetchLoop(): Promise<void> {
    while (!this.stopped) {
      const next = this.playout.nextToFetch();
      if (!next) {
        await sleep(50);
        continue;
      }
      try {
        const res = await httpRequest(new URL(next.uri, this.playlistUrl), 15_000);
        if (res.ok) {
          const sha256 = createHash('sha256').update(res.body).digest('hex');
          const expected = this.expectedSha256(next.seq);
          this.playout.fetched(next.seq, Date.now(), { sha256, corrupt: expected !== null && sha256 !== expected });
        } else {
          this.playout.fetched(next.seq, Date.now(), null);
        }
      } catch {
        // A fetch cut short by the end of the run is not the peer's failure.
        if (this.stopped) return;
        this.playout.fetched(next.seq, Date.now(), null);
      }
    }
  }


  private async reportLoop(): Promise<void> {
    while (!this.stopped) {
      await sleep(REPORT_EVERY_MS);
      const playing = this.playout.position;
      if (!playing || this.reportUrl === null) continue;
      await sendReport(this.reportUrl, this.playout, playing.msn, playing.startedAtMs);
    }
  }
}

/** Plays `playout` on the wall clock, looking at least every 20 ms, until `stopped()`. */
export async function playOnWallClock(playout: Playout, stopped: () => boolean): Promise<void> {
  while (!stopped()) {
    const now = Date.now();
    const due = playout.play(now);
    await sleep(due === null ? 20 : Math.max(1, Math.min(20, due - now)));
  }
}

/** Posts one position report as the web player does: media sequence `msn`, playing since `startedAtMs`, the stall totals so far. */
export async function sendReport(url: string, playout: Playout, msn: number, startedAtMs: number, rendition?: string): Promise<void> {
  const r = playout.result;
  const offsetMs = Math.max(0, Date.now() - startedAtMs);
  try {
    await httpRequest(url, 2000, JSON.stringify({ seq: msn, offsetMs: Math.min(offsetMs, 600_000), stalls: r.stalls, stallMs: Math.round(r.stalledMs), rendition }));
  } catch {
    // A report lost is a report late; the next one carries the totals.
  }
}
