import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { describe, expect, it } from 'vitest';
import {
  decodeTraceRequest,
  encodeLogsResponse,
  encodeMetricsResponse,
  encodeRetryInfoStatusDetails,
  encodeTraceRequest,
  encodeTraceResponse,
  protoRoot,
  type Span,
  type TraceRequest,
  traceResponseJson,
} from '../../src/otlp/messages.ts';
import { scanTraceRequest } from '../../src/otlp/scan.ts';
import { id } from './wire-builder.ts';

function span(seed: number, overrides: Partial<Span> = {}): Span {
  return {
    traceId: id(16, seed),
    spanId: id(8, seed),
    traceState: '',
    parentSpanId: new Uint8Array(0),
    flags: 0,
    name: `span-${seed}`,
    kind: 0,
    startTimeUnixNano: 0n,
    endTimeUnixNano: 0n,
    attributes: [],
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { code: 0, message: '' },
    ...overrides,
  };
}

/** A complete request in which every field holds a non-default value somewhere. */
const everything: TraceRequest = {
  resourceSpans: [
    {
      resource: {
        attributes: [
          { key: 'service.name', value: { type: 'string', value: 'svc' } },
          { key: 'host.cores', value: { type: 'int', value: 8n } },
        ],
        droppedAttributesCount: 2,
      },
      scopeSpans: [
        {
          scope: {
            name: 'junjo',
            version: '0.60.0',
            attributes: [{ key: 'scope.attr', value: { type: 'bool', value: true } }],
            droppedAttributesCount: 1,
          },
          spans: [
            span(1, {
              traceState: 'vendor=abc',
              parentSpanId: id(8, 99),
              flags: 0x301,
              kind: 5,
              startTimeUnixNano: 1_764_331_200_123_456_789n,
              endTimeUnixNano: (1n << 64n) - 1n,
              attributes: [
                { key: 'str', value: { type: 'string', value: 'value ✓ 𝄞' } },
                { key: 'long', value: { type: 'string', value: 'x'.repeat(70_000) } },
                { key: 'empty', value: { type: 'string', value: '' } },
                { key: 'true', value: { type: 'bool', value: true } },
                { key: 'false', value: { type: 'bool', value: false } },
                { key: 'zero', value: { type: 'int', value: 0n } },
                { key: 'min', value: { type: 'int', value: -(1n << 63n) } },
                { key: 'max', value: { type: 'int', value: (1n << 63n) - 1n } },
                { key: 'double', value: { type: 'double', value: -1.25e-300 } },
                { key: 'nan', value: { type: 'double', value: Number.NaN } },
                { key: 'bytes', value: { type: 'bytes', value: Uint8Array.from([0, 255, 128]) } },
                { key: 'no bytes', value: { type: 'bytes', value: new Uint8Array(0) } },
                {
                  key: 'array',
                  value: {
                    type: 'array',
                    value: [
                      { type: 'string', value: 'a' },
                      { type: 'array', value: [] },
                      { type: 'kvlist', value: [{ key: 'deep', value: { type: 'double', value: 2 } }] },
                      { type: 'empty' },
                    ],
                  },
                },
                { key: 'kvlist', value: { type: 'kvlist', value: [] } },
                { key: 'unset', value: { type: 'empty' } },
              ],
              droppedAttributesCount: 3,
              events: [
                {
                  timeUnixNano: 1_764_331_200_200_000_000n,
                  name: 'set_state',
                  attributes: [{ key: 'junjo.state_json_patch', value: { type: 'string', value: '[]' } }],
                  droppedAttributesCount: 4,
                },
                { timeUnixNano: 0n, name: '', attributes: [], droppedAttributesCount: 0 },
              ],
              droppedEventsCount: 5,
              links: [
                {
                  traceId: id(16, 7),
                  spanId: id(8, 7),
                  traceState: 'k=v',
                  attributes: [{ key: 'why', value: { type: 'string', value: 'retry' } }],
                  droppedAttributesCount: 6,
                  flags: 0xffffffff,
                },
              ],
              droppedLinksCount: 7,
              status: { code: 2, message: 'failed' },
            }),
            span(2, { kind: -1, status: { code: 1, message: '' } }),
          ],
          schemaUrl: 'https://opentelemetry.io/schemas/1.30.0',
        },
        {
          scope: { name: '', version: '', attributes: [], droppedAttributesCount: 0 },
          spans: [],
          schemaUrl: '',
        },
      ],
      schemaUrl: 'https://resource',
    },
    {
      resource: { attributes: [], droppedAttributesCount: 0 },
      scopeSpans: [],
      schemaUrl: '',
    },
  ],
};

describe('trace requests', () => {
  it('encodes every field so that protobufjs decodes it back identically', () => {
    const bytes = encodeTraceRequest(everything);
    expect(scanTraceRequest(bytes)).toMatchObject({ ok: true, spans: 2, rejectedSpans: 0, resourceSpans: 2 });
    expect(decodeTraceRequest(bytes)).toEqual(everything);
  });

  it('writes the same bytes as the protobufjs reflection encoder for a plain request', () => {
    const request = {
      resourceSpans: [
        {
          resource: {
            attributes: [{ key: 'service.name', value: { type: 'string' as const, value: 'svc' } }],
          },
          scopeSpans: [
            {
              scope: { name: 'scope' },
              spans: [
                {
                  traceId: id(16, 1),
                  spanId: id(8, 1),
                  name: 'n'.repeat(300),
                  kind: 2,
                  startTimeUnixNano: 1n,
                  events: [{ timeUnixNano: 2n, name: 'e' }],
                  status: { code: 2, message: 'm' },
                  flags: 1,
                },
              ],
            },
          ],
        },
      ],
    };
    const type = protoRoot().lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
    const reference = type
      .encode(
        type.fromObject({
          resourceSpans: [
            {
              resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
              scopeSpans: [
                {
                  scope: { name: 'scope' },
                  spans: [
                    {
                      traceId: id(16, 1),
                      spanId: id(8, 1),
                      name: 'n'.repeat(300),
                      kind: 2,
                      startTimeUnixNano: 1,
                      events: [{ timeUnixNano: 2, name: 'e' }],
                      status: { code: 2, message: 'm' },
                      flags: 1,
                    },
                  ],
                },
              ],
            },
          ],
        }),
      )
      .finish();
    expect(encodeTraceRequest(request)).toEqual(new Uint8Array(reference));
  });

  it('returns ids and bytes that do not alias the input buffer', () => {
    const bytes = encodeTraceRequest(everything);
    const decoded = decodeTraceRequest(bytes);
    bytes.fill(0);
    expect(decoded.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.traceId).toEqual(id(16, 1));
  });

  it('throws on undecodable bytes', () => {
    expect(() => decodeTraceRequest(Uint8Array.from([0x0a, 0x05, 0x01]))).toThrow();
  });
});

describe('export responses', () => {
  it('encodes full success as an empty message and partial success as the SDK reads it', () => {
    expect(encodeTraceResponse({ rejectedSpans: 0 })).toEqual(new Uint8Array(0));
    expect(ProtobufTraceSerializer.deserializeResponse(encodeTraceResponse({ rejectedSpans: 0 }))).toEqual(
      {},
    );
    const partial = encodeTraceResponse({ rejectedSpans: 3, errorMessage: '3 spans rejected: …' });
    expect(ProtobufTraceSerializer.deserializeResponse(partial)).toEqual({
      partialSuccess: { rejectedSpans: 3, errorMessage: '3 spans rejected: …' },
    });
    const warning = encodeTraceResponse({ rejectedSpans: 0, errorMessage: 'heads up' });
    expect(ProtobufTraceSerializer.deserializeResponse(warning)).toEqual({
      partialSuccess: { errorMessage: 'heads up' },
    });
    const type = protoRoot().lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse');
    expect(type.toObject(type.decode(partial), { longs: Number })).toEqual({
      partialSuccess: { rejectedSpans: 3, errorMessage: '3 spans rejected: …' },
    });
  });

  it('renders the OTLP/JSON response with int64 as a string and defaults left out', () => {
    expect(traceResponseJson({ rejectedSpans: 0 })).toBe('{}');
    expect(traceResponseJson({ rejectedSpans: 0, errorMessage: '' })).toBe('{}');
    const json = traceResponseJson({ rejectedSpans: 2, errorMessage: 'bad ids' });
    expect(json).toBe('{"partialSuccess":{"rejectedSpans":"2","errorMessage":"bad ids"}}');
    expect(JsonTraceSerializer.deserializeResponse(new TextEncoder().encode(json))).toEqual({
      partialSuccess: { rejectedSpans: '2', errorMessage: 'bad ids' },
    });
    expect(traceResponseJson({ rejectedSpans: 0, errorMessage: 'note' })).toBe(
      '{"partialSuccess":{"errorMessage":"note"}}',
    );
  });

  it('encodes empty logs and metrics responses', () => {
    for (const [bytes, name] of [
      [encodeLogsResponse(), 'opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse'],
      [encodeMetricsResponse(), 'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse'],
    ] as const) {
      expect(bytes).toHaveLength(0);
      const type = protoRoot().lookupType(name);
      expect(type.toObject(type.decode(bytes))).toEqual({});
    }
  });

  it('encodes google.rpc.Status UNAVAILABLE with a RetryInfo detail for grpc-status-details-bin', () => {
    const root = protoRoot();
    const status = root.lookupType('google.rpc.Status');
    const retryInfo = root.lookupType('google.rpc.RetryInfo');
    const decode = (bytes: Uint8Array) => {
      const s = status.toObject(status.decode(bytes), { longs: Number, defaults: true }) as {
        code: number;
        message: string;
        details: Array<{ type_url: string; value: Uint8Array }>;
      };
      expect(s.details).toHaveLength(1);
      const detail = s.details[0]!;
      return {
        code: s.code,
        message: s.message,
        typeUrl: detail.type_url,
        retry: retryInfo.toObject(retryInfo.decode(detail.value), { longs: Number, defaults: true }),
      };
    };
    expect(decode(encodeRetryInfoStatusDetails(1500, 'ingest backlog is full'))).toEqual({
      code: 14,
      message: 'ingest backlog is full',
      typeUrl: 'type.googleapis.com/google.rpc.RetryInfo',
      retry: { retryDelay: { seconds: 1, nanos: 500_000_000 } },
    });
    expect(decode(encodeRetryInfoStatusDetails(30_000)).retry).toEqual({
      retryDelay: { seconds: 30, nanos: 0 },
    });
    expect(decode(encodeRetryInfoStatusDetails(30_000)).message).toBe('server overloaded, retry later');
    for (const nonsense of [-5, Number.NaN, 0]) {
      expect(decode(encodeRetryInfoStatusDetails(nonsense)).retry).toEqual({
        retryDelay: { seconds: 0, nanos: 0 },
      });
    }
  });
});

describe('proto files', () => {
  it('carry the field numbers of the OTLP specification', () => {
    const root = protoRoot();
    const fields = (name: string) =>
      Object.fromEntries(
        Object.values(root.lookupType(name).fields).map((f) => [f.name, `${f.id}:${f.type}`]),
      );
    expect(fields('opentelemetry.proto.trace.v1.Span')).toEqual({
      traceId: '1:bytes',
      spanId: '2:bytes',
      traceState: '3:string',
      parentSpanId: '4:bytes',
      flags: '16:fixed32',
      name: '5:string',
      kind: '6:SpanKind',
      startTimeUnixNano: '7:fixed64',
      endTimeUnixNano: '8:fixed64',
      attributes: '9:opentelemetry.proto.common.v1.KeyValue',
      droppedAttributesCount: '10:uint32',
      events: '11:Event',
      droppedEventsCount: '12:uint32',
      links: '13:Link',
      droppedLinksCount: '14:uint32',
      status: '15:Status',
    });
    expect(fields('opentelemetry.proto.trace.v1.Span.Link')).toMatchObject({ flags: '6:fixed32' });
    expect(fields('opentelemetry.proto.collector.trace.v1.ExportTracePartialSuccess')).toEqual({
      rejectedSpans: '1:int64',
      errorMessage: '2:string',
    });
    expect(fields('opentelemetry.proto.collector.logs.v1.ExportLogsPartialSuccess')).toEqual({
      rejectedLogRecords: '1:int64',
      errorMessage: '2:string',
    });
    expect(fields('opentelemetry.proto.collector.metrics.v1.ExportMetricsPartialSuccess')).toEqual({
      rejectedDataPoints: '1:int64',
      errorMessage: '2:string',
    });
    expect(fields('opentelemetry.proto.common.v1.AnyValue')).toEqual({
      stringValue: '1:string',
      boolValue: '2:bool',
      intValue: '3:int64',
      doubleValue: '4:double',
      arrayValue: '5:ArrayValue',
      kvlistValue: '6:KeyValueList',
      bytesValue: '7:bytes',
      stringValueStrindex: '8:int32',
    });
    for (const service of [
      'opentelemetry.proto.collector.trace.v1.TraceService',
      'opentelemetry.proto.collector.logs.v1.LogsService',
      'opentelemetry.proto.collector.metrics.v1.MetricsService',
    ]) {
      expect(Object.keys(root.lookupService(service).methods)).toEqual(['Export']);
    }
    expect(Object.keys(root.lookupService('grpc.health.v1.Health').methods).sort()).toEqual([
      'Check',
      'List',
      'Watch',
    ]);
  });
});
