/**
 * Receives the HLS that ffmpeg PUTs to the origin and publishes each segment
 * the moment ffmpeg lists it in its playlist. ffmpeg PUTs a segment first and
 * then the playlist naming it, so the playlist PUT is the exact instant a
 * segment is complete, with its exact duration: no folder polling, no guessing.
 */
export interface IngestedSegment {
  data: Buffer;
  durationMs: number;
  /** True for the first segment of an ingest run that follows an earlier one. */
  discontinuity: boolean;
  /** The `atMs` of the segment's PUT and of the playlist PUT that published it. */
  segmentPutEndMs: number;
  playlistPutMs: number;
}

const SEGMENT_FILE = /^s(\d{1,9})\.ts$/;
const MAX_PENDING_PER_RUN = 16;
const MAX_RUNS = 2;

export interface PlaylistEntry {
  file: string;
  index: number;
  durationMs: number;
}

/** Extracts (file, duration) pairs from ffmpeg's media playlist; ignores anything it does not expect. */
export function parseIngestPlaylist(text: string): PlaylistEntry[] {
  const out: PlaylistEntry[] = [];
  let duration: number | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#EXTINF:')) {
      const d = Number.parseFloat(line.slice(8));
      duration = Number.isFinite(d) && d > 0 ? d : null;
    } else if (line !== '' && !line.startsWith('#')) {
      const m = SEGMENT_FILE.exec(line);
      if (m && duration !== null) out.push({ file: line, index: Number(m[1]), durationMs: Math.round(duration * 1000) });
      duration = null;
    }
  }
  return out;
}

export type PutResult = { status: 'segment-stored' } | { status: 'published'; count: number } | { status: 'rejected'; reason: string };

export class IngestReceiver {
  private readonly pending = new Map<string, Map<string, { data: Buffer; putEndMs: number }>>();
  private readonly lastIndex = new Map<string, number>();
  private lastRun: string | null = null;

  constructor(private readonly publish: (s: IngestedSegment) => void) {}

  /** `atMs` is when the PUT's body had been read, on whatever time line the caller measures. */
  put(run: string, file: string, body: Buffer, atMs: number): PutResult {
    if (file === 'stream.m3u8') return this.playlist(run, body.toString('utf8'), atMs);
    if (!SEGMENT_FILE.test(file)) return { status: 'rejected', reason: 'unexpected file name' };
    let files = this.pending.get(run);
    if (!files) {
      files = new Map();
      this.pending.set(run, files);
      while (this.pending.size > MAX_RUNS) {
        const oldest = this.pending.keys().next().value as string;
        this.pending.delete(oldest);
        this.lastIndex.delete(oldest);
      }
    }
    files.set(file, { data: body, putEndMs: atMs });
    while (files.size > MAX_PENDING_PER_RUN) files.delete(files.keys().next().value as string);
    return { status: 'segment-stored' };
  }

  private playlist(run: string, text: string, atMs: number): PutResult {
    const files = this.pending.get(run);
    if (!files) return { status: 'published', count: 0 };
    let count = 0;
    for (const entry of parseIngestPlaylist(text)) {
      if (entry.index <= (this.lastIndex.get(run) ?? -1)) continue;
      const stored = files.get(entry.file);
      if (!stored) continue;
      files.delete(entry.file);
      this.lastIndex.set(run, entry.index);
      const discontinuity = this.lastRun !== null && this.lastRun !== run;
      this.lastRun = run;
      this.publish({ data: stored.data, durationMs: entry.durationMs, discontinuity, segmentPutEndMs: stored.putEndMs, playlistPutMs: atMs });
      count++;
    }
    return { status: 'published', count };
  }
}
