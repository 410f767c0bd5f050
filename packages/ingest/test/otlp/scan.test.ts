import { describe, expect, it } from 'vitest';
import { traceRequestFromJson } from '../../src/otlp/json.ts';
import { decodeTraceRequest, encodeTraceRequest, type SpanInit } from '../../src/otlp/messages.ts';
import { scanTraceRequest } from '../../src/otlp/scan.ts';
import {
  bytes,
  cat,
  EGROUP,
  everyFieldRequest,
  fixed32,
  fixed64,
  fixtureText,
  I32,
  I64,
  id,
  LEN,
  ld,
  rng,
  SGROUP,
  str,
  tag,
  UNKNOWN,
  uint,
  VARINT,
  varint,
} from './wire-builder.ts';

const EMPTY = new Uint8Array(0);

/** A request holding one span with exactly the given fields. */
function oneSpan(...fields: Uint8Array[]): Uint8Array {
  return ld(1, ld(2, ld(2, ...fields)));
}
const TRACE = ld(1, id(16, 1));
const SPAN = ld(2, id(8, 2));
/** A valid span plus `fields`. */
const spanWith = (...fields: Uint8Array[]) => oneSpan(TRACE, SPAN, ...fields);
/** A valid span with one attribute whose AnyValue holds `value`. */
const attributeWith = (...value: Uint8Array[]) => spanWith(ld(9, str(1, 'k'), ld(2, ...value)));

function expectInvalid(input: Uint8Array, message: string, limits?: { maxDepth?: number }): void {
  const result = scanTraceRequest(input, limits);
  expect(result.ok, message).toBe(false);
  if (!result.ok) expect(result.error).toContain(message);
}

function nestedArrays(depth: number): Uint8Array {
  let value = str(1, 'bottom');
  for (let i = 1; i < depth; i++) value = ld(5, ld(1, value));
  return value;
}

/** Like nestedArrays, built in one pass so that very deep values stay cheap to make. */
function deepArrays(depth: number): Uint8Array {
  const prefixes: Uint8Array[] = [];
  let size = 2;
  for (let i = 1; i < depth; i++) {
    // AnyValue{array_value = 5: ArrayValue{values = 1: <inner AnyValue>}}
    const inner = cat(tag(1, LEN), varint(size));
    const outer = cat(tag(5, LEN), varint(inner.length + size));
    prefixes.push(cat(outer, inner));
    size += outer.length + inner.length;
  }
  prefixes.reverse().push(str(1, ''));
  // Not cat(...prefixes): that many spread arguments would overflow the stack in the test itself.
  const out = new Uint8Array(prefixes.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of prefixes) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function nestedKvlists(depth: number): Uint8Array {
  let value = str(1, 'bottom');
  for (let i = 1; i < depth; i++) value = ld(6, ld(1, str(1, `k${i}`), ld(2, value)));
  return value;
}

describe('scanTraceRequest on valid input', () => {
  it('accepts a request using every message and field of the schema', () => {
    const input = everyFieldRequest(EMPTY);
    const result = scanTraceRequest(input);
    expect(result).toEqual({
      ok: true,
      spans: 1,
      rejectedSpans: 0,
      bytes: input,
      resourceSpans: 1,
      serviceName: 'hand-built',
    });
    if (result.ok) expect(result.bytes).toBe(input);
  });

  it('skips unknown fields of every wire type (groups included) in every message', () => {
    const plain = everyFieldRequest(EMPTY);
    const noisy = everyFieldRequest(UNKNOWN);
    expect(scanTraceRequest(noisy)).toMatchObject({
      ok: true,
      spans: 1,
      rejectedSpans: 0,
      serviceName: 'hand-built',
    });
    expect(decodeTraceRequest(noisy)).toEqual(decodeTraceRequest(plain));
  });

  it('accepts the empty request and counts resource spans', () => {
    expect(scanTraceRequest(EMPTY)).toEqual({
      ok: true,
      spans: 0,
      rejectedSpans: 0,
      bytes: EMPTY,
      resourceSpans: 0,
    });
    const two = cat(everyFieldRequest(EMPTY), everyFieldRequest(EMPTY));
    expect(scanTraceRequest(two)).toMatchObject({
      ok: true,
      spans: 2,
      resourceSpans: 2,
      serviceName: 'hand-built',
    });
  });

  it('accepts valid multi-byte UTF-8, short and long', () => {
    const long = 'Ünïcödé ✓ 𝄞 '.repeat(20);
    expect(scanTraceRequest(spanWith(str(5, 'héllo ✓ 𝄞')))).toMatchObject({ ok: true, spans: 1 });
    expect(scanTraceRequest(spanWith(str(5, long)))).toMatchObject({ ok: true, spans: 1 });
  });

  it('accepts a 10-byte sign-extended negative int32 and non-minimal 5-byte lengths', () => {
    expect(scanTraceRequest(spanWith(uint(6, (1n << 64n) - 1n)))).toMatchObject({ ok: true, spans: 1 });
    // Some encoders reserve a fixed 5-byte length prefix and patch it afterwards.
    const padded = (field: number, ...parts: Uint8Array[]) => {
      const content = cat(...parts);
      const n = content.length;
      const prefix = bytes(
        0x80 | (n & 0x7f),
        0x80 | ((n >> 7) & 0x7f),
        0x80 | ((n >> 14) & 0x7f),
        0x80,
        0x00,
      );
      return cat(tag(field, LEN), prefix, content);
    };
    const fixed = padded(1, padded(2, padded(2, TRACE, SPAN, str(5, 'padded'))));
    expect(scanTraceRequest(fixed)).toMatchObject({ ok: true, spans: 1 });
    expect(decodeTraceRequest(fixed).resourceSpans[0]!.scopeSpans[0]!.spans[0]!.name).toBe('padded');
  });

  it('allows AnyValue nesting up to maxDepth, arrays and key-value lists alike', () => {
    expect(scanTraceRequest(attributeWith(nestedArrays(32))).ok).toBe(true);
    expect(scanTraceRequest(attributeWith(nestedKvlists(32))).ok).toBe(true);
    expect(scanTraceRequest(attributeWith(nestedArrays(4)), { maxDepth: 4 }).ok).toBe(true);
  });
});

describe('scanTraceRequest rejects bad spans and keeps the rest', () => {
  const good = (name: string, seed: number): SpanInit => ({
    traceId: id(16, seed),
    spanId: id(8, seed),
    name,
    attributes: [{ key: 'n', value: { type: 'string', value: name } }],
  });

  it('drops spans with bad ids, counts them, explains them, and rewrites the request', () => {
    const input = encodeTraceRequest({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { type: 'string', value: 'svc-a' } }] },
          scopeSpans: [
            {
              scope: { name: 'first', version: '1' },
              schemaUrl: 'https://first',
              spans: [
                good('good-1', 1),
                { ...good('short-trace', 2), traceId: id(15, 2) },
                good('good-2', 3),
                { ...good('zero-span', 4), spanId: new Uint8Array(8) },
                { ...good('short-parent', 5), parentSpanId: id(7, 5) },
              ],
            },
            {
              scope: { name: 'all-bad' },
              spans: [
                { ...good('zero-trace', 6), traceId: new Uint8Array(16) },
                { ...good('no-span-id', 7), spanId: undefined },
              ],
            },
          ],
        },
        {
          resource: { attributes: [{ key: 'service.name', value: { type: 'string', value: 'svc-b' } }] },
          scopeSpans: [{ spans: [{ ...good('long-trace', 8), traceId: id(17, 8) }] }],
        },
        {
          resource: { attributes: [{ key: 'service.name', value: { type: 'string', value: 'svc-c' } }] },
          scopeSpans: [
            {
              spans: [
                { ...good('', 9), spanId: id(9, 9) },
                { ...good('good-3', 10), parentSpanId: id(8, 1) },
              ],
            },
          ],
        },
      ],
    });
    const result = scanTraceRequest(input);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.spans).toBe(3);
    expect(result.rejectedSpans).toBe(7);
    expect(result.resourceSpans).toBe(3);
    expect(result.serviceName).toBe('svc-a');
    expect(result.errorMessage).toBe(
      "7 spans rejected: invalid trace_id length 15 (span 'short-trace'), span_id is all zero (span 'zero-span'), " +
        "invalid parent_span_id length 7 (span 'short-parent'), trace_id is all zero (span 'zero-trace'), " +
        "invalid span_id length 0 (span 'no-span-id'), and 2 more",
    );
    expect(result.bytes).not.toBe(input);

    const kept = decodeTraceRequest(result.bytes);
    expect(kept.resourceSpans.map((rs) => rs.resource.attributes[0]?.value)).toEqual([
      { type: 'string', value: 'svc-a' },
      { type: 'string', value: 'svc-c' },
    ]);
    expect(kept.resourceSpans[0]!.scopeSpans).toHaveLength(1);
    expect(kept.resourceSpans[0]!.scopeSpans[0]!.scope.name).toBe('first');
    expect(kept.resourceSpans[0]!.scopeSpans[0]!.schemaUrl).toBe('https://first');
    const names = kept.resourceSpans.flatMap((rs) =>
      rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => s.name)),
    );
    expect(names).toEqual(['good-1', 'good-2', 'good-3']);

    // The rewritten request is exactly what an encoder would produce without the bad spans.
    const original = decodeTraceRequest(input);
    const goodSpans = original.resourceSpans.flatMap((rs) =>
      rs.scopeSpans.flatMap((ss) => ss.spans.filter((s) => s.name.startsWith('good'))),
    );
    expect(kept.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans))).toEqual(goodSpans);

    expect(scanTraceRequest(result.bytes)).toEqual({
      ok: true,
      spans: 3,
      rejectedSpans: 0,
      bytes: result.bytes,
      resourceSpans: 2,
      serviceName: 'svc-a',
    });
  });

  it('keeps unknown fields and untouched groups byte for byte when rewriting', () => {
    const bad = ld(2, ld(1, id(15, 1)), ld(2, id(8, 1)), str(5, 'bad'), UNKNOWN);
    const input = everyFieldRequest(UNKNOWN, [bad]);
    const result = scanTraceRequest(input);
    expect(result).toMatchObject({ ok: true, spans: 1, rejectedSpans: 1 });
    if (!result.ok) return;
    expect(result.errorMessage).toBe("1 span rejected: invalid trace_id length 15 (span 'bad')");
    expect(result.bytes).toEqual(everyFieldRequest(UNKNOWN));
  });

  it('rejects every span of a request when every span is bad, leaving an empty request', () => {
    const input = encodeTraceRequest({
      resourceSpans: [
        { scopeSpans: [{ spans: [{ name: 'a' }, { name: 'x'.repeat(200), traceId: id(16, 1) }] }] },
      ],
    });
    const result = scanTraceRequest(input);
    expect(result).toMatchObject({ ok: true, spans: 0, rejectedSpans: 2, bytes: EMPTY });
    if (!result.ok) return;
    expect(result.errorMessage).toBe(
      `2 spans rejected: invalid trace_id length 0 (span 'a'), invalid span_id length 0 (span '${'x'.repeat(80)}…')`,
    );
    expect(scanTraceRequest(oneSpan(SPAN))).toMatchObject({
      ok: true,
      rejectedSpans: 1,
      errorMessage: '1 span rejected: invalid trace_id length 0 (unnamed span)',
    });
  });
});

describe('scanTraceRequest refuses undecodable requests without throwing', () => {
  const fixture = traceRequestFromJson(fixtureText());

  it('refuses the fixture truncated at every byte offset', () => {
    // One ResourceSpans spans the whole request, so every proper prefix (but the empty one) is cut mid-message.
    for (let cut = 1; cut < fixture.length; cut++) {
      const result = scanTraceRequest(fixture.subarray(0, cut));
      expect(result.ok, `cut at ${cut}`).toBe(false);
    }
    expect(scanTraceRequest(fixture.subarray(0, 0)).ok).toBe(true);
  });

  it('refuses wrong wire types on known fields', () => {
    const cases: Array<[string, Uint8Array]> = [
      ['ExportTraceServiceRequest.resource_spans', uint(1, 5)],
      ['ResourceSpans.resource', ld(1, fixed32(1, 0))],
      ['ResourceSpans.scope_spans', ld(1, uint(2, 1))],
      ['ResourceSpans.schema_url', ld(1, uint(3, 1))],
      ['Resource.attributes', ld(1, ld(1, uint(1, 1)))],
      ['Resource.dropped_attributes_count', ld(1, ld(1, str(2, 'x')))],
      ['EntityRef.type', ld(1, ld(1, ld(3, uint(2, 1))))],
      ['ScopeSpans.scope', ld(1, ld(2, fixed64(1, 1n)))],
      ['InstrumentationScope.name', ld(1, ld(2, ld(1, uint(1, 1))))],
      ['InstrumentationScope.attributes', ld(1, ld(2, ld(1, fixed32(3, 1))))],
      ['Span.trace_id', oneSpan(uint(1, 5), SPAN)],
      ['Span.span_id', oneSpan(TRACE, fixed64(2, 5n))],
      ['Span.parent_span_id', spanWith(fixed32(4, 1))],
      ['Span.name', spanWith(fixed64(5, 1n))],
      ['Span.kind', spanWith(str(6, 'x'))],
      ['Span.start_time_unix_nano', spanWith(uint(7, 5))],
      ['Span.end_time_unix_nano', spanWith(fixed32(8, 5))],
      ['Span.attributes', spanWith(uint(9, 1))],
      ['Span.events', spanWith(fixed64(11, 1n))],
      ['Span.links', spanWith(uint(13, 1))],
      ['Span.status', spanWith(fixed32(15, 1))],
      ['Span.flags', spanWith(uint(16, 1))],
      ['Span.Event.time_unix_nano', spanWith(ld(11, fixed32(1, 1)))],
      ['Span.Link.flags', spanWith(ld(13, fixed64(6, 1n)))],
      ['Span.Link.trace_id', spanWith(ld(13, uint(1, 1)))],
      ['Status.code', spanWith(ld(15, str(3, 'x')))],
      ['Status.message', spanWith(ld(15, uint(2, 1)))],
      ['KeyValue.key', spanWith(ld(9, uint(1, 1)))],
      ['KeyValue.value', spanWith(ld(9, str(1, 'k'), uint(2, 1)))],
      ['AnyValue.string_value', attributeWith(uint(1, 1))],
      ['AnyValue.bool_value', attributeWith(str(2, 'x'))],
      ['AnyValue.int_value', attributeWith(fixed64(3, 1n))],
      ['AnyValue.double_value', attributeWith(fixed32(4, 1))],
      ['AnyValue.array_value', attributeWith(uint(5, 1))],
      ['AnyValue.kvlist_value', attributeWith(fixed32(6, 1))],
      ['AnyValue.bytes_value', attributeWith(uint(7, 1))],
      ['ArrayValue.values', attributeWith(ld(5, uint(1, 1)))],
      ['KeyValueList.values', attributeWith(ld(6, fixed32(1, 1)))],
      ['Span.name', spanWith(tag(5, SGROUP), tag(5, EGROUP))],
    ];
    for (const [field, input] of cases) {
      const result = scanTraceRequest(input);
      expect(result.ok, field).toBe(false);
      if (!result.ok)
        expect(result.error).toMatch(new RegExp(`^wrong wire type \\d for ${field} at byte \\d+$`));
    }
  });

  it('refuses invalid UTF-8 in string fields, through both the short and the long check', () => {
    const cases: Array<[string, Uint8Array]> = [
      ['Span.name', spanWith(ld(5, bytes(0x61, 0xff)))],
      ['KeyValue.key', spanWith(ld(9, ld(1, bytes(0xc0, 0xaf))))],
      ['AnyValue.string_value', attributeWith(ld(1, bytes(0xed, 0xa0, 0x80)))],
      ['Span.Event.name', spanWith(ld(11, ld(2, bytes(0x41, 0xe2, 0x82))))],
      ['InstrumentationScope.name', ld(1, ld(2, ld(1, ld(1, bytes(0xf4, 0x90, 0x80, 0x80)))))],
      ['ResourceSpans.schema_url', ld(1, ld(3, bytes(0x80)))],
      ['Span.trace_state', spanWith(ld(3, bytes(0xe0, 0x80, 0x80)))],
      ['Span.Link.trace_state', spanWith(ld(13, ld(3, bytes(0xf0, 0x80, 0x80, 0x80))))],
      ['EntityRef.type', ld(1, ld(1, ld(3, ld(2, bytes(0xfe)))))],
      [
        'Status.message',
        spanWith(ld(15, ld(2, cat(new TextEncoder().encode('x'.repeat(300)), bytes(0xc3))))),
      ],
      [
        'AnyValue.string_value',
        attributeWith(ld(1, cat(new TextEncoder().encode('é'.repeat(100)), bytes(0xed, 0xbf, 0xbf)))),
      ],
    ];
    for (const [field, input] of cases) expectInvalid(input, `invalid UTF-8 in ${field}`);
  });

  it('agrees with a strict UTF-8 decoder on random byte strings', () => {
    const strict = new TextDecoder('utf-8', { fatal: true });
    const random = rng(42);
    // Mostly bytes near the UTF-8 boundaries, where validators go wrong.
    const interesting = [
      0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed,
      0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff,
    ];
    const encoder = new TextEncoder();
    const codePoints = [0x41, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x10ffff];
    let valid = 0;
    for (let i = 0; i < 6000; i++) {
      let value: Uint8Array;
      if (i % 3 === 2) {
        // Valid text (short or past the native-check threshold), sometimes with one byte corrupted.
        let text = '';
        const chars = Math.floor(random() * 150);
        for (let j = 0; j < chars; j++) {
          const boundary = codePoints[Math.floor(random() * codePoints.length)]!;
          text += String.fromCodePoint(random() < 0.5 ? boundary : 0x20 + Math.floor(random() * 0x60));
        }
        value = encoder.encode(text);
        if (value.length > 0 && random() < 0.5)
          value[Math.floor(random() * value.length)] = Math.floor(random() * 256);
      } else {
        const size = Math.floor(random() * (i % 3 === 0 ? 12 : 300));
        value = new Uint8Array(size);
        for (let j = 0; j < size; j++) {
          value[j] =
            random() < 0.7
              ? interesting[Math.floor(random() * interesting.length)]!
              : Math.floor(random() * 256);
        }
      }
      let expected = true;
      try {
        strict.decode(value);
      } catch {
        expected = false;
      }
      if (expected) valid++;
      expect(scanTraceRequest(spanWith(ld(5, value))).ok, Buffer.from(value).toString('hex')).toBe(expected);
    }
    expect(valid).toBeGreaterThan(1000);
  });

  it('refuses AnyValue nested past maxDepth, and absurd nesting', () => {
    expectInvalid(attributeWith(nestedArrays(33)), 'AnyValue nested deeper than 32 levels');
    expectInvalid(attributeWith(nestedKvlists(33)), 'AnyValue nested deeper than 32 levels');
    expectInvalid(attributeWith(nestedArrays(1000)), 'AnyValue nested deeper than 32 levels');
    expectInvalid(attributeWith(nestedArrays(5)), 'AnyValue nested deeper than 4 levels', { maxDepth: 4 });
    // With no practical depth limit, absurd nesting exhausts the stack: still an answer, not a throw.
    expectInvalid(attributeWith(deepArrays(200_000)), 'message nesting exhausted the stack', {
      maxDepth: 1e9,
    });
    let groups: Uint8Array = EMPTY;
    for (let i = 0; i < 1000; i++) groups = cat(tag(99, SGROUP), groups, tag(99, EGROUP));
    expectInvalid(spanWith(groups), 'groups nested deeper than 32');
  });

  it('refuses bad varints, lengths, tags and wire types', () => {
    const ff = (n: number) => new Uint8Array(n).fill(0xff);
    expectInvalid(spanWith(tag(6, VARINT), ff(11)), 'varint overflows 64 bits');
    expectInvalid(attributeWith(tag(3, VARINT), ff(9), bytes(0x02)), 'varint overflows 64 bits');
    expectInvalid(
      spanWith(tag(10, VARINT), bytes(0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00)),
      '7-byte varint for 32-bit',
    );
    expectInvalid(spanWith(tag(6, VARINT), ff(3)), 'truncated varint');
    expectInvalid(
      cat(tag(1, LEN), bytes(0x80, 0x80, 0x80, 0x80, 0x80, 0x00)),
      'length prefix longer than 32 bits',
    );
    expectInvalid(cat(tag(1, LEN), bytes(100, 1, 2, 3)), 'length 100 at byte 1 runs past the end');
    expectInvalid(cat(tag(1, LEN), bytes(0x80)), 'truncated length');
    // The span claims more bytes than its ScopeSpans holds, though the buffer has them.
    expectInvalid(cat(ld(1, ld(2, tag(2, LEN), bytes(10))), new Uint8Array(20)), 'runs past the end');
    expectInvalid(bytes(0x02, 0x00), 'field number 0');
    expectInvalid(bytes(0x80, 0x00), 'field number 0');
    expectInvalid(bytes(0xff, 0xff, 0xff, 0xff, 0x1f), 'tag overflows 32 bits');
    expectInvalid(bytes(0xff, 0xff), 'truncated tag');
    expectInvalid(cat(tag(9, 6)), 'invalid wire type 6');
    expectInvalid(spanWith(tag(99, 7)), 'invalid wire type 7');
    expectInvalid(cat(tag(9, EGROUP)), 'unexpected end-group tag');
    expectInvalid(cat(tag(9, SGROUP), tag(8, EGROUP)), 'mismatched end-group tag');
    expectInvalid(cat(tag(9, SGROUP), uint(1, 1)), 'unterminated group 9');
    expectInvalid(spanWith(tag(99, I64), bytes(1, 2, 3)), 'truncated 64-bit value');
    expectInvalid(spanWith(tag(99, I32), bytes(1, 2, 3)), 'truncated 32-bit value');
  });

  it('survives random buffers', () => {
    const random = rng(1);
    let accepted = 0;
    for (let i = 0; i < 2000; i++) {
      const input = new Uint8Array(Math.floor(random() * 300));
      for (let j = 0; j < input.length; j++) input[j] = Math.floor(random() * 256);
      const result = scanTraceRequest(input);
      if (result.ok) accepted++;
      else expect(result.error).toMatch(/at byte|group/);
    }
    expect(accepted).toBeLessThan(100);
  });
});
