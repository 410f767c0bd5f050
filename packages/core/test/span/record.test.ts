import { describe, expect, it } from 'vitest';
import { type Span, type SpanRecord, type TraceRequest, toSpanRecords } from '../../src/span/index.ts';
import {
  arr,
  bool,
  bytes,
  dbl,
  empty,
  int,
  kv,
  kvlist,
  raw,
  request,
  resourceSpans,
  span,
  str,
  TRACE_ID,
} from './build.ts';

const CONTRACT_KEYS = [
  'trace_id',
  'span_id',
  'parent_span_id',
  'service_name',
  'name',
  'kind',
  'start_time',
  'end_time',
  'status_code',
  'status_message',
  'attributes_json',
  'events_json',
  'links_json',
  'trace_flags',
  'trace_state',
  'junjo_id',
  'junjo_parent_id',
  'junjo_span_type',
  'junjo_wf_state_start',
  'junjo_wf_state_end',
  'junjo_wf_graph_structure',
  'junjo_wf_store_id',
];

function convertOne(s: Span): SpanRecord {
  const records = toSpanRecords(request([s]));
  expect(records).toHaveLength(1);
  return records[0]!;
}

function parsed(record: SpanRecord): Record<string, unknown> {
  return JSON.parse(record.json) as Record<string, unknown>;
}

function attributesOf(s: Span): Record<string, unknown> {
  return parsed(convertOne(s)).attributes_json as Record<string, unknown>;
}

describe('toSpanRecords: the Span object', () => {
  it('writes every contract key, in contract order, for a minimal span', () => {
    const record = convertOne(span());
    expect(Object.keys(parsed(record))).toEqual(CONTRACT_KEYS);
    expect(parsed(record)).toEqual({
      trace_id: TRACE_ID,
      span_id: 'a000000000000001',
      parent_span_id: null,
      service_name: 'svc',
      name: 'span',
      kind: 'INTERNAL',
      start_time: '2025-11-28T12:00:00.000000+00:00',
      end_time: '2025-11-28T12:00:00.500000+00:00',
      status_code: '0',
      status_message: '',
      attributes_json: {},
      events_json: [],
      links_json: [],
      trace_flags: 0,
      trace_state: null,
      junjo_id: '',
      junjo_parent_id: '',
      junjo_span_type: '',
      junjo_wf_state_start: {},
      junjo_wf_state_end: {},
      junjo_wf_graph_structure: {},
      junjo_wf_store_id: '',
    });
  });

  it('keeps the key order for a fully populated workflow span too', () => {
    const record = convertOne(
      span({
        parentSpanId: bytes('00000000000000ff'),
        traceState: 'vendor=x',
        attributes: [
          kv('junjo.span_type', str('workflow')),
          kv('junjo.workflow.state.start', str('{"a":1}')),
          kv('junjo.workflow.store.id', str('s')),
        ],
        events: [{ name: 'e', timeUnixNano: 1n, attributes: [kv('k', str('v'))], droppedAttributesCount: 0 }],
        links: [
          {
            traceId: bytes(TRACE_ID),
            spanId: bytes('0000000000000001'),
            traceState: '',
            attributes: [],
            droppedAttributesCount: 0,
            flags: 0,
          },
        ],
        status: { code: 2, message: 'boom' },
      }),
    );
    expect(Object.keys(parsed(record))).toEqual(CONTRACT_KEYS);
    expect(record.json.startsWith(`{"trace_id":"${TRACE_ID}","span_id":"a000000000000001",`)).toBe(true);
  });

  it('writes ids as lowercase hex, null parent for roots and the parent id for children', () => {
    const [root, child] = toSpanRecords(
      request([
        span({ traceId: bytes('ABCDEF0123456789ABCDEF0123456789'), spanId: bytes('FEDCBA9876543210') }),
        span({
          traceId: bytes('ABCDEF0123456789ABCDEF0123456789'),
          spanId: bytes('0011223344556677'),
          parentSpanId: bytes('FEDCBA9876543210'),
        }),
      ]),
    );
    expect(root).toMatchObject({
      traceId: 'abcdef0123456789abcdef0123456789',
      spanId: 'fedcba9876543210',
      parentSpanId: null,
    });
    expect(parsed(root!).parent_span_id).toBeNull();
    expect(child).toMatchObject({ spanId: '0011223344556677', parentSpanId: 'fedcba9876543210' });
    expect(parsed(child!)).toMatchObject({
      trace_id: 'abcdef0123456789abcdef0123456789',
      span_id: '0011223344556677',
      parent_span_id: 'fedcba9876543210',
    });
  });

  it('gives each span the service of its own resource, and NO_SERVICE_NAME without one', () => {
    const req: TraceRequest = {
      resourceSpans: [
        resourceSpans([kv('service.name', str('alpha')), kv('host.name', str('h1'))], [span({ name: 'a1' })]),
        resourceSpans([], [span({ name: 'none' })]),
        resourceSpans([kv('service.name', str('beta'))], [span({ name: 'b1' }), span({ name: 'b2' })]),
        resourceSpans([kv('service.name', int(7n))], [span({ name: 'int' })]),
        resourceSpans([kv('service.name', str(''))], [span({ name: 'blank' })]),
      ],
    };
    const records = toSpanRecords(req);
    expect(records.map((r) => [r.name, r.serviceName])).toEqual([
      ['a1', 'alpha'],
      ['none', 'NO_SERVICE_NAME'],
      ['b1', 'beta'],
      ['b2', 'beta'],
      ['int', 'NO_SERVICE_NAME'],
      ['blank', 'NO_SERVICE_NAME'],
    ]);
    expect(records.map((r) => parsed(r).service_name)).toEqual(records.map((r) => r.serviceName));
  });

  it('spreads one resource over several scopes and spans, in request order', () => {
    const req: TraceRequest = { resourceSpans: [resourceSpans([kv('service.name', str('svc'))], [])] };
    const scope = { name: 's', version: '', attributes: [], droppedAttributesCount: 0 };
    req.resourceSpans[0]!.scopeSpans = [
      { scope, spans: [span({ name: 'x1' }), span({ name: 'x2' })], schemaUrl: '' },
      { scope, spans: [], schemaUrl: '' },
      { scope, spans: [span({ name: 'y1' })], schemaUrl: '' },
    ];
    expect(toSpanRecords(req).map((r) => r.name)).toEqual(['x1', 'x2', 'y1']);
    expect(toSpanRecords({ resourceSpans: [] })).toEqual([]);
  });

  it('writes times as microsecond ISO-8601 with +00:00, truncating nanoseconds', () => {
    const record = convertOne(
      span({ startTimeUnixNano: 1_764_331_200_123_456_789n, endTimeUnixNano: 1_764_331_261_000_000_999n }),
    );
    expect(parsed(record)).toMatchObject({
      start_time: '2025-11-28T12:00:00.123456+00:00',
      end_time: '2025-11-28T12:01:01.000000+00:00',
    });
    expect(record.startNs).toBe(1_764_331_200_123_456_789n);
    expect(record.endNs).toBe(1_764_331_261_000_000_999n);
  });

  it('writes zero and the largest fixed64 time without throwing', () => {
    const record = convertOne(span({ startTimeUnixNano: 0n, endTimeUnixNano: 2n ** 64n - 1n }));
    expect(parsed(record)).toMatchObject({
      start_time: '1970-01-01T00:00:00.000000+00:00',
      end_time: '2554-07-21T23:34:33.709551+00:00',
    });
  });

  it('names the OTLP span kinds and maps unknown numbers to UNSPECIFIED', () => {
    const kinds = [0, 1, 2, 3, 4, 5, 6, -1, 99];
    const records = toSpanRecords(request(kinds.map((kind) => span({ kind }))));
    const names = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
    const expected = [...names, 'UNSPECIFIED', 'UNSPECIFIED', 'UNSPECIFIED'];
    expect(records.map((r) => r.kind)).toEqual(expected);
    expect(records.map((r) => parsed(r).kind)).toEqual(expected);
  });

  it('writes status codes as "0"/"1"/"2" with the message, unknown codes as "0"', () => {
    const codes = [0, 1, 2, 3, -1];
    const records = toSpanRecords(
      request(codes.map((code) => span({ status: { code, message: `m${code}` } }))),
    );
    expect(records.map((r) => r.statusCode)).toEqual(['0', '1', '2', '0', '0']);
    expect(records.map((r) => parsed(r).status_code)).toEqual(['0', '1', '2', '0', '0']);
    expect(records.map((r) => parsed(r).status_message)).toEqual(['m0', 'm1', 'm2', 'm3', 'm-1']);
  });

  it('keeps the W3C trace flags byte only, and trace_state as a string or null', () => {
    expect(parsed(convertOne(span({ flags: 0x301 }))).trace_flags).toBe(1);
    expect(parsed(convertOne(span({ flags: 0x100 }))).trace_flags).toBe(0);
    expect(parsed(convertOne(span({ flags: 0xff }))).trace_flags).toBe(255);
    expect(parsed(convertOne(span({ traceState: 'rojo=00f067aa0ba902b7' }))).trace_state).toBe(
      'rojo=00f067aa0ba902b7',
    );
    expect(parsed(convertOne(span({ traceState: '' }))).trace_state).toBeNull();
  });

  it('escapes strings that need it and keeps every other character as is', () => {
    const name = 'quote " backslash \\ newline \n tab \t nul \u0000 é 漢字 😀 \u2028';
    const record = convertOne(
      span({ name, attributes: [kv('k"ey\\', str(name))], status: { code: 2, message: name } }),
    );
    const obj = parsed(record);
    expect(obj.name).toBe(name);
    expect(obj.status_message).toBe(name);
    expect(obj.attributes_json).toEqual({ 'k"ey\\': name });
    expect(record.name).toBe(name);
  });

  it('escapes a lone surrogate so the text stays well-formed', () => {
    const record = convertOne(span({ name: 'a\ud800b' }));
    expect(record.json).toContain('"name":"a\\ud800b"');
    expect(parsed(record).name).toBe('a\ud800b');
  });
});

describe('toSpanRecords: attributes_json', () => {
  it('keeps every attribute, junjo.* included', () => {
    const attrs = attributesOf(
      span({
        attributes: [
          kv('junjo.span_type', str('node')),
          kv('junjo.id', str('n1')),
          kv('junjo.parent_id', str('wf')),
          kv('http.method', str('GET')),
        ],
      }),
    );
    expect(attrs).toEqual({
      'junjo.span_type': 'node',
      'junjo.id': 'n1',
      'junjo.parent_id': 'wf',
      'http.method': 'GET',
    });
  });

  it('writes ints as numbers within ±(2^53-1) and as decimal strings beyond', () => {
    const record = convertOne(
      span({
        attributes: [
          kv('zero', int(0n)),
          kv('neg', int(-42n)),
          kv('max_safe', int(2n ** 53n - 1n)),
          kv('min_safe', int(-(2n ** 53n - 1n))),
          kv('over', int(2n ** 53n)),
          kv('under', int(-(2n ** 53n))),
          kv('max_i64', int(2n ** 63n - 1n)),
          kv('min_i64', int(-(2n ** 63n))),
        ],
      }),
    );
    expect(record.json).toContain(
      '"attributes_json":{"zero":0,"neg":-42,"max_safe":9007199254740991,"min_safe":-9007199254740991,' +
        '"over":"9007199254740992","under":"-9007199254740992","max_i64":"9223372036854775807",' +
        '"min_i64":"-9223372036854775808"}',
    );
    expect(parsed(record).attributes_json).toEqual({
      zero: 0,
      neg: -42,
      max_safe: Number.MAX_SAFE_INTEGER,
      min_safe: Number.MIN_SAFE_INTEGER,
      over: '9007199254740992',
      under: '-9007199254740992',
      max_i64: '9223372036854775807',
      min_i64: '-9223372036854775808',
    });
  });

  it('writes doubles as numbers, and NaN and infinities as strings', () => {
    const record = convertOne(
      span({
        attributes: [
          kv('half', dbl(0.5)),
          kv('neg', dbl(-1.25e-7)),
          kv('big', dbl(1e21)),
          kv('whole', dbl(3)),
          kv('nan', dbl(Number.NaN)),
          kv('inf', dbl(Number.POSITIVE_INFINITY)),
          kv('ninf', dbl(Number.NEGATIVE_INFINITY)),
        ],
      }),
    );
    expect(record.json).toContain(
      '"attributes_json":{"half":0.5,"neg":-1.25e-7,"big":1e+21,"whole":3,"nan":"NaN","inf":"Infinity","ninf":"-Infinity"}',
    );
    expect(parsed(record).attributes_json).toEqual({
      half: 0.5,
      neg: -1.25e-7,
      big: 1e21,
      whole: 3,
      nan: 'NaN',
      inf: 'Infinity',
      ninf: '-Infinity',
    });
  });

  it('writes bools, bytes as lowercase hex, and an unset value as null', () => {
    expect(
      attributesOf(
        span({
          attributes: [
            kv('yes', bool(true)),
            kv('no', bool(false)),
            kv('blob', raw('00FF10Ab')),
            kv('nothing', raw('')),
            kv('unset', empty),
          ],
        }),
      ),
    ).toEqual({ yes: true, no: false, blob: '00ff10ab', nothing: '', unset: null });
  });

  it('converts nested arrays and key-value lists recursively', () => {
    const attrs = attributesOf(
      span({
        attributes: [
          kv('list', arr(str('a'), int(1n), dbl(1.5), bool(true), raw('beef'), empty, int(2n ** 60n))),
          kv('nested', arr(arr(int(1n), arr(str('deep'))), arr(), kvlist(kv('k', arr(bool(false)))))),
          kv(
            'map',
            kvlist(
              kv('s', str('x')),
              kv('inner', kvlist(kv('n', dbl(Number.NaN)), kv('list', arr(kvlist())))),
              kv('dup', int(1n)),
              kv('dup', int(2n)),
            ),
          ),
          kv('emptyMap', kvlist()),
          kv('emptyList', arr()),
        ],
      }),
    );
    expect(attrs).toEqual({
      list: ['a', 1, 1.5, true, 'beef', null, '1152921504606846976'],
      nested: [[1, ['deep']], [], { k: [false] }],
      map: { s: 'x', inner: { n: 'NaN', list: [{}] }, dup: 2 },
      emptyMap: {},
      emptyList: [],
    });
  });

  it('lets the last of repeated keys win, at the position of the first', () => {
    const record = convertOne(
      span({ attributes: [kv('a', int(1n)), kv('b', str('x')), kv('a', int(3n)), kv('c', bool(true))] }),
    );
    expect(record.json).toContain('"attributes_json":{"a":3,"b":"x","c":true}');
  });

  it('handles repeated keys in long lists (the Set path) the same way', () => {
    const attributes = Array.from({ length: 30 }, (_, i) => kv(`k${i % 20}`, int(BigInt(i))));
    const attrs = attributesOf(span({ attributes }));
    expect(Object.keys(attrs)).toEqual(Array.from({ length: 20 }, (_, i) => `k${i}`));
    expect(attrs.k0).toBe(20);
    expect(attrs.k9).toBe(29);
    expect(attrs.k10).toBe(10);
    const distinct = Array.from({ length: 30 }, (_, i) => kv(`d${i}`, int(BigInt(i))));
    expect(Object.keys(attributesOf(span({ attributes: distinct })))).toHaveLength(30);
  });
});

describe('toSpanRecords: events and links', () => {
  it('writes event timeUnixNano as a number literal with the exact digits', () => {
    const record = convertOne(
      span({
        events: [
          {
            name: 'set_state',
            timeUnixNano: 1_732_800_000_123_456_789n,
            attributes: [kv('k', str('v'))],
            droppedAttributesCount: 0,
          },
          { name: 'zero', timeUnixNano: 0n, attributes: [], droppedAttributesCount: 3 },
          { name: 'max', timeUnixNano: 2n ** 64n - 1n, attributes: [], droppedAttributesCount: 0 },
        ],
      }),
    );
    // The text is checked with a regex because JSON.parse would round the digits to a double.
    expect(record.json).toMatch(
      /"events_json":\[\{"name":"set_state","timeUnixNano":1732800000123456789,"attributes":\{"k":"v"\}\},/,
    );
    expect(record.json).toContain('{"name":"zero","timeUnixNano":0,"attributes":{}}');
    expect(record.json).toContain('{"name":"max","timeUnixNano":18446744073709551615,"attributes":{}}');
    const events = parsed(record).events_json as Array<Record<string, unknown>>;
    expect(events.map((e) => Object.keys(e))).toEqual([
      ['name', 'timeUnixNano', 'attributes'],
      ['name', 'timeUnixNano', 'attributes'],
      ['name', 'timeUnixNano', 'attributes'],
    ]);
    expect(typeof events[0]!.timeUnixNano).toBe('number');
    expect(events[0]!.timeUnixNano).toBe(Number(1_732_800_000_123_456_789n));
    expect(events[0]!.attributes).toEqual({ k: 'v' });
  });

  it('converts event attributes with the same value rules', () => {
    const record = convertOne(
      span({
        events: [
          {
            name: 'exception',
            timeUnixNano: 5n,
            attributes: [kv('big', int(2n ** 62n)), kv('raw', raw('0a')), kv('n', dbl(Number.NaN))],
            droppedAttributesCount: 0,
          },
        ],
      }),
    );
    expect(record.json).toContain('"attributes":{"big":"4611686018427387904","raw":"0a","n":"NaN"}');
  });

  it('writes links with hex ids and their attributes', () => {
    const record = convertOne(
      span({
        links: [
          {
            traceId: bytes('0102030405060708090A0B0C0D0E0F10'),
            spanId: bytes('A1A2A3A4A5A6A7A8'),
            traceState: 'x=y',
            attributes: [kv('link.kind', str('follows')), kv('n', int(1n))],
            droppedAttributesCount: 0,
            flags: 1,
          },
          {
            traceId: bytes(TRACE_ID),
            spanId: bytes('0000000000000002'),
            traceState: '',
            attributes: [],
            droppedAttributesCount: 0,
            flags: 0,
          },
        ],
      }),
    );
    expect(record.json).toContain(
      '"links_json":[{"trace_id":"0102030405060708090a0b0c0d0e0f10","span_id":"a1a2a3a4a5a6a7a8",' +
        `"attributes":{"link.kind":"follows","n":1}},{"trace_id":"${TRACE_ID}","span_id":"0000000000000002","attributes":{}}]`,
    );
  });
});

describe('toSpanRecords: junjo_* fields', () => {
  const WORKFLOW_ATTRIBUTES = [
    kv('junjo.id', str('wf_1')),
    kv('junjo.parent_id', str('')),
    kv('junjo.workflow.state.start', str('{"question": "q", "n": 12345678901234567890, "docs": []}')),
    kv('junjo.workflow.state.end', str('{"question":"q","done":true}')),
    kv('junjo.workflow.graph_structure', str('{\n  "v": 1,\n  "nodes": []\n}')),
    kv('junjo.workflow.store.id', str('store_1')),
  ];

  it.each(['workflow', 'subflow'])('derives state, graph and store id for %s spans', (type) => {
    const record = convertOne(
      span({ attributes: [kv('junjo.span_type', str(type)), ...WORKFLOW_ATTRIBUTES] }),
    );
    expect(record).toMatchObject({
      junjoSpanType: type,
      junjoId: 'wf_1',
      junjoParentId: '',
      junjoWfStoreId: 'store_1',
    });
    expect(parsed(record)).toMatchObject({
      junjo_id: 'wf_1',
      junjo_parent_id: '',
      junjo_span_type: type,
      junjo_wf_state_start: { question: 'q', docs: [] },
      junjo_wf_state_end: { question: 'q', done: true },
      junjo_wf_graph_structure: { v: 1, nodes: [] },
      junjo_wf_store_id: 'store_1',
    });
    // The state text is embedded as sent, so an integer beyond 2^53 keeps its digits.
    expect(record.json).toContain(
      '"junjo_wf_state_start":{"question": "q", "n": 12345678901234567890, "docs": []}',
    );
    expect((parsed(record).attributes_json as Record<string, unknown>)['junjo.workflow.store.id']).toBe(
      'store_1',
    );
  });

  it('uses {} for workflow state that is malformed, not an object, or missing', () => {
    const record = convertOne(
      span({
        attributes: [
          kv('junjo.span_type', str('workflow')),
          kv('junjo.workflow.state.start', str('{"unterminated": ')),
          kv('junjo.workflow.state.end', str('[1, 2, 3]')),
        ],
      }),
    );
    expect(parsed(record)).toMatchObject({
      junjo_wf_state_start: {},
      junjo_wf_state_end: {},
      junjo_wf_graph_structure: {},
      junjo_wf_store_id: '',
    });
    for (const text of ['null', '"a string"', '42', 'true', 'NaN', '{"a":1} trailing', '']) {
      const r = convertOne(
        span({
          attributes: [kv('junjo.span_type', str('subflow')), kv('junjo.workflow.state.start', str(text))],
        }),
      );
      expect(parsed(r).junjo_wf_state_start, text).toEqual({});
    }
    const notString = convertOne(
      span({
        attributes: [
          kv('junjo.span_type', str('workflow')),
          kv('junjo.workflow.state.start', kvlist(kv('a', int(1n)))),
          kv('junjo.workflow.store.id', int(5n)),
        ],
      }),
    );
    expect(parsed(notString)).toMatchObject({ junjo_wf_state_start: {}, junjo_wf_store_id: '' });
  });

  it('ignores state attributes on spans that are not workflows or subflows', () => {
    for (const type of ['node', 'run_concurrent', '', 'something_else']) {
      const attributes =
        type === '' ? WORKFLOW_ATTRIBUTES : [kv('junjo.span_type', str(type)), ...WORKFLOW_ATTRIBUTES];
      const record = convertOne(span({ attributes }));
      expect(record.junjoSpanType).toBe(type);
      expect(record.junjoWfStoreId).toBe('');
      expect(parsed(record)).toMatchObject({
        junjo_id: 'wf_1',
        junjo_span_type: type,
        junjo_wf_state_start: {},
        junjo_wf_state_end: {},
        junjo_wf_graph_structure: {},
        junjo_wf_store_id: '',
      });
      // They stay in attributes_json all the same.
      expect(parsed(record).attributes_json).toMatchObject({ 'junjo.workflow.store.id': 'store_1' });
    }
  });

  it('reads only string values, the last of repeated keys winning', () => {
    const record = convertOne(
      span({
        attributes: [
          kv('junjo.id', int(12n)),
          kv('junjo.parent_id', str('first')),
          kv('junjo.parent_id', str('second')),
          kv('junjo.span_type', str('node')),
          kv('junjo.span_type', bool(true)),
        ],
      }),
    );
    expect(record).toMatchObject({ junjoId: '', junjoParentId: 'second', junjoSpanType: '' });
    expect(parsed(record)).toMatchObject({ junjo_id: '', junjo_parent_id: 'second', junjo_span_type: '' });
  });
});

describe('toSpanRecords: LLM spans (CONTRACT §6.5)', () => {
  const isLlm = (...attributes: ReturnType<typeof kv>[]) => convertOne(span({ attributes })).isLlm;

  it('detects each of the four attribute rules', () => {
    expect(isLlm(kv('openinference.span.kind', str('LLM')))).toBe(true);
    expect(isLlm(kv('gen_ai.operation.name', str('chat')))).toBe(true);
    expect(isLlm(kv('gen_ai.provider.name', str('openai')))).toBe(true);
    expect(isLlm(kv('gen_ai.system', str('anthropic')))).toBe(true);
  });

  it('rejects other OpenInference kinds, empty strings, non-strings and unrelated spans', () => {
    expect(isLlm()).toBe(false);
    expect(isLlm(kv('openinference.span.kind', str('CHAIN')))).toBe(false);
    expect(isLlm(kv('openinference.span.kind', str('llm')))).toBe(false);
    expect(isLlm(kv('openinference.span.kind', str('')))).toBe(false);
    expect(isLlm(kv('gen_ai.operation.name', str('')))).toBe(false);
    expect(isLlm(kv('gen_ai.provider.name', str('')))).toBe(false);
    expect(isLlm(kv('gen_ai.system', str('')))).toBe(false);
    expect(isLlm(kv('gen_ai.system', int(1n)))).toBe(false);
    expect(isLlm(kv('gen_ai.request.model', str('gpt-4o')), kv('llm.provider', str('openai')))).toBe(false);
    expect(isLlm(kv('openinference.span.kind', str('LLM')), kv('openinference.span.kind', str('TOOL')))).toBe(
      false,
    );
  });
});

describe('toSpanRecords: set_state patches (CONTRACT §6.6)', () => {
  it('extracts every set_state event with its attributes and event index', () => {
    const record = convertOne(
      span({
        events: [
          {
            name: 'set_state',
            timeUnixNano: 1_764_331_200_100_000_001n,
            attributes: [
              kv('id', str('ev1')),
              kv('junjo.store.name', str('DocStore')),
              kv('junjo.store.id', str('store_main')),
              kv('junjo.store.action', str('set_docs')),
              kv('junjo.state_json_patch', str('[{"op": "replace", "path": "/docs", "value": []}]')),
            ],
            droppedAttributesCount: 0,
          },
          {
            name: 'exception',
            timeUnixNano: 2n,
            attributes: [kv('junjo.store.id', str('not a patch'))],
            droppedAttributesCount: 0,
          },
          {
            name: 'set_state',
            timeUnixNano: 3n,
            attributes: [kv('junjo.state_json_patch', str('[]')), kv('id', int(9n))],
            droppedAttributesCount: 0,
          },
          { name: 'SET_STATE', timeUnixNano: 4n, attributes: [], droppedAttributesCount: 0 },
        ],
      }),
    );
    expect(record.statePatches).toEqual([
      {
        eventIndex: 0,
        timeNs: 1_764_331_200_100_000_001n,
        patch: '[{"op": "replace", "path": "/docs", "value": []}]',
        storeId: 'store_main',
        storeName: 'DocStore',
        action: 'set_docs',
        id: 'ev1',
      },
      { eventIndex: 2, timeNs: 3n, patch: '[]', storeId: '', storeName: '', action: '', id: '' },
    ]);
    // The patches are events_json entries as well.
    expect((parsed(record).events_json as unknown[]).length).toBe(4);
  });

  it('has no patches for a span without set_state events', () => {
    expect(convertOne(span()).statePatches).toEqual([]);
  });
});
