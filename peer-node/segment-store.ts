import { createHash } from 'node:crypto';
import { pieceMatches } from '../shared/hashing.ts';
import { type SegmentAnnouncement, pieceCount, pieceRange } from '../shared/segment.ts';
import { type Clock, systemClock } from '../shared/clock.ts';
import { PIECE_HEADER_BYTES, encodeWire } from '../shared/wire-protocol.ts';

export interface StoredEntry {
  info: SegmentAnnouncement;
  /** Local time we learned of the segment: deadlines are reckoned from it, so origin and peer clocks need not agree. */
  announcedAtMs: number;
  /** Local time the segment was published, by the age the origin gave it (earlier than announcedAtMs for a joining peer's window). */
  publishedLocalMs: number;
  /**
   * This node's media sequence number for the segment: contiguous, as HLS
   * requires, even where the origin's numbers jump (a restarted origin
   * numbers on from its clock). Players see these; URIs keep the origin's.
   */
  localSeq: number;
  /** A discontinuity before this segment, as the origin said or because numbers jumped here. */
  localDiscontinuity: boolean;
  /** Each held piece: a view of the payload of its frame. */
  pieces: (Uint8Array | null)[];
  /**
   * Each held piece as its `piece` frame, the one copy of its bytes here:
   * served as is to every neighbour that asks, and, when it arrived as a
   * frame of its own, the very frame it arrived in (no copy at all).
   */
  frames: (Uint8Array | null)[];
  held: number;
  /** True once every piece is in and the whole-segment hash matched; `segmentData` gives the bytes. */
  complete: true | null;
  completedAtMs: number | null;
  /** When the first piece came in: with completedAtMs, how fast the segment came. */
  firstPieceAtMs: number | null;
}

export type PutPieceResult = 'stored' | 'duplicate' | 'bad-hash' | 'unknown-segment' | 'bad-index';

/**
 * The node's bounded window of segments: announcements from the tracker and
 * the verified pieces we hold. Nothing unverified is ever stored, so nothing
 * unverified can be relayed or handed to the player.
 */
export class SegmentStore {
  private readonly entries = new Map<number, StoredEntry>();
  private readonly waiters = new Map<number, Set<(data: Buffer | null) => void>>();
  private oldestEvicted = -1;
  private evictedDiscontinuities = 0;
  /** The newest segment ever announced here, by the origin's number and ours. */
  private last: { seq: number; local: number } | null = null;
  private readonly changeListeners = new Set<() => void>();
  private readonly completeListeners = new Set<(e: StoredEntry) => void>();
  /** `all()`'s answer, kept until an entry comes or goes: the swarm asks for it on every plan. */
  private sorted: StoredEntry[] | null = null;

  constructor(
    private readonly capacity: number,
    private pieceSizeBytes: number,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Calls `listener` after every announcement and every stored piece, until the returned function is called. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Calls `listener` with each segment that becomes whole, until the returned function is called. */
  onComplete(listener: (e: StoredEntry) => void): () => void {
    this.completeListeners.add(listener);
    return () => this.completeListeners.delete(listener);
  }

  private changed(): void {
    for (const l of [...this.changeListeners]) l();
  }

  setPieceSize(size: number): void {
    if (size !== this.pieceSizeBytes) {
      this.pieceSizeBytes = size;
      for (const seq of [...this.entries.keys()]) this.drop(seq);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  get pieceSize(): number {
    return this.pieceSizeBytes;
  }

  /** Adds or replaces an announcement; returns true if it is new. An id reused with other bytes (a restarted origin) replaces the old entry. */
  announce(info: SegmentAnnouncement, nowMs: number, ageMs = 0): boolean {
    const existing = this.entries.get(info.seq);
    if (existing && existing.info.sha256 === info.sha256) return false;
    // Numbers only move forward: an older segment we never held is of no use to a player past it.
    if (!existing && this.last !== null && info.seq <= this.last.seq) return false;
    const n = pieceCount(info.size, this.pieceSizeBytes);
    if (n !== info.pieceHashes.length) return false;
    if (existing) this.drop(info.seq);
    this.sorted = null;
    const jumped = this.last !== null && !existing && info.seq > this.last.seq + 1;
    const localSeq = existing ? existing.localSeq : this.last === null ? info.seq : this.last.local + 1;
    if (!existing) this.last = { seq: info.seq, local: localSeq };
    this.entries.set(info.seq, {
      info,
      announcedAtMs: nowMs,
      publishedLocalMs: nowMs - Math.max(0, ageMs),
      localSeq,
      localDiscontinuity: info.discontinuity || jumped || (existing?.localDiscontinuity ?? false),
      pieces: new Array(n).fill(null),
      frames: new Array(n).fill(null),
      held: 0,
      complete: null,
      completedAtMs: null,
      firstPieceAtMs: null,
    });
    while (this.entries.size > this.capacity) {
      const oldest = Math.min(...this.entries.keys());
      this.evict(oldest);
    }
    this.changed();
    return true;
  }

  get(seq: number): StoredEntry | undefined {
    return this.entries.get(seq);
  }

  /** True if `seq` was in the window and has left it. */
  isEvicted(seq: number): boolean {
    return !this.entries.has(seq) && seq <= this.oldestEvicted;
  }

  /** Entries in ascending sequence order; the array is shared, not to be changed. */
  all(): readonly StoredEntry[] {
    this.sorted ??= [...this.entries.values()].sort((a, b) => a.info.seq - b.info.seq);
    return this.sorted;
  }

  newestSeq(): number | null {
    return this.all().at(-1)?.info.seq ?? null;
  }

  hasPiece(seq: number, piece: number): boolean {
    return this.entries.get(seq)?.pieces[piece] != null;
  }

  getPiece(seq: number, piece: number): Uint8Array | null {
    return this.entries.get(seq)?.pieces[piece] ?? null;
  }

  /** A held piece as its wire frame. */
  getPieceFrame(seq: number, piece: number): Uint8Array | null {
    return this.entries.get(seq)?.frames[piece] ?? null;
  }

  /** The whole segment once complete, put together for whoever asks (the player); the store keeps only the pieces. */
  segmentData(seq: number): Buffer | null {
    const e = this.entries.get(seq);
    return e?.complete ? Buffer.concat(e.pieces as Uint8Array[]) : null;
  }

  /**
   * Verifies and stores a piece. `frame`, when given, is the `piece` frame
   * `data` arrived in: kept as is when it owns its buffer (the bytes then
   * exist once however many nodes in one process hold them, as in the
   * simulator), else copied, since a socket's frame may be a view of a far
   * larger read buffer.
   */
  putPiece(seq: number, piece: number, data: Uint8Array, nowMs: number, frame?: Uint8Array): PutPieceResult {
    const e = this.entries.get(seq);
    if (!e) return 'unknown-segment';
    if (piece < 0 || piece >= e.pieces.length) return 'bad-index';
    if (e.pieces[piece]) return 'duplicate';
    const { start, end } = pieceRange(e.info.size, this.pieceSizeBytes, piece);
    const expected = e.info.pieceHashes[piece];
    if (data.byteLength !== end - start || expected === undefined || !pieceMatches(data, expected)) return 'bad-hash';
    const own = frame !== undefined && frame.byteOffset === 0 && frame.buffer.byteLength === frame.byteLength && frame.byteLength === PIECE_HEADER_BYTES + data.byteLength;
    const kept = own ? frame : encodeWire({ type: 'piece', seq, piece, data });
    e.frames[piece] = kept;
    e.pieces[piece] = kept.subarray(PIECE_HEADER_BYTES);
    e.firstPieceAtMs ??= nowMs;
    e.held++;
    if (e.held === e.pieces.length) this.assemble(e, nowMs);
    this.changed();
    return 'stored';
  }

  /** Resolves with the whole segment when it is complete, or null on timeout or eviction. */
  waitComplete(seq: number, timeoutMs: number): Promise<Buffer | null> {
    const e = this.entries.get(seq);
    if (!e) return Promise.resolve(null);
    if (e.complete) return Promise.resolve(this.segmentData(seq));
    return new Promise((resolve) => {
      let set = this.waiters.get(seq);
      if (!set) this.waiters.set(seq, (set = new Set()));
      const done = (data: Buffer | null) => {
        timer.cancel();
        set.delete(done);
        if (set.size === 0) this.waiters.delete(seq);
        resolve(data);
      };
      const timer = this.clock.setTimeout(() => done(null), timeoutMs);
      set.add(done);
    });
  }

  private assemble(e: StoredEntry, nowMs: number): void {
    const hash = createHash('sha256');
    for (const p of e.pieces as Uint8Array[]) hash.update(p);
    // Every piece matched its hash, so this can only fail if the origin announced inconsistent hashes.
    if (hash.digest('hex') !== e.info.sha256) {
      e.pieces.fill(null);
      e.frames.fill(null);
      e.held = 0;
      e.firstPieceAtMs = null;
      return;
    }
    e.complete = true;
    e.completedAtMs = nowMs;
    for (const l of this.completeListeners) l(e);
    const waiting = this.waiters.get(e.info.seq);
    if (waiting) {
      const whole = this.segmentData(e.info.seq);
      for (const w of [...waiting]) w(whole);
    }
  }

  /** EXT-X-DISCONTINUITY-SEQUENCE for a playlist starting at `seq`: discontinuities before it that this node saw. */
  discontinuitiesBefore(seq: number): number {
    let n = this.evictedDiscontinuities;
    for (const e of this.entries.values()) if (e.info.seq < seq && e.localDiscontinuity) n++;
    return n;
  }

  /** The origin's number of the segment this node numbers `localSeq`, if held. */
  seqOfLocal(localSeq: number): number | null {
    for (const e of this.entries.values()) if (e.localSeq === localSeq) return e.info.seq;
    return null;
  }

  /** The segment left the window: it is gone for good (410), and its discontinuity still counts. */
  private evict(seq: number): void {
    if (this.entries.get(seq)?.localDiscontinuity) this.evictedDiscontinuities++;
    this.oldestEvicted = Math.max(this.oldestEvicted, seq);
    this.drop(seq);
  }

  /** Forgets an entry without it having left the window (replaced, or the piece size changed). */
  private drop(seq: number): void {
    this.entries.delete(seq);
    this.sorted = null;
    for (const w of [...(this.waiters.get(seq) ?? [])]) w(null);
  }
}
