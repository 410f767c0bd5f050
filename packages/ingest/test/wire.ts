import { randomBytes } from 'node:crypto';

/** A tiny protobuf writer for hand-made (and deliberately malformed) test requests. */
export function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** A length-delimited field (wire type 2). */
export function field(number: number, bytes: Uint8Array | string): Buffer {
  const body = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes);
  return Buffer.concat([varint((number << 3) | 2), varint(body.length), body]);
}

export const cat = (...parts: Uint8Array[]) => Buffer.concat(parts);

/** KeyValue{key, value: AnyValue{string_value}}. */
export const stringAttribute = (key: string, value: Uint8Array | string) =>
  cat(field(1, key), field(2, field(1, value)));

/** A span with valid random ids (or the given ones) and the given extra fields. */
export function span(
  extra: Uint8Array[] = [],
  ids: { traceId?: Uint8Array; spanId?: Uint8Array } = {},
): Buffer {
  return cat(
    field(1, ids.traceId ?? randomBytes(16)),
    field(2, ids.spanId ?? randomBytes(8)),
    field(5, 'span'),
    ...extra,
  );
}

/** ExportTraceServiceRequest{resource_spans: [{resource: {service.name}, scope_spans: [{spans}]}]}. */
export function request(spans: Uint8Array[], service = 'wire-test'): Buffer {
  const resource = field(1, field(1, stringAttribute('service.name', service)));
  const scopeSpans = field(2, cat(...spans.map((s) => field(2, s))));
  return field(1, cat(resource, scopeSpans));
}

/** An attribute whose value is an AnyValue nested `depth` arrays deep. */
export function nestedAttribute(depth: number): Buffer {
  let value: Buffer = field(1, 'leaf');
  for (let i = 0; i < depth; i++) value = field(5, field(1, value));
  return cat(field(1, 'deep'), field(2, value));
}

/** start_time_unix_nano (field 7, fixed64) and end (field 8) of a span `daysAgo` days old. */
export function spanDaysAgo(daysAgo: number): Buffer {
  const startNs = BigInt(Date.now() - daysAgo * 86_400_000) * 1_000_000n;
  const fixed64 = (n: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(n);
    return b;
  };
  return cat(varint((7 << 3) | 1), fixed64(startNs), varint((8 << 3) | 1), fixed64(startNs + 1_000_000n));
}
