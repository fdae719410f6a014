/**
 * A load worker of `npm run bench:tracker`: holds many lightweight tracker
 * connections, each speaking the real tracker protocol (shared/tracker-protocol.ts)
 * as a peer node does: it joins, announces its stats at the interval the
 * welcome gives, asks for peers as a node short of neighbours does, answers
 * pings (ws does), and decodes every frame the tracker sends. It stores no
 * segment and serves nothing: it joins with no address (url null), so the
 * tracker never probes it, and with upload 0, so the origin never seeds
 * through it. What it measures is when each segment's announcement arrived.
 */
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { MAX_PIECE_SIZE, MAX_TRACKER_MESSAGE_BYTES, PROTOCOL_VERSION } from '../../shared/limits.ts';
import { type PeerStats, decodeTrackerToPeer, encodePeerToTracker } from '../../shared/tracker-protocol.ts';
import type { FromWorker, SegmentReceipts, ToWorker, WorkerSpec } from './protocol.ts';

/** peer-node/peer-core.ts asks this often while it has fewer neighbours than it wants, as a node that lists nobody does. */
const GET_PEERS_EVERY_MS = 10_000;
const GET_PEERS_MAX = 50;
/** A measured segment some connection never receives is reported this long after its first receipt. */
const SEGMENT_WAIT_MS = 10_000;
const PROGRESS_EVERY_MS = 1000;
/** Nothing downloaded, nothing uploaded: what a node that only watches the tracker would report. */
const STATS: PeerStats = { p2pBytes: 0, originBytes: 0, uploadedBytes: 0, stalls: 0, stallMs: 0, neighbours: 0, hashFailures: 0 };
// Encoded once: the same text every time, and the workers' CPU is better left to the tracker.
const ANNOUNCE = encodePeerToTracker({ type: 'announce', stats: STATS });
const GET_PEERS = encodePeerToTracker({ type: 'get-peers', max: GET_PEERS_MAX });

interface Conn {
  ws: WebSocket;
  joined: boolean;
  timers: NodeJS.Timeout[];
}

interface Pending {
  publishedAtMs: number;
  latenciesMs: number[];
  timer: NodeJS.Timeout;
}

const conns = new Set<Conn>();
const cpuStart = process.cpuUsage();
let joined = 0;
let wanted = 0;
let lost = 0;
let lastError: string | null = null;
let stopping = false;
let measureFromMs: number | null = null;
const pending = new Map<number, Pending>();
const reported = new Set<number>();

function send(msg: FromWorker, then?: () => void): void {
  process.send?.(msg, undefined, undefined, then);
}

const cpuMs = () => {
  const c = process.cpuUsage(cpuStart);
  return (c.user + c.system) / 1000;
};

/** Same time line as the origin's publishedAtMs (epoch ms), with sub-millisecond resolution. */
const nowMs = () => performance.timeOrigin + performance.now();

/** Sends a segment's receipts to the runner if it is measured, and forgets it either way. */
function report(seq: number): void {
  const p = pending.get(seq);
  if (!p) return;
  clearTimeout(p.timer);
  pending.delete(seq);
  if (measureFromMs === null || p.publishedAtMs < measureFromMs) return;
  reported.add(seq);
  const receipts: SegmentReceipts = { seq, publishedAtMs: p.publishedAtMs, latenciesMs: p.latenciesMs, missing: Math.max(0, joined - p.latenciesMs.length) };
  send({ type: 'segment', receipts });
}

/**
 * Receipts are kept from the first welcome, not only once `measure` has
 * come: a segment published just after the runner's start instant can reach
 * some connections before this process reads that message, and must still
 * count all of them.
 */
function onSegment(seq: number, publishedAtMs: number, atMs: number): void {
  if (reported.has(seq) || (measureFromMs !== null && publishedAtMs < measureFromMs)) return;
  let p = pending.get(seq);
  if (!p) {
    p = { publishedAtMs, latenciesMs: [], timer: setTimeout(() => report(seq), SEGMENT_WAIT_MS) };
    pending.set(seq, p);
  }
  p.latenciesMs.push(atMs - publishedAtMs);
  if (measureFromMs !== null && p.latenciesMs.length >= joined) report(seq);
}

function startMeasuring(fromMs: number): void {
  measureFromMs = fromMs;
  // What came before is dropped; what every connection already has is complete.
  for (const [seq, p] of pending) if (p.publishedAtMs < fromMs || p.latenciesMs.length >= joined) report(seq);
}

function open(spec: WorkerSpec, n: number, done: () => void): void {
  const ws = new WebSocket(spec.trackerUrl, {
    perMessageDeflate: false,
    maxPayload: MAX_TRACKER_MESSAGE_BYTES + MAX_PIECE_SIZE,
    ...(spec.localAddress ? { localAddress: spec.localAddress } : {}),
  });
  const conn: Conn = { ws, joined: false, timers: [] };
  conns.add(conn);
  let settled = false;
  const settle = () => {
    if (settled) return;
    settled = true;
    done();
  };
  ws.on('error', (err) => {
    lastError = err.message;
  });
  ws.on('open', () => {
    ws.send(encodePeerToTracker({ type: 'join', version: PROTOCOL_VERSION, streamId: spec.streamId, peerId: `${spec.idPrefix}${n}`, url: null, uploadKbps: 0 }));
  });
  ws.on('message', (data, isBinary) => {
    const atMs = nowMs();
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const decoded = decodeTrackerToPeer(isBinary ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) : buf.toString('utf8'));
    if (!decoded.ok) {
      lastError = `bad frame from the tracker: ${decoded.error.message}`;
      ws.close(1008, 'bad frame');
      return;
    }
    const msg = decoded.value;
    switch (msg.type) {
      case 'welcome':
        conn.joined = true;
        // All in: said at once, so the join phase's length is not rounded up to the next progress.
        if (++joined === wanted) send({ type: 'progress', joined, lost, lastError, cpuMs: cpuMs() });
        conn.timers.push(
          setInterval(() => ws.send(ANNOUNCE), msg.announceIntervalMs),
          setInterval(() => ws.send(GET_PEERS), GET_PEERS_EVERY_MS),
        );
        settle();
        return;
      case 'segment':
        onSegment(msg.announcement.segment.seq, msg.announcement.segment.publishedAtMs, atMs);
        return;
      case 'error':
        lastError = `${msg.code}: ${msg.message}`;
        return;
      case 'peers':
      case 'seed':
        return;
    }
  });
  ws.on('close', (code, reason) => {
    for (const t of conn.timers) clearInterval(t);
    conns.delete(conn);
    if (conn.joined) joined--;
    if (!stopping) {
      lost++;
      if (reason.length > 0) lastError = reason.toString();
      else lastError ??= `closed (${code})`;
    }
    settle();
  });
}

/** Opens the connections, at most `maxInFlight` not yet welcomed at a time. */
function start(spec: WorkerSpec): void {
  wanted = spec.connections;
  let next = 0;
  let inFlight = 0;
  const pump = () => {
    while (!stopping && inFlight < spec.maxInFlight && next < spec.connections) {
      inFlight++;
      open(spec, next++, () => {
        inFlight--;
        pump();
      });
    }
  };
  pump();
}

const progress = setInterval(() => send({ type: 'progress', joined, lost, lastError, cpuMs: cpuMs() }), PROGRESS_EVERY_MS);

function stop(): void {
  // Read first: what closing the sockets costs is not load.
  const used = cpuMs();
  stopping = true;
  clearInterval(progress);
  for (const p of pending.values()) clearTimeout(p.timer);
  for (const c of conns) {
    for (const t of c.timers) clearInterval(t);
    c.ws.terminate();
  }
  send({ type: 'stopped', cpuMs: used }, () => process.disconnect?.());
}

process.on('message', (msg: ToWorker) => {
  if (msg.type === 'start') start(msg.spec);
  else if (msg.type === 'measure') {
    send({ type: 'measuring', cpuMs: cpuMs() });
    startMeasuring(msg.fromMs);
  } else if (msg.type === 'stop') stop();
});
// The runner gone (finished, killed, crashed) must not leave this worker holding sockets.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
