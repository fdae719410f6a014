import { type PartialAnnouncement, type SegmentAnnouncement, pieceCount, pieceRange } from '../shared/segment.ts';
import { type Clock, systemClock } from '../shared/clock.ts';
import { MAX_PIECES_PER_SEGMENT } from '../shared/limits.ts';
import { type Verifier, directVerifier } from '../shared/verifier.ts';
import { PIECE_HEADER_BYTES, encodeWire } from '../shared/wire-protocol.ts';
import { keptSegments } from './policy/segment-timing.ts';

/** The pieces held of one segment, announced whole or still open. */
export interface PieceHolding {
  /** Each held piece: a view of the payload of its frame. */
  pieces: (Uint8Array | null)[];
  /**
   * Each held piece as its `piece` frame, the one copy of its bytes here:
   * served as is to every neighbour that asks, and, when it arrived as a
   * frame of its own, the very frame it arrived in (no copy at all).
   */
  frames: (Uint8Array | null)[];
  held: number;
  /** When the first piece came in: with completedAtMs, how fast the segment came. */
  firstPieceAtMs: number | null;
}

/**
 * A segment the origin is still receiving, known by the partial announcements
 * of its first pieces (progressive announcement in low-latency mode). Its
 * pieces are traded like any, but it is not a segment yet: no size, no
 * duration, no whole hash, no local sequence number; nothing lists, plays,
 * times or fetches it from the origin until its whole announcement comes.
 */
export interface OpenEntry extends PieceHolding {
  seq: number;
  /** The hashes of pieces 0 .. n-1 as announced so far, each piece exactly the piece size; `pieces` is as long. */
  pieceHashes: string[];
  /** Local time its first partial came. */
  openedAtMs: number;
}

/**
 * Open segments kept at once: the one the origin is receiving, and the one
 * before while its whole announcement is on its way. More are older ones
 * whose ingest died.
 */
export const MAX_OPEN_SEGMENTS = 3;

export interface StoredEntry extends PieceHolding {
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
  /** Bytes of the pieces it held when its whole announcement came: taken while it was open. */
  earlyBytes: number;
  /** True once every piece is in and the whole-segment hash matched; `segmentData` gives the bytes. */
  complete: true | null;
  completedAtMs: number | null;
}

/** 'unknown-piece': a piece of an open segment past those announced so far, neither good nor bad yet. */
export type PutPieceResult = 'stored' | 'duplicate' | 'bad-hash' | 'unknown-segment' | 'unknown-piece' | 'bad-index';

/**
 * The node's bounded window of segments: announcements from the tracker and
 * the verified pieces we hold. Nothing unverified is ever stored, so nothing
 * unverified can be relayed or handed to the player.
 */
export class SegmentStore {
  private readonly entries = new Map<number, StoredEntry>();
  private readonly opens = new Map<number, OpenEntry>();
  private readonly waiters = new Map<number, Set<(data: Buffer | null) => void>>();
  private oldestEvicted = -1;
  private evictedDiscontinuities = 0;
  /** The newest segment ever announced here, by the origin's number and ours. */
  private last: { seq: number; local: number } | null = null;
  private readonly changeListeners = new Set<() => void>();
  private readonly completeListeners = new Set<(e: StoredEntry) => void>();
  private readonly replacedListeners = new Set<(seq: number) => void>();
  /** `all()`'s answer, kept until an entry comes or goes: the swarm asks for it on every plan. */
  private sorted: StoredEntry[] | null = null;
  private openSorted: OpenEntry[] | null = null;

  constructor(
    /** --store-segments: segments kept, for segments of 1 s (keptSegments). */
    private readonly capacity: number,
    private pieceSizeBytes: number,
    private readonly clock: Clock = systemClock,
    private readonly verifier: Verifier = directVerifier,
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

  /**
   * Calls `listener` with each segment number the origin reused for other
   * bytes (announced again with another hash, or opened again with other
   * piece hashes): what neighbours told of holding under it is of the old
   * bytes. Until the returned function is called.
   */
  onReplaced(listener: (seq: number) => void): () => void {
    this.replacedListeners.add(listener);
    return () => this.replacedListeners.delete(listener);
  }

  private replaced(seq: number): void {
    for (const l of [...this.replacedListeners]) l(seq);
  }

  private changed(): void {
    for (const l of [...this.changeListeners]) l();
  }

  setPieceSize(size: number): void {
    if (size !== this.pieceSizeBytes) {
      this.pieceSizeBytes = size;
      for (const seq of [...this.entries.keys()]) this.drop(seq);
      this.dropOpen(() => true);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  get pieceSize(): number {
    return this.pieceSizeBytes;
  }

  /**
   * Adds or replaces an announcement; returns true if it is new. An id reused
   * with other bytes (a restarted origin) replaces the old entry. An open
   * entry of the same segment becomes this one, keeping the pieces it holds,
   * if the hashes it was given are the announcement's first ones; otherwise
   * it was other bytes and goes. Open entries of older segments go too: their
   * ingest died, as numbers only move forward.
   *
   * Local numbers are given here, in the order whole announcements come,
   * never to an open entry: one that dies takes no number, so the player's
   * playlist has neither hole nor twin whatever became of it.
   */
  announce(info: SegmentAnnouncement, nowMs: number, ageMs = 0): boolean {
    const existing = this.entries.get(info.seq);
    const n = pieceCount(info.size, this.pieceSizeBytes);
    const fresh = !(existing && existing.info.sha256 === info.sha256) && !(!existing && this.last !== null && info.seq <= this.last.seq) && n === info.pieceHashes.length;
    const open = this.opens.get(info.seq);
    const dropped = this.dropOpen((seq) => seq < info.seq || (seq === info.seq && fresh));
    if (!fresh) {
      if (dropped) this.changed();
      return false;
    }
    if (existing) this.drop(info.seq);
    this.sorted = null;
    const jumped = this.last !== null && !existing && info.seq > this.last.seq + 1;
    const localSeq = existing ? existing.localSeq : this.last === null ? info.seq : this.last.local + 1;
    if (!existing) this.last = { seq: info.seq, local: localSeq };
    const kept = open && this.continues(open, info) ? open : null;
    const entry: StoredEntry = {
      info,
      announcedAtMs: nowMs,
      publishedLocalMs: nowMs - Math.max(0, ageMs),
      localSeq,
      localDiscontinuity: info.discontinuity || jumped || (existing?.localDiscontinuity ?? false),
      pieces: kept ? kept.pieces : [],
      frames: kept ? kept.frames : [],
      held: kept ? kept.held : 0,
      earlyBytes: kept ? kept.held * this.pieceSizeBytes : 0,
      complete: null,
      completedAtMs: null,
      firstPieceAtMs: kept ? kept.firstPieceAtMs : null,
    };
    while (entry.pieces.length < n) entry.pieces.push(null);
    while (entry.frames.length < n) entry.frames.push(null);
    this.entries.set(info.seq, entry);
    while (this.entries.size > keptSegments(this.capacity, info.durationMs)) {
      const oldest = Math.min(...this.entries.keys());
      this.evict(oldest);
    }
    if (this.entries.get(info.seq) === entry && entry.held === n) this.assemble(entry, nowMs);
    if (existing || (open && !kept)) this.replaced(info.seq);
    this.changed();
    return true;
  }

  /** Whether `info` is the segment `open` was: the hashes it was given are its first ones, each of a whole piece. */
  private continues(open: OpenEntry, info: SegmentAnnouncement): boolean {
    const k = open.pieceHashes.length;
    if (k > info.pieceHashes.length || k * this.pieceSizeBytes > info.size) return false;
    for (let i = 0; i < k; i++) if (open.pieceHashes[i] !== info.pieceHashes[i]) return false;
    return true;
  }

  /**
   * Takes the next hashes of a segment the origin is still receiving; returns
   * true if they are news. The first (`first` 0) opens an entry for a
   * segment newer than any known here; later ones extend it only where they
   * carry on from its last known piece: one missed leaves the entry as it
   * is, to be completed by the whole announcement. A first one of an open
   * segment with other hashes is the origin reusing the number of a segment
   * whose ingest died (docs/protocol.md): the entry starts afresh.
   */
  extend(p: PartialAnnouncement, nowMs: number): boolean {
    if (p.pieceHashes.length === 0 || p.first + p.pieceHashes.length > MAX_PIECES_PER_SEGMENT) return false;
    let open = this.opens.get(p.seq);
    if (open && p.first === 0 && p.pieceHashes.some((h, i) => i < (open as OpenEntry).pieceHashes.length && h !== (open as OpenEntry).pieceHashes[i])) {
      this.dropOpen((seq) => seq === p.seq);
      open = { seq: p.seq, pieceHashes: [], openedAtMs: nowMs, pieces: [], frames: [], held: 0, firstPieceAtMs: null };
      this.opens.set(p.seq, open);
      this.replaced(p.seq);
    } else if (open) {
      if (p.first !== open.pieceHashes.length) return false;
    } else {
      if (p.first !== 0 || (this.last !== null && p.seq <= this.last.seq)) return false;
      for (const seq of this.opens.keys()) if (seq >= p.seq) return false;
      open = { seq: p.seq, pieceHashes: [], openedAtMs: nowMs, pieces: [], frames: [], held: 0, firstPieceAtMs: null };
      this.opens.set(p.seq, open);
      this.openSorted = null;
      if (this.opens.size > MAX_OPEN_SEGMENTS) {
        const oldest = Math.min(...this.opens.keys());
        this.dropOpen((seq) => seq === oldest);
      }
    }
    for (const h of p.pieceHashes) {
      open.pieceHashes.push(h);
      open.pieces.push(null);
      open.frames.push(null);
    }
    this.changed();
    return true;
  }

  /** Forgets the open entries `which` names; true if there were any. */
  private dropOpen(which: (seq: number) => boolean): boolean {
    let any = false;
    for (const seq of [...this.opens.keys()]) {
      if (!which(seq)) continue;
      this.opens.delete(seq);
      this.openSorted = null;
      any = true;
    }
    return any;
  }

  /** The open entry of `seq`, if it is one. */
  getOpen(seq: number): OpenEntry | undefined {
    return this.opens.get(seq);
  }

  /** Open entries in ascending sequence order, all newer than every announced one; the array is shared, not to be changed. */
  allOpen(): readonly OpenEntry[] {
    this.openSorted ??= [...this.opens.values()].sort((a, b) => a.seq - b.seq);
    return this.openSorted;
  }

  /** Whether pieces of `seq` may be stored here: it is announced or open. */
  knows(seq: number): boolean {
    return this.entries.has(seq) || this.opens.has(seq);
  }

  /** The pieces known of `seq`, held or not (an open segment's so far), if it is known. */
  pieceSlots(seq: number): readonly (Uint8Array | null)[] | undefined {
    return (this.entries.get(seq) ?? this.opens.get(seq))?.pieces;
  }

  /** How many pieces `seq` may have: its count once announced, else (open or unknown) the most any segment may. */
  maxPieces(seq: number): number {
    return this.entries.get(seq)?.pieces.length ?? MAX_PIECES_PER_SEGMENT;
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
    return this.pieceSlots(seq)?.[piece] != null;
  }

  getPiece(seq: number, piece: number): Uint8Array | null {
    return this.pieceSlots(seq)?.[piece] ?? null;
  }

  /** A held piece as its wire frame. */
  getPieceFrame(seq: number, piece: number): Uint8Array | null {
    return (this.entries.get(seq) ?? this.opens.get(seq))?.frames[piece] ?? null;
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
    if (!e) return this.putOpenPiece(seq, piece, data, nowMs, frame);
    if (piece < 0 || piece >= e.pieces.length) return 'bad-index';
    if (e.pieces[piece]) return 'duplicate';
    const { start, end } = pieceRange(e.info.size, this.pieceSizeBytes, piece);
    const expected = e.info.pieceHashes[piece];
    if (data.byteLength !== end - start || expected === undefined || !this.verifier.piece(data, expected)) return 'bad-hash';
    this.keep(e, seq, piece, data, nowMs, frame);
    if (e.held === e.pieces.length) this.assemble(e, nowMs);
    this.changed();
    return 'stored';
  }

  /** A piece of an open segment: each is a whole piece, checked against the hash its partial gave. */
  private putOpenPiece(seq: number, piece: number, data: Uint8Array, nowMs: number, frame?: Uint8Array): PutPieceResult {
    const o = this.opens.get(seq);
    if (!o) return 'unknown-segment';
    if (piece < 0 || piece >= MAX_PIECES_PER_SEGMENT) return 'bad-index';
    const expected = o.pieceHashes[piece];
    if (expected === undefined) return 'unknown-piece';
    if (o.pieces[piece]) return 'duplicate';
    if (data.byteLength !== this.pieceSizeBytes || !this.verifier.piece(data, expected)) return 'bad-hash';
    this.keep(o, seq, piece, data, nowMs, frame);
    this.changed();
    return 'stored';
  }

  private keep(h: PieceHolding, seq: number, piece: number, data: Uint8Array, nowMs: number, frame?: Uint8Array): void {
    const own = frame !== undefined && frame.byteOffset === 0 && frame.buffer.byteLength === frame.byteLength && frame.byteLength === PIECE_HEADER_BYTES + data.byteLength;
    const kept = own ? frame : encodeWire({ type: 'piece', seq, piece, data });
    h.frames[piece] = kept;
    h.pieces[piece] = kept.subarray(PIECE_HEADER_BYTES);
    h.firstPieceAtMs ??= nowMs;
    h.held++;
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
    // Every piece matched its hash, so this can only fail if the origin announced inconsistent hashes.
    if (!this.verifier.segment(e.info, e.pieces as Uint8Array[])) {
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

  /**
   * The origin's number of the segment this node numbers `localSeq`: held,
   * or older than all it holds. A player that fell further behind live than
   * the store reaches still plays (it fetched ahead), and where it plays must
   * stay known: without it the node would reckon deadlines for a player at
   * the live edge and fetch the newest pieces from the origin as urgent
   * (seen in the low-latency bench, where 12 segments are 6 s). Behind the
   * oldest held segment both numberings count on alike, as the origin's
   * jumps are rare.
   */
  seqOfLocal(localSeq: number): number | null {
    let oldest: StoredEntry | null = null;
    for (const e of this.entries.values()) {
      if (e.localSeq === localSeq) return e.info.seq;
      if (oldest === null || e.localSeq < oldest.localSeq) oldest = e;
    }
    return oldest !== null && localSeq < oldest.localSeq ? oldest.info.seq - (oldest.localSeq - localSeq) : null;
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
