/**
 * Hand-written JSON text for the parts of the Span object that `JSON.stringify` cannot render
 * faithfully (int64 beyond 2^53, nanosecond event times as exact number literals) and for the hot
 * path of the indexer, where building intermediate objects only to stringify them would double the
 * work. Every function returns a complete JSON value as text.
 */
import type { AnyValue, KeyValue } from './otlp.ts';

const HEX_DIGITS = '0123456789abcdef';
/** Char codes of the hex digits, for `String.fromCharCode`. */
const HEX_CODES = Array.from(HEX_DIGITS, (c) => c.charCodeAt(0));
/** Two hex digits per byte value. */
const HEX_PAIRS = Array.from({ length: 256 }, (_, i) => HEX_DIGITS[i >> 4]! + HEX_DIGITS[i & 15]!);
/** Reused argument lists for the two id sizes: one `fromCharCode` call builds a flat string. */
const CODES_8 = new Array<number>(16).fill(0);
const CODES_16 = new Array<number>(32).fill(0);

/**
 * Lowercase hex of `bytes`. Trace ids (16 bytes) and span ids (8) go through one `fromCharCode`
 * call, which measured ~2x faster than concatenating byte pairs (and yields a flat string).
 */
export function toHex(bytes: Uint8Array): string {
  const n = bytes.length;
  const codes = n === 8 ? CODES_8 : n === 16 ? CODES_16 : undefined;
  if (codes === undefined) {
    let out = '';
    for (let i = 0; i < n; i++) out += HEX_PAIRS[bytes[i]!]!;
    return out;
  }
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    codes[2 * i] = HEX_CODES[b >> 4]!;
    codes[2 * i + 1] = HEX_CODES[b & 15]!;
  }
  return String.fromCharCode.apply(null, codes);
}

/**
 * The text of `s` between the quotes of a JSON string literal. Callers write the quotes into their
 * own constant text: each concatenation adds a node V8 must later walk when it flattens the string.
 * Most strings (keys, names, ids) need no escaping, and a char-code scan proves that faster than
 * `JSON.stringify`, which handles the rest (quotes, backslashes, control characters, and lone
 * surrogates, which it escapes so that the text stays well-formed).
 */
export function jsonStringContent(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) {
      const quoted = JSON.stringify(s);
      return quoted.slice(1, quoted.length - 1);
    }
  }
  return s;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;

/**
 * An AnyValue as JSON (CONTRACT §6.3): ints within ±(2^53-1) as numbers, beyond as decimal strings
 * (a JSON reader would round them); doubles as numbers, except NaN and ±Infinity, which JSON cannot
 * express, as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`; bytes as lowercase hex; arrays and
 * key-value lists recursively; an unset value as `null`.
 */
export function anyValueJson(v: AnyValue): string {
  switch (v.type) {
    case 'string':
      return `"${jsonStringContent(v.value)}"`;
    case 'int': {
      const n = v.value;
      return n <= MAX_SAFE && n >= MIN_SAFE ? n.toString() : `"${n.toString()}"`;
    }
    case 'bool':
      return v.value ? 'true' : 'false';
    case 'double':
      // String(number) is the shortest round-trip form, the same digits JSON.stringify writes.
      return Number.isFinite(v.value) ? String(v.value) : `"${String(v.value)}"`;
    case 'bytes':
      return `"${toHex(v.value)}"`;
    case 'array': {
      const items = v.value;
      if (items.length === 0) return '[]';
      let out = `[${anyValueJson(items[0]!)}`;
      for (let i = 1; i < items.length; i++) out += `,${anyValueJson(items[i]!)}`;
      return `${out}]`;
    }
    case 'kvlist':
      return keyValuesJson(v.value);
    case 'empty':
      return 'null';
  }
}

/**
 * A key-value list as a JSON object. A repeated key keeps the position of its first occurrence and
 * the value of its last, as assigning into a JS object (or Python dict) would: the text never holds
 * duplicate keys, whose meaning JSON leaves undefined.
 */
export function keyValuesJson(list: KeyValue[]): string {
  const n = list.length;
  if (n === 0) return '{}';
  if (hasRepeatedKey(list)) return dedupedKeyValuesJson(list);
  const first = list[0]!;
  let out = `{"${jsonStringContent(first.key)}":${anyValueJson(first.value)}`;
  for (let i = 1; i < n; i++) {
    const kv = list[i]!;
    out += `,"${jsonStringContent(kv.key)}":${anyValueJson(kv.value)}`;
  }
  return `${out}}`;
}

/** Below this length, comparing every pair of keys is cheaper than building a Set. */
const PAIRWISE_LIMIT = 12;

function hasRepeatedKey(list: KeyValue[]): boolean {
  const n = list.length;
  if (n < 2) return false;
  if (n <= PAIRWISE_LIMIT) {
    for (let i = 1; i < n; i++) {
      const key = list[i]!.key;
      for (let j = 0; j < i; j++) if (list[j]!.key === key) return true;
    }
    return false;
  }
  const seen = new Set<string>();
  for (const kv of list) {
    if (seen.has(kv.key)) return true;
    seen.add(kv.key);
  }
  return false;
}

function dedupedKeyValuesJson(list: KeyValue[]): string {
  // Map.set on an existing key replaces the value and keeps the insertion position.
  const last = new Map<string, AnyValue>();
  for (const kv of list) last.set(kv.key, kv.value);
  let out = '';
  for (const [key, value] of last)
    out += `${out === '' ? '{' : ','}"${jsonStringContent(key)}":${anyValueJson(value)}`;
  return `${out}}`;
}
