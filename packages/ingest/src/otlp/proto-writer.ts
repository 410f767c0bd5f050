/**
 * A small protobuf wire-format writer for the hand-written OTLP encoder (`messages.ts`). One growing
 * buffer, no per-field allocations; nested messages reserve one length byte and shift their content
 * in the rare case the length needs more, so every length prefix is minimal.
 */

export const VARINT = 0;
export const I64 = 1;
export const LEN = 2;
export const I32 = 5;

const MASK_64 = (1n << 64n) - 1n;
const textEncoder = new TextEncoder();

export class ProtoWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(initialSize = 4096) {
    this.buf = new Uint8Array(initialSize);
    this.view = new DataView(this.buf.buffer);
  }

  /** The bytes written so far (a copy sized to fit, so the writer's buffer is not kept alive). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  tag(field: number, wire: number): void {
    this.uint(field * 8 + wire);
  }

  /** An unsigned varint of a safe integer (uint32, enum, tag, length). */
  uint(value: number): void {
    this.reserve(10);
    const buf = this.buf;
    let pos = this.pos;
    while (value >= 0x80) {
      buf[pos++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    buf[pos++] = value;
    this.pos = pos;
  }

  /** A 64-bit varint; negative values are written in two's complement (int64 semantics). */
  varint64(value: bigint): void {
    let v = value & MASK_64;
    if (v <= 0x1fffffffffffffn) {
      this.uint(Number(v));
      return;
    }
    this.reserve(10);
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  fixed32(value: number): void {
    this.reserve(4);
    this.view.setUint32(this.pos, value >>> 0, true);
    this.pos += 4;
  }

  /** A fixed64 (or sfixed64: the bit pattern is the same) from a bigint. */
  fixed64(value: bigint): void {
    this.reserve(8);
    this.view.setBigUint64(this.pos, value & MASK_64, true);
    this.pos += 8;
  }

  double(value: number): void {
    this.reserve(8);
    this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  bytes(value: Uint8Array): void {
    this.uint(value.length);
    this.reserve(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
  }

  string(value: string): void {
    const n = value.length;
    if (n < 0x80) {
      // Short ASCII strings (keys, names, ids) are the common case: a copy loop beats encodeInto's
      // call overhead, and their length is known before writing.
      this.reserve(n + 1);
      const buf = this.buf;
      const start = this.pos;
      let i = 0;
      for (; i < n; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + 1 + i] = c;
      }
      if (i === n) {
        buf[start] = n;
        this.pos = start + 1 + n;
        return;
      }
    }
    // UTF-8 is at most 3 bytes per UTF-16 unit; lone surrogates become U+FFFD, so output is valid.
    const mark = this.begin();
    this.reserve(value.length * 3);
    const { written } = textEncoder.encodeInto(value, this.buf.subarray(this.pos));
    this.pos += written;
    this.end(mark);
  }

  /** Starts a length-delimited value; pass the result to {@link end}. */
  begin(): number {
    this.reserve(1);
    return this.pos++;
  }

  /** Writes the length of the value started at `mark`, moving its content if the length needs >1 byte. */
  end(mark: number): void {
    const length = this.pos - mark - 1;
    if (length < 0x80) {
      this.buf[mark] = length;
      return;
    }
    let size = 1;
    for (let v = length; v >= 0x80; v = Math.floor(v / 0x80)) size++;
    this.reserve(size - 1);
    this.buf.copyWithin(mark + size, mark + 1, this.pos);
    this.pos += size - 1;
    let pos = mark;
    let v = length;
    while (v >= 0x80) {
      this.buf[pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[pos] = v;
  }

  private reserve(extra: number): void {
    const needed = this.pos + extra;
    if (needed <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }
}
