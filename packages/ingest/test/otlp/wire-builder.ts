/**
 * Hand-assembled protobuf for the wire-layer tests: malformed and unusual encodings that no encoder
 * would produce (wrong wire types, unknown fields and groups, over-long varints, bad UTF-8).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const VARINT = 0;
export const I64 = 1;
export const LEN = 2;
export const SGROUP = 3;
export const EGROUP = 4;
export const I32 = 5;

/** The team's shared fixture, beside the repository root (CI lays it out the same way). */
export const FIXTURE_URL = new URL(
  '../../../../../shared/fixtures/junjo-workflow.otlp.json',
  import.meta.url,
);
export const fixtureText = (): string => readFileSync(fileURLToPath(FIXTURE_URL), 'utf8');

export function cat(...parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A minimal unsigned varint. */
export function varint(value: number | bigint): Uint8Array {
  let v = BigInt(value);
  const bytes: number[] = [];
  while (v >= 0x80n) {
    bytes.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  bytes.push(Number(v));
  return Uint8Array.from(bytes);
}

export function tag(field: number, wire: number): Uint8Array {
  return varint(field * 8 + wire);
}

/** A length-delimited field whose content is the concatenation of `parts`. */
export function ld(field: number, ...parts: Uint8Array[]): Uint8Array {
  const content = cat(...parts);
  return cat(tag(field, LEN), varint(content.length), content);
}

export function str(field: number, value: string): Uint8Array {
  return ld(field, new TextEncoder().encode(value));
}

export function uint(field: number, value: number | bigint): Uint8Array {
  return cat(tag(field, VARINT), varint(value));
}

export function fixed64(field: number, value: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, value, true);
  return cat(tag(field, I64), bytes);
}

export function fixed32(field: number, value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return cat(tag(field, I32), bytes);
}

export const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

/** A deterministic id of `size` bytes, never all zero. */
export function id(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (seed * 131 + i * 17 + 1) & 0xff;
  out[0] = (out[0]! | 1) & 0xff;
  return out;
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), so a failing case can be replayed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Unknown fields of every wire type, a nested group included; placed in every message by `request`. */
export const UNKNOWN = cat(
  uint(1000, 5),
  fixed64(1001, 7n),
  str(1002, 'unknown'),
  fixed32(1003, 9),
  tag(1004, SGROUP),
  uint(1, 1),
  str(2, 'in a group'),
  tag(5, SGROUP),
  fixed32(6, 1),
  tag(5, EGROUP),
  tag(1004, EGROUP),
  ld(1005, bytes(0xff, 0xfe)),
);

export function double(field: number, value: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, value, true);
  return cat(tag(field, I64), b);
}

/**
 * A hand-assembled request touching every message type of the schema, with `u` appended to every
 * message and `extraSpans` appended to the only ScopeSpans.
 */
export function everyFieldRequest(u: Uint8Array, extraSpans: Uint8Array[] = []): Uint8Array {
  const kv = (field: number, key: string, ...value: Uint8Array[]) =>
    ld(field, str(1, key), ld(2, ...value, u), u);
  const attrs = (field: number) =>
    cat(
      kv(field, 's', str(1, 'text ✓')),
      kv(field, 'b', uint(2, 1)),
      kv(field, 'i', uint(3, (1n << 64n) - 5n)),
      kv(field, 'd', double(4, 2.5)),
      kv(field, 'arr', ld(5, ld(1, str(1, 'x'), u), ld(1, uint(3, 7), u), u)),
      kv(field, 'map', ld(6, kv(1, 'inner', str(1, 'y')), u)),
      kv(field, 'raw', ld(7, bytes(0, 1, 2))),
    );
  const span = ld(
    2,
    ld(1, id(16, 1)),
    ld(2, id(8, 2)),
    str(3, 'vendor=1'),
    ld(4, id(8, 3)),
    str(5, 'work'),
    uint(6, 2),
    fixed64(7, 1_764_331_200_000_000_000n),
    fixed64(8, 1_764_331_200_500_000_000n),
    attrs(9),
    uint(10, 1),
    ld(11, fixed64(1, 1_764_331_200_100_000_000n), str(2, 'event'), attrs(3), uint(4, 2), u),
    uint(12, 3),
    ld(13, ld(1, id(16, 4)), ld(2, id(8, 5)), str(3, 'k=v'), attrs(4), uint(5, 4), fixed32(6, 0x301), u),
    uint(14, 5),
    ld(15, str(2, 'failed'), uint(3, 2), u),
    fixed32(16, 0x101),
    u,
  );
  const resource = ld(
    1,
    attrs(1),
    kv(1, 'service.name', str(1, 'hand-built')),
    uint(2, 6),
    ld(3, str(1, 'https://schema'), str(2, 'service'), str(3, 'service.name'), str(4, 's'), u),
    u,
  );
  const scope = ld(1, str(1, 'scope'), str(2, '1.2.3'), attrs(3), uint(4, 7), u);
  return cat(
    ld(1, resource, ld(2, scope, span, ...extraSpans, str(3, 'https://scope'), u), str(3, 'https://rs'), u),
    u,
  );
}
