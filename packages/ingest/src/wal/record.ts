import { crc32 } from 'node:zlib';

/**
 * On-disk record, all integers little-endian:
 *
 *   offset 0   u32  payload length
 *   offset 4   u32  crc32 of bytes 8..17 (the header fields after the crc) followed by the payload
 *   offset 8   u8   kind (caller-defined tag, e.g. traces / logs / metrics)
 *   offset 9   f64  receivedAtMs (epoch milliseconds, may be fractional)
 *   offset 17  payload
 *
 * No magic or padding: records are packed back to back, so a record's position plus its size is the next
 * record's position. A torn write (crash mid-record) or a zero-filled tail fails the length or crc check.
 */
export const HEADER_BYTES = 17;

/** The largest payload the u32 length field can describe. */
export const MAX_PAYLOAD_BYTES = 0xffff_ffff;

/** Writes the header for `payload` into `target` at `offset` (HEADER_BYTES bytes). */
export function encodeHeader(
  target: Buffer,
  offset: number,
  payload: Uint8Array,
  kind: number,
  receivedAtMs: number,
): void {
  target.writeUInt32LE(payload.byteLength, offset);
  target.writeUInt8(kind, offset + 8);
  target.writeDoubleLE(receivedAtMs, offset + 9);
  const crc = crc32(payload, crc32(target.subarray(offset + 8, offset + HEADER_BYTES)));
  target.writeUInt32LE(crc, offset + 4);
}

export type DecodedRecord =
  | { status: 'ok'; size: number; kind: number; receivedAtMs: number; payload: Uint8Array }
  /** Not all of the record is in the buffer; `size` is its full size when the header was readable. */
  | { status: 'incomplete'; size: number }
  | { status: 'corrupt' };

/** Decodes the record starting at `offset` in `buf`. The payload is a view into `buf`, not a copy. */
export function decodeRecord(buf: Buffer, offset: number): DecodedRecord {
  if (buf.length - offset < HEADER_BYTES) return { status: 'incomplete', size: HEADER_BYTES };
  const size = HEADER_BYTES + buf.readUInt32LE(offset);
  if (buf.length - offset < size) return { status: 'incomplete', size };
  const checked = buf.subarray(offset + 8, offset + size);
  if (crc32(checked) !== buf.readUInt32LE(offset + 4)) return { status: 'corrupt' };
  return {
    status: 'ok',
    size,
    kind: buf.readUInt8(offset + 8),
    receivedAtMs: buf.readDoubleLE(offset + 9),
    payload: buf.subarray(offset + HEADER_BYTES, offset + size),
  };
}
