import { describe, expect, it } from 'vitest';
import { anyValueJson, jsonStringContent, toHex } from '../../src/span/json-text.ts';
import { formatSpanTime } from '../../src/span/timestamp.ts';
import { arr, bytes, int, kv, kvlist, str } from './build.ts';

describe('formatSpanTime', () => {
  it('formats microseconds, truncating the nanoseconds below them', () => {
    expect(formatSpanTime(1_764_331_200_123_456_789n)).toBe('2025-11-28T12:00:00.123456+00:00');
    expect(formatSpanTime(1_764_331_200_000_000_999n)).toBe('2025-11-28T12:00:00.000000+00:00');
    expect(formatSpanTime(1_764_331_200_000_001_000n)).toBe('2025-11-28T12:00:00.000001+00:00');
    expect(formatSpanTime(1_764_331_200_999_999_999n)).toBe('2025-11-28T12:00:00.999999+00:00');
  });

  it('stays right when consecutive times move between seconds, minutes and days', () => {
    // The per-second prefix cache must not leak a previous second into the next result.
    const times: Array<[bigint, string]> = [
      [1_764_331_199_999_999_000n, '2025-11-28T11:59:59.999999+00:00'],
      [1_764_331_200_000_000_000n, '2025-11-28T12:00:00.000000+00:00'],
      [1_764_331_199_500_000_000n, '2025-11-28T11:59:59.500000+00:00'],
      [1_764_374_399_000_000_000n, '2025-11-28T23:59:59.000000+00:00'],
      [1_764_374_400_000_000_000n, '2025-11-29T00:00:00.000000+00:00'],
      [1_709_164_800_000_000_000n, '2024-02-29T00:00:00.000000+00:00'],
    ];
    for (const [ns, text] of times) expect(formatSpanTime(ns)).toBe(text);
  });

  it('covers the whole fixed64 range and clamps values outside it', () => {
    expect(formatSpanTime(0n)).toBe('1970-01-01T00:00:00.000000+00:00');
    expect(formatSpanTime(2n ** 64n - 1n)).toBe('2554-07-21T23:34:33.709551+00:00');
    // Past 2^53 microseconds (year 2255) the arithmetic switches to bigint.
    expect(formatSpanTime(9_007_199_254_740_993_000n)).toBe('2255-06-05T23:47:34.740993+00:00');
    expect(formatSpanTime(-5n)).toBe('1970-01-01T00:00:00.000000+00:00');
    expect(formatSpanTime(2n ** 70n)).toBe('2554-07-21T23:34:33.709551+00:00');
  });
});

describe('JSON text helpers', () => {
  it('writes hex for id sizes and any other length', () => {
    expect(toHex(bytes('0123456789abcdef'))).toBe('0123456789abcdef');
    expect(toHex(bytes('FFEEDDCCBBAA99887766554433221100'))).toBe('ffeeddccbbaa99887766554433221100');
    expect(toHex(new Uint8Array(0))).toBe('');
    expect(toHex(bytes('00ff7f'))).toBe('00ff7f');
  });

  it('leaves plain strings alone and escapes the rest', () => {
    const plain = 'junjo.span_type é 😀';
    expect(jsonStringContent(plain)).toBe(plain);
    expect(jsonStringContent('a"b\\c\nd\u001f')).toBe('a\\"b\\\\c\\nd\\u001f');
    expect(jsonStringContent('x\udc00')).toBe('x\\udc00');
  });

  it('writes a whole AnyValue tree as parseable JSON', () => {
    const text = anyValueJson(
      arr(str('s'), int(-(2n ** 63n)), kvlist(kv('a', arr()), kv('b', kvlist(kv('c', int(1n)))))),
    );
    expect(text).toBe('["s","-9223372036854775808",{"a":[],"b":{"c":1}}]');
    expect(JSON.parse(text)).toEqual(['s', '-9223372036854775808', { a: [], b: { c: 1 } }]);
  });
});
