/**
 * The connect-back probe. Before the tracker hands a peer's address to
 * others, it dials that address once and waits for the first frame, which an
 * honest node sends the moment a socket opens: its peer-wire handshake. Only
 * a handshake naming this stream and the peer that joined makes the address
 * listable; anything else (nothing within the timeout, another peer's
 * handshake, not a peer at all) leaves it unlisted for that join. So the
 * tracker never points peers at an address whose owner did not ask for it.
 */
import type { TlsSetup } from '../shared/tls.ts';
import { type ClientOptions, WebSocket } from 'ws';
import type { Clock } from '../shared/clock.ts';
import { PROBE_MAX_FRAME_BYTES, PROBE_TIMEOUT_MS, PROTOCOL_VERSION } from '../shared/limits.ts';
import { decodeWire } from '../shared/wire-protocol.ts';

export type ProbeFailure = 'PROBE_TIMEOUT' | 'PROBE_UNREACHABLE' | 'PROBE_NOT_A_PEER' | 'PROBE_WRONG_PEER';
export type ProbeResult = { ok: true } | { ok: false; code: ProbeFailure; message: string };

/** Dials `url` and says whether `peerId` of this stream answered there; `signal` gives up at once. Never rejects. */
export type Probe = (url: string, peerId: string, signal: AbortSignal) => Promise<ProbeResult>;

const failure = (code: ProbeFailure, message: string): ProbeResult => ({ ok: false, code, message });

/** The verdict on the first frame a probed address sent (null for a text frame). */
export function judgeFirstFrame(frame: Uint8Array | null, expected: { streamId: string; peerId: string }): ProbeResult {
  if (frame === null) return failure('PROBE_NOT_A_PEER', 'first frame is text');
  const decoded = decodeWire(frame);
  if (!decoded.ok) return failure('PROBE_NOT_A_PEER', `first frame: ${decoded.error.code}`);
  const m = decoded.value;
  if (m.type !== 'handshake') return failure('PROBE_NOT_A_PEER', `first frame is ${m.type}, not a handshake`);
  if (m.version !== PROTOCOL_VERSION) return failure('PROBE_NOT_A_PEER', `protocol version ${m.version}`);
  if (m.streamId !== expected.streamId || m.peerId !== expected.peerId) return failure('PROBE_WRONG_PEER', 'another peer answered');
  return { ok: true };
}

export interface ProbeDeps {
  clock: Clock;
  streamId: string;
  /** Passed to every dial: the origin's TLS client context (its --ca), for peers that serve wss://. */
  wsOptions?: ClientOptions & TlsSetup['client'];
}

export function createReachabilityProbe(deps: ProbeDeps): Probe {
  return (url, peerId, signal) =>
    new Promise<ProbeResult>((resolve) => {
      let ws: WebSocket;
      try {
        // Never redirected: the probe dials the listed address and nothing else.
        ws = new WebSocket(url, { perMessageDeflate: false, ...deps.wsOptions, followRedirects: false, maxPayload: PROBE_MAX_FRAME_BYTES });
      } catch (e) {
        resolve(failure('PROBE_UNREACHABLE', (e as Error).message));
        return;
      }
      let settled = false;
      const finish = (result: ProbeResult) => {
        if (settled) return;
        settled = true;
        timer.cancel();
        resolve(result);
        if (!result.ok) return ws.terminate();
        ws.close(1000, 'reachability probe');
        // A peer that never answers the close must not hold the socket.
        const reap = deps.clock.setTimeout(() => ws.terminate(), PROBE_TIMEOUT_MS);
        ws.once('close', () => reap.cancel());
      };
      const timer = deps.clock.setTimeout(() => finish(failure('PROBE_TIMEOUT', `no handshake within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
      signal.addEventListener('abort', () => finish(failure('PROBE_UNREACHABLE', 'probe abandoned')), { once: true });
      ws.on('error', (err) => finish(failure('PROBE_UNREACHABLE', err.message)));
      ws.on('close', (code) => finish(failure('PROBE_UNREACHABLE', `closed (${code}) before a handshake`)));
      ws.on('message', (data, isBinary) => {
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
        finish(judgeFirstFrame(isBinary ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) : null, { streamId: deps.streamId, peerId }));
      });
    });
}

/**
 * Runs probes at most `maxConcurrent` at a time, in join order. A job is a
 * peer's record: a peer that leaves is forgotten, whether waiting or probed.
 */
export class ProbeQueue<T extends { peerId: string; url: string | null }> {
  private readonly waiting = new Set<T>();
  private readonly running = new Map<T, AbortController>();

  constructor(
    private readonly probe: Probe,
    private readonly maxConcurrent: number,
    private readonly onResult: (job: T, result: ProbeResult) => void,
  ) {}

  add(job: T): void {
    this.waiting.add(job);
    this.pump();
  }

  forget(job: T): void {
    this.waiting.delete(job);
    this.running.get(job)?.abort();
  }

  close(): void {
    this.waiting.clear();
    for (const c of this.running.values()) c.abort();
  }

  private pump(): void {
    for (const job of this.waiting) {
      if (this.running.size >= this.maxConcurrent) return;
      this.waiting.delete(job);
      const abort = new AbortController();
      this.running.set(job, abort);
      void this.probe(job.url as string, job.peerId, abort.signal).then((result) => {
        this.running.delete(job);
        if (!abort.signal.aborted) this.onResult(job, result);
        this.pump();
      });
    }
  }
}
