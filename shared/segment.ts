/**
 * Segment identity: what the origin publishes and every peer verifies against.
 * Sequence numbers are the origin's media sequence and never repeat in a stream.
 */
export interface SegmentAnnouncement {
  seq: number;
  /** Exact duration from ffmpeg's playlist, in milliseconds. */
  durationMs: number;
  size: number;
  /** Hex SHA-256 of the whole segment. */
  sha256: string;
  /** base64url SHA-256 of each piece, in order (raw bytes on the wire: shared/tracker-protocol.ts). */
  pieceHashes: string[];
  /** Wall-clock time the origin published the segment (epoch ms). */
  publishedAtMs: number;
  /** True where the stream really restarted before this segment (ingest restart). */
  discontinuity: boolean;
}

/**
 * The next pieces of a segment the origin is still receiving (progressive
 * announcement in low-latency mode): each exactly pieceSize bytes (the last,
 * short piece comes only in the segment's whole announcement).
 */
export interface PartialAnnouncement {
  seq: number;
  /** Index of the first piece whose hash this carries: pieces before it came in earlier partials of the same segment. */
  first: number;
  /** base64url SHA-256 of pieces first .. first + length - 1 (same encoding as SegmentAnnouncement.pieceHashes). */
  pieceHashes: string[];
  /** Epoch ms when the origin received the segment's first bytes (same for every partial of one segment). */
  openedAtMs: number;
  discontinuity: boolean;
}

export function pieceCount(size: number, pieceSize: number): number {
  return Math.max(1, Math.ceil(size / pieceSize));
}

/** Byte range [start, end) of piece `index` of a segment of `size` bytes. */
export function pieceRange(size: number, pieceSize: number, index: number): { start: number; end: number } {
  const start = index * pieceSize;
  return { start, end: Math.min(size, start + pieceSize) };
}

export function segmentFileName(seq: number): string {
  return `seg-${seq}.ts`;
}

const SEGMENT_NAME = /^seg-(\d{1,15})\.ts$/;

/** Parses a segment file name; anything else (including traversal attempts) is null. */
export function parseSegmentFileName(name: string): number | null {
  const m = SEGMENT_NAME.exec(name);
  if (!m) return null;
  const seq = Number(m[1]);
  return Number.isSafeInteger(seq) ? seq : null;
}
