/**
 * What a segment of a copied source (--copy --ladder) is encoded as, read from
 * its own bytes: the H.264 SPS (profile, constraints, level, picture size) and
 * the AAC object type of its ADTS headers, so the master playlist's CODECS and
 * RESOLUTION for that rung name what the source sends, not what was hoped.
 * Pure: MPEG-TS bytes in, plain data out; null for anything it cannot read.
 */

export interface TsCodecs {
  /** RFC 6381, e.g. `avc1.64001f`. */
  video: string;
  width: number;
  height: number;
  /** `mp4a.40.<object type>`, or null without an AAC stream. */
  audio: string | null;
}

const TS_PACKET = 188;
const STREAM_TYPE_H264 = 0x1b;
const STREAM_TYPE_AAC_ADTS = 0x0f;

/** The PID of the TS packet at `at`. */
function pidAt(ts: Buffer, at: number): number {
  return (((ts[at + 1] as number) & 0x1f) << 8) | (ts[at + 2] as number);
}

/** Where the payload of the TS packet at `at` starts (past its adaptation field), or null if it carries none. */
function payloadAt(ts: Buffer, at: number): number | null {
  const afc = ((ts[at + 3] as number) >> 4) & 3;
  const off = afc & 2 ? at + 5 + (ts[at + 4] as number) : at + 4;
  return afc & 1 && off < at + TS_PACKET ? off : null;
}

/** The payload of the first complete-enough PES of each PID asked for, TS packet headers removed. */
function pesPayloads(ts: Buffer, pids: ReadonlySet<number>, maxBytes: number): Map<number, Buffer> {
  const parts = new Map<number, Buffer[]>();
  for (let at = 0; at + TS_PACKET <= ts.length; at += TS_PACKET) {
    if (ts[at] !== 0x47) return new Map();
    const pid = pidAt(ts, at);
    const off = payloadAt(ts, at);
    if (!pids.has(pid) || off === null) continue;
    const start = ((ts[at + 1] as number) & 0x40) !== 0;
    const list = parts.get(pid);
    if (!list) {
      if (start) parts.set(pid, [ts.subarray(off, at + TS_PACKET)]);
    } else if (list.reduce((n, b) => n + b.length, 0) < maxBytes) {
      list.push(ts.subarray(off, at + TS_PACKET));
    }
  }
  return new Map([...parts].map(([pid, list]) => [pid, Buffer.concat(list)]));
}

/** A table section's body (PAT or PMT) from the first packet of `pid` that starts one. */
function section(ts: Buffer, pid: number): Buffer | null {
  for (let at = 0; at + TS_PACKET <= ts.length; at += TS_PACKET) {
    const payload = payloadAt(ts, at);
    if (ts[at] !== 0x47 || pidAt(ts, at) !== pid || ((ts[at + 1] as number) & 0x40) === 0 || payload === null) continue;
    // The pointer field, then the section.
    const off = payload + 1 + (ts[payload] as number);
    const length = (((ts[off + 1] as number) & 0x0f) << 8) | (ts[off + 2] as number);
    return ts.subarray(off, Math.min(at + TS_PACKET, off + 3 + length));
  }
  return null;
}

/** The elementary stream PIDs of the first program, by stream type. */
function streams(ts: Buffer): Map<number, number> {
  const out = new Map<number, number>();
  const pat = section(ts, 0);
  if (!pat || pat.length < 12) return out;
  const pmtPid = (((pat[10] as number) & 0x1f) << 8) | (pat[11] as number);
  const pmt = section(ts, pmtPid);
  if (!pmt || pmt.length < 12) return out;
  const infoLength = (((pmt[10] as number) & 0x0f) << 8) | (pmt[11] as number);
  // Up to the CRC: the section's last 4 bytes.
  for (let at = 12 + infoLength; at + 5 <= pmt.length - 4; ) {
    const type = pmt[at] as number;
    const pid = (((pmt[at + 1] as number) & 0x1f) << 8) | (pmt[at + 2] as number);
    if (!out.has(type)) out.set(type, pid);
    at += 5 + ((((pmt[at + 3] as number) & 0x0f) << 8) | (pmt[at + 4] as number));
  }
  return out;
}

/** A PES packet's payload: its header skipped. */
function pesData(pes: Buffer): Buffer | null {
  if (pes.length < 9 || pes[0] !== 0 || pes[1] !== 0 || pes[2] !== 1) return null;
  return pes.subarray(9 + (pes[8] as number));
}

/** Reads Exp-Golomb coded fields of an RBSP (H.264 §7.2). */
class Bits {
  private at = 0;
  constructor(private readonly b: Buffer) {}
  u(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++, this.at++) {
      const byte = this.b[this.at >> 3];
      if (byte === undefined) throw new RangeError('SPS ends early');
      v = v * 2 + ((byte >> (7 - (this.at & 7))) & 1);
    }
    return v;
  }
  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) if (++zeros > 31) throw new RangeError('bad Exp-Golomb code');
    return 2 ** zeros - 1 + this.u(zeros);
  }
  se(): number {
    const k = this.ue();
    return k % 2 ? (k + 1) / 2 : -k / 2;
  }
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** Profile, constraint flags, level and cropped picture size of an SPS NAL unit (its header byte first). */
export function readSps(nal: Buffer): { codec: string; width: number; height: number } | null {
  // Emulation prevention: 00 00 03 carries 00 00.
  const rbsp: number[] = [];
  for (let i = 1; i < nal.length; i++) {
    if (i >= 3 && nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0 && rbsp.length >= 2) continue;
    rbsp.push(nal[i] as number);
  }
  try {
    const r = new Bits(Buffer.from(rbsp));
    const profile = r.u(8);
    const constraints = r.u(8);
    const level = r.u(8);
    r.ue();
    let chroma = 1;
    if (HIGH_PROFILES.has(profile)) {
      chroma = r.ue();
      if (chroma === 3) r.u(1);
      r.ue();
      r.ue();
      r.u(1);
      if (r.u(1)) {
        for (let i = 0; i < (chroma === 3 ? 12 : 8); i++) {
          if (!r.u(1)) continue;
          let last = 8;
          let next = 8;
          for (let j = 0; j < (i < 6 ? 16 : 64); j++) {
            if (next !== 0) next = (last + r.se() + 256) % 256;
            last = next === 0 ? last : next;
          }
        }
      }
    }
    r.ue();
    const pocType = r.ue();
    if (pocType === 0) r.ue();
    else if (pocType === 1) {
      r.u(1);
      r.se();
      r.se();
      for (let n = r.ue(); n > 0; n--) r.se();
    }
    r.ue();
    r.u(1);
    const widthMbs = r.ue() + 1;
    const heightUnits = r.ue() + 1;
    const frameMbsOnly = r.u(1);
    if (!frameMbsOnly) r.u(1);
    r.u(1);
    let crop = [0, 0, 0, 0];
    if (r.u(1)) crop = [r.ue(), r.ue(), r.ue(), r.ue()];
    const cropX = chroma === 1 || chroma === 2 ? 2 : 1;
    const cropY = (chroma === 1 ? 2 : 1) * (2 - frameMbsOnly);
    const [left, right, top, bottom] = crop as [number, number, number, number];
    const hex = (n: number) => n.toString(16).padStart(2, '0');
    return {
      codec: `avc1.${hex(profile)}${hex(constraints)}${hex(level)}`,
      width: widthMbs * 16 - cropX * (left + right),
      height: (2 - frameMbsOnly) * heightUnits * 16 - cropY * (top + bottom),
    };
  } catch {
    return null;
  }
}

/** The first SPS NAL unit of an Annex B byte stream, up to the next start code. */
function firstSps(es: Buffer): Buffer | null {
  for (let i = 0; i + 3 < es.length; i++) {
    if (es[i] !== 0 || es[i + 1] !== 0 || es[i + 2] !== 1 || ((es[i + 3] as number) & 0x1f) !== 7) continue;
    let end = i + 3;
    while (end + 2 < es.length && !(es[end] === 0 && es[end + 1] === 0 && ((es[end + 2] as number) === 1 || (es[end + 2] as number) === 0))) end++;
    return es.subarray(i + 3, end + 2 < es.length ? end : es.length);
  }
  return null;
}

/** The codecs and picture size of an MPEG-TS segment's H.264 video and AAC audio, or null if it has no readable SPS. */
export function readTsCodecs(ts: Buffer): TsCodecs | null {
  const types = streams(ts);
  const videoPid = types.get(STREAM_TYPE_H264);
  if (videoPid === undefined) return null;
  const audioPid = types.get(STREAM_TYPE_AAC_ADTS);
  const pes = pesPayloads(ts, new Set([videoPid, ...(audioPid === undefined ? [] : [audioPid])]), 4096);
  const video = pesData(pes.get(videoPid) ?? Buffer.alloc(0));
  const nal = video && firstSps(video);
  const sps = nal && readSps(nal);
  if (!sps) return null;
  const adts = audioPid === undefined ? null : pesData(pes.get(audioPid) ?? Buffer.alloc(0));
  // ADTS: 12-bit sync 0xFFF, then the 2-bit profile, the MPEG-4 audio object type minus 1.
  const audio = adts && adts.length >= 3 && adts[0] === 0xff && ((adts[1] as number) & 0xf0) === 0xf0 ? `mp4a.40.${(((adts[2] as number) >> 6) & 3) + 1}` : null;
  return { video: sps.codec, width: sps.width, height: sps.height, audio };
}
