/**
 * (harness/: shared by tests and scripts, see process.ts.)
 * The playback model of BENCHMARKS.md on a ladder: the same headless player
 * as playback-model.ts (starts 3 segments behind live, one segment per
 * duration, a late segment is a stall; playout.ts counts it all), which also
 * chooses a rendition the way a player does. It reads the peer node's master
 * playlist (`/live.m3u8`), starts on the lowest rung, estimates its bandwidth
 * from the node's segment responses (which the node paces to its own
 * downloads) as hls.js does, the wait for the first byte set aside, and
 * chooses the rung of each next segment by abr-rule.ts.
 * Segment n is the same time slice in every rung, so a switch is a change of
 * rung between one segment and the next: it polls the new rung's playlist
 * (which has the node join that rung's swarm) and fetches the same next
 * segment number from it. It reports its position and the rendition playing
 * to the node, as the web player does.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Variant, parseMasterPlaylist } from '../shared/master-playlist.ts';
import { type BandwidthEstimator, chooseRung, estimateBps, newEstimator, sampleDownload } from './abr-rule.ts';
import { parseLivePlaylist, playOnWallClock, sendReport } from './playback-model.ts';
import { httpRequest } from './http-client.ts';
import { type ListedSegment, type PlaybackResult, Playout } from './playout.ts';

/** A segment the model fetched whole. */
export interface FetchedSegment {
  seq: number;
  rendition: string;
  bytes: number;
}

export interface AbrPlaybackResult extends PlaybackResult {
  /** Changes of rendition from one segment fetched to the next. */
  switches: number;
  fetched: FetchedSegment[];
  /** The rendition of the last segment fetched, or null if none was. */
  rendition: string | null;
}

const REPORT_EVERY_MS = 1000;
const PLAYLIST_EVERY_MS = 500;
/** How long a switch waits for the new rung's playlist to list the next segment (a node joining a swarm learns its window). */
const SWITCH_WAIT_MS = 3000;
/** Listings and renditions of this many recent segments are kept. */
const KEEP_SEGMENTS = 64;

export class AbrPlaybackModel {
  private readonly playout = new Playout(Date.now());
  private stopped = false;
  private loops: Promise<void>[] = [];
  /** Rungs, lowest first, once the master playlist is read. */
  private rungs: Variant[] = [];
  private current = 0;
  private estimator: BandwidthEstimator = newEstimator();
  /** What each rung's playlist listed lately, by segment number. */
  private readonly listed = new Map<string, Map<number, ListedSegment>>();
  /** The rung each fetched segment came from. */
  private readonly renditionOf = new Map<number, string>();
  private lastRendition: string | null = null;
  private switches = 0;
  private readonly fetchedSegments: FetchedSegment[] = [];

  /** Plays the ladder at `masterUrl` (a peer node's `/live.m3u8`), reporting to `reportUrl` (its `/api/player`). */
  constructor(
    private readonly masterUrl: string,
    private readonly reportUrl: string,
  ) {}

  static forPeer(peerUrl: string): AbrPlaybackModel {
    return new AbrPlaybackModel(`${peerUrl}/live.m3u8`, `${peerUrl}/api/player`);
  }

  start(): void {
    this.loops = [this.run()];
  }

  async close(): Promise<AbrPlaybackResult> {
    this.stopped = true;
    await Promise.all(this.loops);
    return { ...this.playout.finish(Date.now()), switches: this.switches, fetched: this.fetchedSegments, rendition: this.lastRendition };
  }

  private async run(): Promise<void> {
    await this.readMaster();
    if (this.stopped) return;
    await Promise.all([this.playlistLoop(), this.fetchLoop(), playOnWallClock(this.playout, () => this.stopped), this.reportLoop()]);
  }

  private async readMaster(): Promise<void> {
    while (!this.stopped) {
      try {
        const res = await httpRequest(this.masterUrl, 5000);
        if (res.ok) {
          const rungs = parseMasterPlaylist(res.body.toString());
          if (rungs.length > 0) {
            this.rungs = rungs.sort((a, b) => a.bandwidth - b.bandwidth);
            return;
          }
        }
      } catch {
        // Not listening yet, or not a ladder yet (a node answers 503 until it knows): ask again, as hls.js must.
      }
      await sleep(PLAYLIST_EVERY_MS);
    }
  }

  private playlistUrl(rung: Variant): URL {
    return new URL(rung.uri, this.masterUrl);
  }

  /** Reads rung `i`'s playlist once: what it lists is remembered, and what is new goes to the playout. */
  private async readPlaylist(i: number): Promise<void> {
    const rung = this.rungs[i] as Variant;
    try {
      const res = await httpRequest(this.playlistUrl(rung), 5000);
      if (!res.ok) return;
      const segments = parseLivePlaylist(res.body.toString());
      const known = this.listed.get(rung.name) ?? new Map<number, ListedSegment>();
      for (const s of segments) known.set(s.seq, s);
      trim(known);
      this.listed.set(rung.name, known);
      this.playout.listed(segments);
    } catch {
      // The node may be joining the rung; the next read will tell.
    }
  }

  private async playlistLoop(): Promise<void> {
    while (!this.stopped) {
      await this.readPlaylist(this.current);
      await sleep(PLAYLIST_EVERY_MS);
    }
  }

  /**
   * The rung's listing of `seq`, waiting a while for a rung just switched to:
   * the listing, `later` if the rung lists only later segments (a node that
   * joined its swarm lately lists from about the live edge), or null if it
   * lists nothing of it by then.
   */
  private async listing(i: number, seq: number): Promise<ListedSegment | 'later' | null> {
    const name = (this.rungs[i] as Variant).name;
    const deadline = Date.now() + SWITCH_WAIT_MS;
    for (;;) {
      const known = this.listed.get(name);
      const hit = known?.get(seq);
      if (hit) return hit;
      if (known && known.size > 0 && Math.min(...known.keys()) > seq) return 'later';
      if (this.stopped || Date.now() >= deadline) return null;
      await this.readPlaylist(i);
      if (!this.listed.get(name)?.has(seq)) await sleep(200);
    }
  }

  private async fetchLoop(): Promise<void> {
    while (!this.stopped) {
      const next = this.playout.nextToFetch();
      if (!next) {
        await sleep(50);
        continue;
      }
      // A segment boundary: the rule chooses the rung of the next segment.
      this.current = chooseRung(
        this.rungs.map((r) => r.bandwidth),
        this.current,
        estimateBps(this.estimator),
      );
      const rung = this.rungs[this.current] as Variant;
      const listed = await this.listing(this.current, next.seq);
      if (this.stopped) return;
      if (listed === 'later') {
        // The new rung starts later: a gap, which hls.js jumps to what the new level has; the playout counts a stall of its length.
        this.playout.fetched(next.seq, Date.now(), null);
        continue;
      }
      // Not listed yet: asked for all the same (the node's path of it), as hls.js asks for the segment at that position.
      const uri = listed?.uri ?? `${rung.name}/seg-${next.seq}.ts`;
      if (this.lastRendition !== null && this.lastRendition !== rung.name) this.switches++;
      this.lastRendition = rung.name;
      this.renditionOf.set(next.seq, rung.name);
      const askedAt = Date.now();
      try {
        const res = await httpRequest(new URL(uri, this.playlistUrl(rung)), 15_000);
        const ttfbMs = res.headersAtMs - askedAt;
        if (res.ok) {
          const body = res.body;
          const doneAt = Date.now();
          this.estimator = sampleDownload(this.estimator, doneAt - askedAt, body.byteLength, ttfbMs);
          this.fetchedSegments.push({ seq: next.seq, rendition: rung.name, bytes: body.byteLength });
          this.playout.fetched(next.seq, doneAt, { sha256: createHash('sha256').update(body).digest('hex'), corrupt: false, rendition: rung.name });
        } else {
          this.playout.fetched(next.seq, Date.now(), null);
        }
      } catch {
        if (this.stopped) return;
        this.playout.fetched(next.seq, Date.now(), null);
      }
      trim(this.renditionOf);
    }
  }

  private async reportLoop(): Promise<void> {
    while (!this.stopped) {
      await sleep(REPORT_EVERY_MS);
      const playing = this.playout.position;
      const rendition = playing && this.renditionOf.get(playing.seq);
      if (!playing || !rendition) continue;
      // The media sequence number is the playing rung's own (each rung's playlist numbers its segments).
      const msn = this.listed.get(rendition)?.get(playing.seq)?.msn ?? playing.msn;
      await sendReport(this.reportUrl, this.playout, msn, playing.startedAtMs, rendition);
    }
  }
}

/** Keeps the KEEP_SEGMENTS highest segment numbers of a map keyed by them. */
function trim<V>(bySeq: Map<number, V>): void {
  if (bySeq.size <= KEEP_SEGMENTS) return;
  for (const seq of [...bySeq.keys()].sort((a, b) => a - b).slice(0, bySeq.size - KEEP_SEGMENTS)) bySeq.delete(seq);
}
