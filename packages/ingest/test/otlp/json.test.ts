import { isAppError } from '@junjo/core/errors';
import { describe, expect, it } from 'vitest';
import { OtlpJsonError, traceRequestFromJson } from '../../src/otlp/json.ts';
import {
  type AnyValue,
  decodeTraceRequest,
  type KeyValue,
  type TraceRequest,
} from '../../src/otlp/messages.ts';
import { scanTraceRequest } from '../../src/otlp/scan.ts';
import { fixtureText, hex } from './wire-builder.ts';

type Json = Record<string, unknown>;

/** The OTLP/JSON form of a decoded request, leaving out default values as OTLP/JSON encoders do. */
function toOtlpJson(request: TraceRequest): Json {
  const kv = (list: KeyValue[]) => list.map((a) => ({ key: a.key, value: anyToJson(a.value) }));
  const attrs = (list: KeyValue[]) => (list.length > 0 ? { attributes: kv(list) } : {});
  return {
    resourceSpans: request.resourceSpans.map((rs) => ({
      resource: attrs(rs.resource.attributes),
      scopeSpans: rs.scopeSpans.map((ss) => ({
        scope: { name: ss.scope.name, version: ss.scope.version },
        spans: ss.spans.map((s) => ({
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          ...(s.parentSpanId.length > 0 ? { parentSpanId: hex(s.parentSpanId) } : {}),
          name: s.name,
          kind: s.kind,
          startTimeUnixNano: String(s.startTimeUnixNano),
          endTimeUnixNano: String(s.endTimeUnixNano),
          ...attrs(s.attributes),
          ...(s.events.length > 0
            ? {
                events: s.events.map((e) => ({
                  name: e.name,
                  timeUnixNano: String(e.timeUnixNano),
                  ...attrs(e.attributes),
                })),
              }
            : {}),
          ...(s.status.code !== 0 || s.status.message !== '' ? { status: s.status } : {}),
        })),
      })),
    })),
  };
}

function anyToJson(v: AnyValue): Json {
  switch (v.type) {
    case 'string':
      return { stringValue: v.value };
    case 'int':
      return { intValue: String(v.value) };
    case 'bool':
      return { boolValue: v.value };
    case 'double':
      return { doubleValue: v.value };
    case 'bytes':
      return { bytesValue: Buffer.from(v.value).toString('base64') };
    case 'array':
      return { arrayValue: { values: v.value.map(anyToJson) } };
    case 'kvlist':
      return { kvlistValue: { values: v.value.map((a) => ({ key: a.key, value: anyToJson(a.value) })) } };
    case 'empty':
      return {};
  }
}

function snakeCaseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeCaseKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
      snakeCaseKeys(v),
    ]),
  );
}

function oneSpanRequest(span: Json, attributes: Json[] = []): Json {
  return {
    resourceSpans: [
      {
        scopeSpans: [
          {
            spans: [
              {
                traceId: '5b8efff798038103d269b633813fc60c',
                spanId: 'a000000000000001',
                name: 'one',
                attributes,
                ...span,
              },
            ],
          },
        ],
      },
    ],
  };
}

function thrown(fn: () => unknown): OtlpJsonError {
  try {
    fn();
  } catch (error) {
    if (error instanceof OtlpJsonError) return error;
    throw error;
  }
  throw new Error('expected an OtlpJsonError');
}

describe('traceRequestFromJson', () => {
  it('turns the shared Junjo fixture into protobuf that scans and decodes back to the fixture', () => {
    const text = fixtureText();
    const bytes = traceRequestFromJson(text);
    const scan = scanTraceRequest(bytes);
    expect(scan).toMatchObject({
      ok: true,
      spans: 9,
      rejectedSpans: 0,
      resourceSpans: 1,
      serviceName: 'doc-qa-app',
    });
    if (!scan.ok) return;
    expect(scan.bytes).toBe(bytes);
    expect(scan.errorMessage).toBeUndefined();

    const decoded = decodeTraceRequest(bytes);
    expect(toOtlpJson(decoded)).toEqual(JSON.parse(text));

    const spans = decoded.resourceSpans[0]!.scopeSpans[0]!.spans;
    expect(new Set(spans.map((s) => hex(s.traceId)))).toEqual(new Set(['5b8efff798038103d269b633813fc60c']));
    const check = spans.find((s) => s.name === 'CheckNode')!;
    expect(check.status).toEqual({ code: 2, message: 'draft too short' });
    expect(check.events.map((e) => e.name)).toEqual(['exception', 'set_state']);
    const llm = spans.find((s) => s.name === 'ChatCompletion')!;
    expect(llm.kind).toBe(3);
    expect(llm.attributes.find((a) => a.key === 'llm.token_count.total')?.value).toEqual({
      type: 'int',
      value: 49n,
    });
  });

  it('accepts proto snake_case names, enum names and integers as numbers, producing the same bytes', () => {
    const fixture = JSON.parse(fixtureText()) as Json;
    const expected = traceRequestFromJson(fixture);
    expect(traceRequestFromJson(snakeCaseKeys(fixture))).toEqual(expected);
    expect(traceRequestFromJson(JSON.stringify(fixture))).toEqual(expected);
    expect(traceRequestFromJson(Buffer.from(JSON.stringify(fixture)))).toEqual(expected);

    const numeric = traceRequestFromJson(
      oneSpanRequest({ kind: 3, startTimeUnixNano: '1000', status: { code: 2 } }, [
        { key: 'n', value: { intValue: '42' } },
      ]),
    );
    const named = traceRequestFromJson(
      oneSpanRequest(
        { kind: 'SPAN_KIND_CLIENT', startTimeUnixNano: 1000, status: { code: 'STATUS_CODE_ERROR' } },
        [{ key: 'n', value: { intValue: 42 } }],
      ),
    );
    expect(named).toEqual(numeric);
  });

  it('maps every AnyValue kind, nested values included', () => {
    const bytes = traceRequestFromJson(
      oneSpanRequest({ flags: 257, traceState: 'a=1', droppedAttributesCount: 3 }, [
        { key: 's', value: { stringValue: 'héllo ✓' } },
        { key: 'empty string', value: { stringValue: '' } },
        { key: 'b', value: { boolValue: false } },
        { key: 'i', value: { intValue: '-9223372036854775808' } },
        { key: 'd', value: { doubleValue: 1.5 } },
        { key: 'nan', value: { doubleValue: 'NaN' } },
        { key: 'inf', value: { doubleValue: '-Infinity' } },
        { key: 'bytes', value: { bytesValue: Buffer.from([0, 1, 254, 255]).toString('base64') } },
        {
          key: 'nested',
          value: {
            arrayValue: {
              values: [
                { stringValue: 'x' },
                { kvlistValue: { values: [{ key: 'k', value: { intValue: 7 } }] } },
                {},
              ],
            },
          },
        },
        { key: 'no value' },
      ]),
    );
    const span = decodeTraceRequest(bytes).resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    expect(span.flags).toBe(257);
    expect(span.traceState).toBe('a=1');
    expect(span.droppedAttributesCount).toBe(3);
    expect(span.attributes).toEqual([
      { key: 's', value: { type: 'string', value: 'héllo ✓' } },
      { key: 'empty string', value: { type: 'string', value: '' } },
      { key: 'b', value: { type: 'bool', value: false } },
      { key: 'i', value: { type: 'int', value: -9223372036854775808n } },
      { key: 'd', value: { type: 'double', value: 1.5 } },
      { key: 'nan', value: { type: 'double', value: Number.NaN } },
      { key: 'inf', value: { type: 'double', value: Number.NEGATIVE_INFINITY } },
      { key: 'bytes', value: { type: 'bytes', value: Uint8Array.from([0, 1, 254, 255]) } },
      {
        key: 'nested',
        value: {
          type: 'array',
          value: [
            { type: 'string', value: 'x' },
            { type: 'kvlist', value: [{ key: 'k', value: { type: 'int', value: 7n } }] },
            { type: 'empty' },
          ],
        },
      },
      { key: 'no value', value: { type: 'empty' } },
    ]);
  });

  it('ignores unknown fields and treats null as absent', () => {
    const plain = traceRequestFromJson(oneSpanRequest({}));
    const noisy = traceRequestFromJson({
      futureField: { anything: [1, 2] },
      resourceSpans: [
        {
          resource: null,
          schemaUrl: null,
          scopeSpans: [
            {
              mystery: true,
              spans: [
                {
                  traceId: '5b8efff798038103d269b633813fc60c',
                  spanId: 'a000000000000001',
                  parentSpanId: null,
                  name: 'one',
                  attributes: [],
                  status: null,
                  somethingNew: 'x',
                },
              ],
            },
          ],
        },
      ],
    });
    expect(noisy).toEqual(plain);
  });

  it('encodes an id that is not hex so that the scanner rejects that span alone', () => {
    const request = JSON.parse(fixtureText()) as {
      resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Json> }> }>;
    };
    const spans = request.resourceSpans[0]!.scopeSpans[0]!.spans;
    spans[1]!.traceId = 'not-hex-not-hex-not-hex-not-hex!';
    spans[2]!.spanId = 'a00000000000001';
    spans[3]!.parentSpanId = 'zz00000000000003';
    const scan = scanTraceRequest(traceRequestFromJson(request));
    expect(scan.ok).toBe(true);
    if (!scan.ok) return;
    expect(scan.spans).toBe(6);
    expect(scan.rejectedSpans).toBe(3);
    expect(scan.errorMessage).toBe(
      "3 spans rejected: invalid trace_id length 0 (span 'FetchDocsNode'), invalid span_id length 0 " +
        "(span 'RunConcurrent'), invalid parent_span_id length 1 (span 'ClassifyNode')",
    );
  });

  it('throws OtlpJsonError (kind invalid) naming the path for structurally wrong input', () => {
    const cases: Array<[unknown, string]> = [
      ['{"resourceSpans": [', 'request body is not JSON'],
      [Uint8Array.from([0x7b, 0xff, 0x7d]), 'request body is not valid UTF-8'],
      ['[]', 'request: expected a JSON object'],
      ['"text"', 'request: expected a JSON object'],
      [null, 'request: expected a JSON object'],
      [{ resourceSpans: {} }, 'request.resourceSpans: expected an array'],
      [{ resourceSpans: [7] }, 'request.resourceSpans[0]: expected an object'],
      [
        { resourceSpans: [{ scopeSpans: [{ spans: {} }] }] },
        'request.resourceSpans[0].scopeSpans[0].spans: expected an array',
      ],
      [
        oneSpanRequest({ name: 5 }),
        'request.resourceSpans[0].scopeSpans[0].spans[0].name: expected a string',
      ],
      [oneSpanRequest({ traceId: 12 }), 'spans[0].traceId: expected a string'],
      [oneSpanRequest({ startTimeUnixNano: '12abc' }), 'spans[0].startTimeUnixNano: expected an integer'],
      [oneSpanRequest({ startTimeUnixNano: 1.5 }), 'spans[0].startTimeUnixNano: expected an integer'],
      [oneSpanRequest({ startTimeUnixNano: '-1' }), 'spans[0].startTimeUnixNano: integer out of range'],
      [
        oneSpanRequest({ endTimeUnixNano: '18446744073709551616' }),
        'spans[0].endTimeUnixNano: integer out of range',
      ],
      [
        oneSpanRequest({ droppedEventsCount: 4294967296 }),
        'spans[0].droppedEventsCount: integer out of range',
      ],
      [oneSpanRequest({ kind: 'SPAN_KIND_BOGUS' }), "spans[0].kind: unknown enum value 'SPAN_KIND_BOGUS'"],
      [oneSpanRequest({ status: 'error' }), 'spans[0].status: expected an object'],
      [oneSpanRequest({ events: [{ name: ['x'] }] }), 'spans[0].events[0].name: expected a string'],
      [
        oneSpanRequest({}, [{ key: 'b', value: { boolValue: 'true' } }]),
        'attributes[0].value.boolValue: expected a boolean',
      ],
      [
        oneSpanRequest({}, [{ key: 'i', value: { intValue: '9223372036854775808' } }]),
        'intValue: integer out of range',
      ],
      [oneSpanRequest({}, [{ key: 'd', value: { doubleValue: 'fast' } }]), 'doubleValue: expected a number'],
      [oneSpanRequest({}, [{ key: 'x', value: { bytesValue: '@@@' } }]), 'bytesValue: expected base64'],
      [
        oneSpanRequest({}, [{ key: 'x', value: { arrayValue: { values: 'no' } } }]),
        'arrayValue.values: expected an array',
      ],
    ];
    for (const [input, message] of cases) {
      const error = thrown(() => traceRequestFromJson(input));
      expect(error.message, JSON.stringify(input)?.slice(0, 120)).toContain(message);
      expect(isAppError(error)).toBe(true);
      expect(error.kind).toBe('invalid');
      expect(error.code).toBe('otlp_json_invalid');
    }
  });

  it('bounds AnyValue nesting: deep but sane JSON encodes (and the scanner refuses it), absurd depth throws', () => {
    // Built as text: JSON.stringify itself recurses too deep for the absurd case.
    const nest = (depth: number): string => {
      let value = '{"stringValue":"bottom"}';
      for (let i = 1; i < depth; i++) value = `{"arrayValue":{"values":[${value}]}}`;
      return value;
    };
    const request = (depth: number) =>
      `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",` +
      `"spanId":"a000000000000001","attributes":[{"key":"deep","value":${nest(depth)}}]}]}]}]}`;
    expect(scanTraceRequest(traceRequestFromJson(request(32))).ok).toBe(true);
    expect(scanTraceRequest(traceRequestFromJson(request(33)))).toMatchObject({
      ok: false,
      error: expect.stringContaining('nested deeper than 32'),
    });
    expect(thrown(() => traceRequestFromJson(request(100_000))).message).toContain('nested deeper than 256');
  });
});
