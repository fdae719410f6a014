/**
 * Every bound on untrusted input lives here, so a reviewer can audit in one
 * place how much memory a hostile peer, viewer or broadcaster can make us hold.
 */
export const PROTOCOL_VERSION = 1;

/** Pieces are the unit peers trade and the origin hashes; see docs/protocol.md for the choice. */
export const DEFAULT_PIECE_SIZE = 16 * 1024;
export const MIN_PIECE_SIZE = 1024;
export const MAX_PIECE_SIZE = 256 * 1024;

export const MAX_SEGMENT_BYTES = 16 * 1024 * 1024;
export const MAX_PIECES_PER_SEGMENT = 1024;
export const MAX_SEGMENT_DURATION_MS = 60_000;
export const MAX_WINDOW_SEGMENTS = 600;

/** A welcome carries the whole window's announcements, so this bounds the largest tracker message. */
export const MAX_TRACKER_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Largest peer-wire frame: a piece plus its small header. */
export const MAX_WIRE_FRAME_BYTES = MAX_PIECE_SIZE + 64;

export const MAX_PEERS_PER_LIST = 100;
export const MAX_ID_LENGTH = 64;
export const MAX_URL_LENGTH = 256;
export const MAX_HAVE_ENTRIES = 8192;
export const MAX_COUNTER_VALUE = Number.MAX_SAFE_INTEGER;
