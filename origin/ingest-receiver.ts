import { MAX_SEGMENT_BYTES } from '../shared/limits.ts';

/**
 * Receives the HLS that ffmpeg PUTs to the origin and publishes each segment
 * once it holds both halves: the segment's bytes, and the playlist entry that
 * names it with its exact duration. ffmpeg sends a segment before the playlist
 * naming it, but over another connection and without waiting for an answer, so
 * the origin may finish reading a large segment a few milliseconds after that
 * playlist: whichever half comes last publishes. No folder polling, no guessing.
 *
 * A segment's body may also come as it is written (open(): ffmpeg's segment
 * muxer streams it frame by frame), and `grow` sees its bytes as they come.
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

/** Every byte of a segment's body received so far, before the segment is published. */
export interface IngestGrowth {
  run: string;
  index: number;
  /** every byte of the segment received so far (a view whose bytes never change: later ones go past its end) */
  bytes: Buffer;
}

const MAX_PENDING_PER_RUN = 16;
const MAX_RUNS = 2;
/** ffmpeg writes one segment at a time: the one being written, and one whose last bytes are still on their way, at most. */
const MAX_OPEN_PER_RUN = 2;
/** A body's first allocation; it doubles as bytes come (a 0.5 s segment at the defaults is ~60 KB). */
const INITIAL_BODY_BYTES = 64 * 1024;

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

/** ffmpeg's name for a segment file, of any rendition: what the origin may read as a stream (open()) rather than whole. */
export function isIngestSegmentFile(file: string): boolean {
  return /^[0-9a-z-]*s\d{1,9}\.ts$/.test(file);
}

export type PutResult = { status: 'accepted'; published: number } | { status: 'rejected'; reason: string };

/**
 * What became of a body's next bytes: `ok`, or the body is no longer taken and
 * the caller stops reading it: `too-large` (over MAX_SEGMENT_BYTES) or
 * `dropped` (a newer body of its run took its place, or its run ended).
 */
export type WriteResult = 'ok' | 'too-large' | 'dropped';

/** A segment PUT's body as it arrives. */
export interface IngestBody {
  write(chunk: Buffer): WriteResult;
  /** The whole body is in; `atMs` as put()'s. A body no longer taken publishes nothing. */
  end(atMs: number): PutResult;
  /** The PUT died before its end: nothing of it is published, and `grow` hears no more of it. Idempotent. */
  abort(): void;
}

export type OpenResult = { status: 'open'; body: IngestBody } | { status: 'rejected'; reason: string };

/** One ffmpeg run's halves of segments not published yet, by ffmpeg's segment index. */
interface RunState {
  bytes: Map<number, { data: Buffer; putEndMs: number }>;
  named: Map<number, { durationMs: number; playlistPutMs: number }>;
  lastIndex: number;
  /** Segment bodies still arriving, by index, oldest first: each one's abort. */
  open: Map<number, () => void>;
}

export class IngestReceiver {
  private readonly runs = new Map<string, RunState>();
  private lastRun: string | null = null;
  private readonly segmentFile: RegExp;

  /**
   * `prefix`: the files' names start with it (a rendition's, `720p-`), as ffmpeg writes them with `%v-` (origin/ffmpeg-process.ts).
   * `grow`: told each time more bytes of a segment arrive, before that segment is published, never after.
   */
  constructor(
    private readonly publish: (s: IngestedSegment) => void,
    private readonly prefix = '',
    private readonly grow?: (g: IngestGrowth) => void,
  ) {
    this.segmentFile = segmentFilePattern(prefix);
  }

  /** A whole body: a playlist, or a segment the hls muxer PUT in one go. `atMs` is when it had been read, on whatever time line the caller measures. */
  put(run: string, file: string, body: Buffer, atMs: number): PutResult {
    const segment = this.segmentFile.exec(file);
    if (file !== `${this.prefix}stream.m3u8` && !segment) return { status: 'rejected', reason: 'unexpected file name' };
    const state = this.runState(run);
    if (segment) {
      const index = Number(segment[1]);
      state.open.get(index)?.();
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

  /**
   * A segment's body to be fed as it arrives; playlists come whole, to put().
   * At most MAX_OPEN_PER_RUN bodies of a run are open: one more drops the
   * oldest. A segment already published (or passed over) is read and dropped,
   * as put() drops it.
   */
  open(run: string, file: string): OpenResult {
    const segment = this.segmentFile.exec(file);
    if (!segment) return { status: 'rejected', reason: 'unexpected file name' };
    const index = Number(segment[1]);
    const state = this.runState(run);
    // ffmpeg PUTs each index once: a second PUT of one takes the place of the first.
    state.open.get(index)?.();
    let data = Buffer.alloc(0);
    let length = 0;
    let closed: 'ended' | 'too-large' | 'dropped' | null = null;
    const close = (why: 'ended' | 'too-large' | 'dropped') => {
      if (closed) return;
      closed = why;
      data = Buffer.alloc(0);
      if (state.open.get(index) === abort) state.open.delete(index);
    };
    const abort = () => close('dropped');
    const taken = () => state.open.get(index) === abort;
    if (index > state.lastIndex) {
      while (state.open.size >= MAX_OPEN_PER_RUN) (state.open.values().next().value as () => void)();
      state.open.set(index, abort);
    }
    const body: IngestBody = {
      write: (chunk) => {
        if (closed) return closed === 'too-large' ? 'too-large' : 'dropped';
        if (length + chunk.byteLength > MAX_SEGMENT_BYTES) {
          close('too-large');
          return 'too-large';
        }
        if (!taken()) {
          // Already published or passed over when it opened: read to its end, counted against the bound, kept nowhere.
          length += chunk.byteLength;
          return 'ok';
        }
        if (chunk.byteLength === 0) return 'ok';
        if (length + chunk.byteLength > data.byteLength) {
          // Doubling, so each byte is copied about twice; views handed to `grow` keep the old buffer, whose prefix never changes.
          const grown = Buffer.allocUnsafe(Math.min(MAX_SEGMENT_BYTES, Math.max(INITIAL_BODY_BYTES, 2 * data.byteLength, length + chunk.byteLength)));
          data.copy(grown, 0, 0, length);
          data = grown;
        }
        chunk.copy(data, length);
        length += chunk.byteLength;
        this.grow?.({ run, index, bytes: data.subarray(0, length) });
        return 'ok';
      },
      end: (atMs) => {
        if (closed) return { status: 'rejected', reason: closed === 'too-large' ? 'segment too large' : 'segment dropped for a newer one' };
        const kept = taken();
        const bytes = length === data.byteLength ? data : Buffer.from(data.subarray(0, length));
        close('ended');
        if (kept) bound(state.bytes).set(index, { data: bytes, putEndMs: atMs });
        return { status: 'accepted', published: this.flush(run, state) };
      },
      abort,
    };
    return { status: 'open', body };
  }

  private runState(run: string): RunState {
    let state = this.runs.get(run);
    if (!state) {
      state = { bytes: new Map(), named: new Map(), lastIndex: -1, open: new Map() };
      this.runs.set(run, state);
      while (this.runs.size > MAX_RUNS) {
        const [oldest, gone] = this.runs.entries().next().value as [string, RunState];
        this.runs.delete(oldest);
        for (const abort of [...gone.open.values()]) abort();
      }
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
      for (const [i, abort] of [...state.open]) if (i <= index) abort();
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
