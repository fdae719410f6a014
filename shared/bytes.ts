/**
 * Big-endian byte writer and reader for the binary codecs (wire-protocol.ts,
 * tracker-protocol.ts). The reader never reads past its buffer: a short frame
 * throws `Truncated`, which each codec turns into its typed error.
 */
export class Writer {
  private buf: Uint8Array;
  private pos = 0;
  // Bytes are set one by one, not through a DataView: a DataView needs the
  // array's ArrayBuffer, which moves a small frame's bytes off V8's heap, and
  // most frames (haves, requests) are small.
  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }
  u8(v: number): this {
    this.buf[this.pos++] = v;
    return this;
  }
  u16(v: number): this {
    const b = this.buf;
    b[this.pos] = v >>> 8;
    b[this.pos + 1] = v;
    this.pos += 2;
    return this;
  }
  u32(v: number): this {
    const b = this.buf;
    b[this.pos] = v >>> 24;
    b[this.pos + 1] = v >>> 16;
    b[this.pos + 2] = v >>> 8;
    b[this.pos + 3] = v;
    this.pos += 4;
    return this;
  }
  /** Epoch milliseconds need more than 32 bits and JavaScript numbers hold 53: 48 is the width in between. */
  u48(v: number): this {
    return this.u16(Math.floor(v / 2 ** 32)).u32(v % 2 ** 32);
  }
  bytes(b: Uint8Array): this {
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
    return this;
  }
  done(): Uint8Array {
    return this.pos === this.buf.byteLength ? this.buf : this.buf.subarray(0, this.pos);
  }
}

export class Truncated extends Error {}

export class Reader {
  private pos = 0;
  // Read byte by byte, not through a DataView, for the same reason as Writer.
  constructor(private buf: Uint8Array) {}
  /** Throws unless `n` more bytes are there; a count read from the frame is checked with it before anything is allocated for it. */
  need(n: number): void {
    if (this.pos + n > this.buf.byteLength) throw new Truncated();
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }
  u16(): number {
    this.need(2);
    const b = this.buf;
    const v = ((b[this.pos] as number) << 8) | (b[this.pos + 1] as number);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const b = this.buf;
    const p = this.pos;
    // Unsigned: the top byte times 2^24 rather than shifted, which would make it negative.
    const v = (b[p] as number) * 0x1000000 + (((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number));
    this.pos += 4;
    return v;
  }
  u48(): number {
    this.need(6);
    const hi = this.u16();
    return hi * 2 ** 32 + this.u32();
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  rest(): Uint8Array {
    const b = this.buf.subarray(this.pos);
    this.pos = this.buf.byteLength;
    return b;
  }
  /** Bytes read so far. */
  get offset(): number {
    return this.pos;
  }
  /** The bytes read since `offset`, as a view (not a copy). */
  since(offset: number): Uint8Array {
    return this.buf.subarray(offset, this.pos);
  }
  get remaining(): number {
    return this.buf.byteLength - this.pos;
  }
}
