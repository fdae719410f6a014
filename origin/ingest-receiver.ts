/**
 * Receives the HLS that ffmpeg PUTs to the origin and publishes each segment
 * once it holds both halves: the segment's bytes, and the playlist entry that
 * names it with its exact duration. ffmpeg sends a segment before the playlist
 * naming it, but over another connection and without waiting for an answer, so
 * the origin may finish reading a large segment a few milliseconds after that
 * playlist: whichever half comes last publishes. No folder polling, no guessing.
 */
export interface IngestedSegment {
  data: Buffer;
  durationMs: number;
  /** True for the first segment of an ingest run that follows an earlier one. */
  discontinuity: boolean;
  /** The `atMs` of the segment's PUT and of the first playlist PUT naming it; the later of the two published it. */
  segmentPutEndMs: number;
  playlistPutMs: number;
  /** The ffmpeg run and its own segment index: a ladder's renditions are cut at the same points, so the same index is the same time slice in each. */
  run: string;
  index: number;
}

export interface IngestGrowth {
  run: string;
  index: number;
  /** every byte of the segment received so far */
  bytes: Buffer;
}

const MAX_PENDING_PER_RUN = 16;
const MAX_RUNS = 2;

export interface PlaylistEntry {
  file: string;
  index: number;
  durationMs: number;
}

/** ffmpeg's names for a run's segments: `s<index>.ts`, or `<prefix>s<index>.ts` for one rendition of a ladder (`720p-s3.ts`). */
function segmentFilePattern(prefix: string): RegExp {
  if (!/^[0-9a-z-]*$/.test(prefix)) throw new Error(`bad ingest file prefix ${JSON.stringify(prefix)}`);
  return new RegExp(`^${prefix}s(\\d{1,9})\\.ts$`);
}

/** Extracts (file, duration) pairs from ffmpeg's media playlist; ignores anything it does not expect. */
export function parseIngestPlaylist(text: string, prefix = ''): PlaylistEntry[] {
  const SEGMENT_FILE = segmentFilePattern(prefix);
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

export type PutResult = { status: 'accepted'; published: number } | { status: 'rejected'; reason: string };

/** One ffmpeg run's halves of segments not published yet, by ffmpeg's segment index. */
interface RunState {
  bytes: Map<number, { data: Buffer; putEndMs: number }>;
  named: Map<number, { durationMs: number; playlistPutMs: number }>;
  lastIndex: number;
}

export class IngestReceiver {
  private readonly runs = new Map<string, RunState>();
  private lastRun: string | null = null;
  private readonly segmentFile: RegExp;

  /** `prefix`: the files' names start with it (a rendition's, `720p-`), as ffmpeg writes them with `%v-` (origin/ffmpeg-process.ts). */
  constructor(
    private readonly publish: (s: IngestedSegment) => void,
    private readonly prefix = '',
    private readonly grow?: (g: IngestGrowth) => void,
  ) {
    this.segmentFile = segmentFilePattern(prefix);
  }

  /** `atMs` is when the PUT's body had been read, on whatever time line the caller measures. */
  put(run: string, file: string, body: Buffer, atMs: number): PutResult {
    const segment = this.segmentFile.exec(file);
    if (file !== `${this.prefix}stream.m3u8` && !segment) return { status: 'rejected', reason: 'unexpected file name' };
    const state = this.runState(run);
    if (segment) {
      const index = Number(segment[1]);
      if (index > state.lastIndex) {
        this.grow?.({ run, index, bytes: body });
        bound(state.bytes).set(index, { data: body, putEndMs: atMs });
      }
    } else {
      for (const entry of parseIngestPlaylist(body.toString('utf8'), this.prefix)) {
        if (entry.index > state.lastIndex && !state.named.has(entry.index)) {
          bound(state.named).set(entry.index, { durationMs: entry.durationMs, playlistPutMs: atMs });
        }
      }
    }
    return { status: 'accepted', published: this.flush(run, state) };
  }

  private runState(run: string): RunState {
    let state = this.runs.get(run);
    if (!state) {
      state = { bytes: new Map(), named: new Map(), lastIndex: -1 };
      this.runs.set(run, state);
      while (this.runs.size > MAX_RUNS) this.runs.delete(this.runs.keys().next().value as string);
    }
    return state;
  }

  /** Publishes, in ffmpeg's order, every named segment whose bytes are in. */
  private flush(run: string, state: RunState): number {
    let count = 0;
    for (const [index, entry] of [...state.named].sort(([a], [b]) => a - b)) {
      const stored = state.bytes.get(index);
      if (!stored) {
        // ffmpeg sends the next segment only once this one is sent: if a later one is here, this one was lost (refused, cut off).
        if (![...state.bytes.keys()].some((i) => i > index)) break;
        state.named.delete(index);
        continue;
      }
      state.named.delete(index);
      state.bytes.delete(index);
      state.lastIndex = index;
      const discontinuity = this.lastRun !== null && this.lastRun !== run;
      this.lastRun = run;
      this.publish({ data: stored.data, durationMs: entry.durationMs, discontinuity, segmentPutEndMs: stored.putEndMs, playlistPutMs: entry.playlistPutMs, run, index });
      count++;
    }
    return count;
  }
}

/** Keeps a run's map of waiting halves small: the oldest go first (ffmpeg lists at most 6 entries). */
function bound<V>(m: Map<number, V>): Map<number, V> {
  while (m.size >= MAX_PENDING_PER_RUN) m.delete(m.keys().next().value as number);
  return m;
}
