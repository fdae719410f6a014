/**
 * Every bound on untrusted input lives here, so a reviewer can audit in one
 * place how much memory a hostile peer, viewer or broadcaster can make us hold.
 */
export const PROTOCOL_VERSION = 6;

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

/** Largest frame a peer may send the tracker: its messages are small (a welcome only flows outward). */
export const MAX_TRACKER_INBOUND_BYTES = 64 * 1024;
/** Messages per second a tracker connection may send, sustained and in a burst; every frame counts, from the first. */
export const TRACKER_MESSAGES_PER_SEC = 20;
export const TRACKER_MESSAGE_BURST = 40;
/** A tracker connection that has not joined by then is closed. */
export const TRACKER_JOIN_TIMEOUT_MS = 5000;

/**
 * Inbound peer-wire connections a node holds before their handshake, in all
 * and from one remote address. Honest nodes handshake as soon as the socket
 * opens, so even a loopback swarm where every node is 127.0.0.1 stays far
 * below these; a flood of idle sockets is refused before the WebSocket
 * upgrade and cannot crowd out the node's neighbours.
 */
export const MAX_PENDING_PEER_CONNECTIONS = 16;
export const MAX_PENDING_PEER_CONNECTIONS_PER_ADDRESS = 8;
/**
 * Requests one neighbour may send per second, sustained and in a burst, before
 * it is disconnected: each costs us a piece or a reject. An honest node asks
 * for the stream's pieces (~8/s at 1 Mbit/s in 16 KiB pieces) and retries a
 * refused piece after 1 s; 500/s is 64 Mbit/s from one neighbour at the
 * default piece size, 4 Mbit/s even at the smallest.
 */
export const MAX_PEER_REQUESTS_PER_SEC = 500;
export const PEER_REQUEST_BURST = 1000;
/** How far past the newest announced segment a neighbour's `have` or bitfield may name one (it may hear of it first). */
export const MAX_HAVE_AHEAD_SEGMENTS = 4;

/**
 * Tracker connections held before their `join`, in all and from one address
 * (the connection's, or the trusted proxy header's). An honest node joins as
 * soon as its socket opens, so it is unjoined for a round trip; a flood of
 * idle sockets is refused with HTTP 503 before the WebSocket upgrade. Each
 * held connection costs the origin ~35 KB, so the total bounds a flood from
 * many addresses to ~18 MB.
 */
export const MAX_UNJOINED_TRACKER_CONNECTIONS = 512;
export const MAX_UNJOINED_TRACKER_CONNECTIONS_PER_ADDRESS = 32;

/**
 * The connect-back probe: the tracker dials the address a peer joined with and
 * lists it only once the first frame there is that peer's handshake. An honest
 * node sends its handshake the moment the socket opens; a handshake is at most
 * 5 + 2 × 64 bytes.
 */
export const PROBE_TIMEOUT_MS = 3000;
export const PROBE_MAX_FRAME_BYTES = 256;
export const MAX_CONCURRENT_PROBES = 16;

/**
 * Bounds on what a peer's `announce` may add to the origin's totals, per
 * second since its previous report (or its join). Statistics are
 * self-reported; these keep one liar from moving the totals by more than a
 * fast honest node could. 1 Gbit/s per byte counter is generous for a viewer.
 */
export const MAX_REPORTED_BYTES_PER_SEC = 125_000_000;
/** A player stalls at most a few times a second, and is stalled at most all of the time. */
export const MAX_REPORTED_STALLS_PER_SEC = 10;
/** A bad piece costs its sender a strike (three and it is banned): a node sees few per second. */
export const MAX_REPORTED_HASH_FAILURES_PER_SEC = 100;
/** `neighbours` is a gauge, shown only: at most this. */
export const MAX_REPORTED_NEIGHBOURS = 1024;
