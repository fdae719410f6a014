/**
 * (harness/: shared by tests and scripts, see process.ts.)
 * The playback model of BENCHMARKS.md: a headless player that uses only a
 * peer node's public HTTP interface, as hls.js does by default. It reads the
 * live playlist, starts 3 segments behind the live edge, fetches segments in
 * order, and plays one segment per segment duration; a segment not wholly in
 * hand at its deadline is a stall, and every later deadline moves by it.
 * It reports its position and stalls to the peer node, as the web player does.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PlaybackResult {
  /** Peer start (model start) to the first segment in hand; null if it never started. */
  startupMs: number | null;
  segmentsDue: number;
  segmentsOnTime: number;
  stalls: number;
  stalledMs: number;
  watchMs: number;
  /** Per played segment: origin publish time to the model starting to play it. */
  behindLiveMs: number[];
  /** Segments whose SHA-256 differs from the origin's (where the origin's was known while playing). */
  corrupt: number;
  /** SHA-256 of every segment received, for checks after the run. */
  digests: { seq: number; sha256: string }[];
  /** Segments the peer answered with an error (504, 410...). */
  failed: number;
}

interface Listed {
  /** The origin's number, from the URI. */
  seq: number;
  /** Its media sequence number in the playlist, which is what a player reports. */
  msn: number;
  uri: string;
  durationMs: number;
  publishedAtMs: number;
}

export function parseLivePlaylist(text: string): Listed[] {
  const out: Listed[] = [];
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

const START_BEHIND = 3;
const REPORT_EVERY_MS = 1000;
const MAX_DIGESTS = 100_000;

export class PlaybackModel {
  private readonly startedAt = Date.now();
  private stopped = false;
  private readonly queue: Listed[] = [];
  private readonly inHand = new Map<number, number>();
  private nextToFetch: number | null = null;
  private readonly r: PlaybackResult = { startupMs: null, segmentsDue: 0, segmentsOnTime: 0, stalls: 0, stalledMs: 0, watchMs: 0, behindLiveMs: [], corrupt: 0, failed: 0, digests: [] };
  private playStartMs: number | null = null;
  private playing: { msn: number; startedAtMs: number } | null = null;
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
    this.loops = [this.playlistLoop(), this.fetchLoop(), this.playLoop(), this.reportLoop()];
  }

  /** The figures so far, while it plays. */
  current(): PlaybackResult {
    return { ...this.r, behindLiveMs: [...this.r.behindLiveMs], digests: [...this.r.digests] };
  }

  async close(): Promise<PlaybackResult> {
    this.stopped = true;
    await Promise.all(this.loops);
    if (this.playStartMs !== null) this.r.watchMs = Date.now() - this.playStartMs;
    return this.r;
  }

  private async playlistLoop(): Promise<void> {
    while (!this.stopped) {
      try {
        const res = await fetch(this.playlistUrl, { signal: AbortSignal.timeout(5000) });
        if (res.ok) this.onPlaylist(parseLivePlaylist(await res.text()));
        else await res.body?.cancel();
      } catch {
        // The peer node may not be listening yet; keep asking, as hls.js must.
      }
      await sleep(500);
    }
  }

  private onPlaylist(listed: Listed[]): void {
    if (listed.length === 0) return;
    if (this.nextToFetch === null) this.nextToFetch = (listed[Math.max(0, listed.length - START_BEHIND)] as Listed).seq;
    const last = this.queue.at(-1)?.seq ?? this.nextToFetch - 1;
    for (const s of listed) if (s.seq > last) this.queue.push(s);
  }

  private async fetchLoop(): Promise<void> {
    while (!this.stopped) {
      const next = this.queue.find((s) => !this.inHand.has(s.seq) && s.seq >= (this.nextToFetch ?? Infinity));
      if (!next) {
        await sleep(50);
        continue;
      }
      try {
        const res = await fetch(new URL(next.uri, this.playlistUrl), { signal: AbortSignal.timeout(15_000) });
        if (res.ok) {
          const body = new Uint8Array(await res.arrayBuffer());
          const sha256 = createHash('sha256').update(body).digest('hex');
          const expected = this.expectedSha256(next.seq);
          if (expected !== null && sha256 !== expected) this.r.corrupt++;
          if (this.r.digests.length < MAX_DIGESTS) this.r.digests.push({ seq: next.seq, sha256 });
          this.inHand.set(next.seq, Date.now());
        } else {
          await res.body?.cancel();
          this.r.failed++;
          this.inHand.set(next.seq, Number.POSITIVE_INFINITY);
        }
      } catch {
        if (!this.stopped) this.r.failed++;
        this.inHand.set(next.seq, Number.POSITIVE_INFINITY);
      }
      this.nextToFetch = next.seq + 1;
    }
  }

  /** Plays the queue in order on the wall clock, counting stalls. */
  private async playLoop(): Promise<void> {
    let index = 0;
    while (!this.stopped) {
      const seg = this.queue[index];
      const got = seg ? this.inHand.get(seg.seq) : undefined;
      if (!seg || got === undefined) {
        await sleep(20);
        continue;
      }
      const now = Date.now();
      if (this.playStartMs === null) {
        this.playStartMs = now;
        this.r.startupMs = now - this.startedAt;
        this.playing = { msn: seg.msn, startedAtMs: now };
      } else {
        const prev = this.playing as { msn: number; startedAtMs: number };
        const prevDuration = this.queue[index - 1]?.durationMs ?? 0;
        const due = prev.startedAtMs + prevDuration;
        if (now < due) {
          await sleep(Math.min(20, due - now));
          continue;
        }
        this.r.segmentsDue++;
        if (got === Number.POSITIVE_INFINITY) {
          // Skipped, as hls.js skips a segment that cannot be loaded: a stall of its length.
          this.r.stalls++;
          this.r.stalledMs += seg.durationMs;
          this.playing = { msn: seg.msn, startedAtMs: due + seg.durationMs };
          index++;
          continue;
        }
        if (got <= due) this.r.segmentsOnTime++;
        else {
          this.r.stalls++;
          this.r.stalledMs += got - due;
        }
        this.playing = { msn: seg.msn, startedAtMs: Math.max(due, got) };
      }
      if (Number.isFinite(seg.publishedAtMs)) this.r.behindLiveMs.push(this.playing.startedAtMs - seg.publishedAtMs);
      index++;
      // Segments played long ago are forgotten, so a long run stays small.
      if (index > 64) {
        const drop = this.queue.splice(0, index - 8);
        for (const d of drop) this.inHand.delete(d.seq);
        index -= drop.length;
      }
    }
  }

  private async reportLoop(): Promise<void> {
    while (!this.stopped) {
      await sleep(REPORT_EVERY_MS);
      if (!this.playing || this.reportUrl === null) continue;
      const offsetMs = Math.max(0, Date.now() - this.playing.startedAtMs);
      try {
        const res = await fetch(this.reportUrl, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ seq: this.playing.msn, offsetMs: Math.min(offsetMs, 600_000), stalls: this.r.stalls, stallMs: Math.round(this.r.stalledMs) }),
          signal: AbortSignal.timeout(2000),
        });
        await res.body?.cancel();
      } catch {
        // A report lost is a report late; the next one carries the totals.
      }
    }
  }
}
