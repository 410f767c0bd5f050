import { context, type HrTime, SpanKind, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { traceRequestFromJson } from '../../src/otlp/json.ts';
import { type AnyValue, decodeTraceRequest, type KeyValue, type Span } from '../../src/otlp/messages.ts';
import { scanTraceRequest } from '../../src/otlp/scan.ts';
import { hex } from './wire-builder.ts';

/** Spans made by the real OpenTelemetry JS SDK: every attribute type, events, links, remote parent, error status. */
function sdkSpans(): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'sdk-service', 'deployment.environment': 'test' }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer('junjo', '0.60.0');
  const workflow = tracer.startSpan('DocQAWorkflow', {
    kind: SpanKind.SERVER,
    attributes: {
      'junjo.span_type': 'workflow',
      'junjo.workflow.state.start': JSON.stringify({ question: 'What is Junjo?' }),
      count: 42,
      big: 2 ** 40,
      ratio: 0.25,
      approved: true,
      tags: ['a', 'b'],
      scores: [1.5, 2.5],
      flags: [true, false],
      unicode: 'héllo ✓ 𝄞',
    },
  });
  workflow.addEvent('set_state', {
    'junjo.state_json_patch': '[{"op":"add","path":"/docs","value":[]}]',
    id: 'p1',
  });
  const inWorkflow = trace.setSpan(context.active(), workflow);
  const llm = tracer.startSpan(
    'ChatCompletion',
    {
      kind: SpanKind.CLIENT,
      attributes: { 'openinference.span.kind': 'LLM', 'llm.token_count.total': 49 },
      links: [{ context: workflow.spanContext(), attributes: { reason: 'follows' } }],
    },
    inWorkflow,
  );
  llm.recordException(new Error('rate limited'));
  llm.setStatus({ code: SpanStatusCode.ERROR, message: 'rate limited' });
  llm.end();
  const remoteParent = trace.setSpanContext(context.active(), {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  });
  const handler = tracer.startSpan('handler', { kind: SpanKind.CONSUMER }, remoteParent);
  handler.setStatus({ code: SpanStatusCode.OK });
  handler.end();
  workflow.end();
  return memory.getFinishedSpans();
}

function nanos(time: HrTime): bigint {
  return BigInt(time[0]) * 1_000_000_000n + BigInt(time[1]);
}

/** Decoded attributes as the SDK's plain attribute values. */
function plain(list: KeyValue[]): Record<string, unknown> {
  return Object.fromEntries(list.map((kv) => [kv.key, plainValue(kv.value)]));
}

function plainValue(v: AnyValue): unknown {
  switch (v.type) {
    case 'int':
      return Number(v.value);
    case 'array':
      return v.value.map(plainValue);
    case 'kvlist':
      return plain(v.value);
    case 'empty':
      return undefined;
    default:
      return v.value;
  }
}

function expectSameSpan(decoded: Span, sdk: ReadableSpan): void {
  const ctx = sdk.spanContext();
  expect(hex(decoded.traceId)).toBe(ctx.traceId);
  expect(hex(decoded.spanId)).toBe(ctx.spanId);
  expect(hex(decoded.parentSpanId)).toBe(sdk.parentSpanContext?.spanId ?? '');
  expect(decoded.name).toBe(sdk.name);
  // The API numbers kinds from INTERNAL = 0; OTLP reserves 0 for UNSPECIFIED.
  expect(decoded.kind).toBe(sdk.kind + 1);
  expect(decoded.startTimeUnixNano).toBe(nanos(sdk.startTime));
  expect(decoded.endTimeUnixNano).toBe(nanos(sdk.endTime));
  expect(plain(decoded.attributes)).toEqual(sdk.attributes);
  expect(
    decoded.events.map((e) => ({ name: e.name, time: e.timeUnixNano, attributes: plain(e.attributes) })),
  ).toEqual(sdk.events.map((e) => ({ name: e.name, time: nanos(e.time), attributes: e.attributes ?? {} })));
  expect(
    decoded.links.map((l) => ({
      traceId: hex(l.traceId),
      spanId: hex(l.spanId),
      attributes: plain(l.attributes),
    })),
  ).toEqual(
    sdk.links.map((l) => ({
      traceId: l.context.traceId,
      spanId: l.context.spanId,
      attributes: l.attributes ?? {},
    })),
  );
  expect(decoded.status).toEqual({ code: sdk.status.code, message: sdk.status.message ?? '' });
  const remote = sdk.parentSpanContext?.isRemote ? 0x200 : 0;
  expect(decoded.flags).toBe(ctx.traceFlags | 0x100 | remote);
  expect(decoded.droppedAttributesCount).toBe(sdk.droppedAttributesCount);
  expect(decoded.droppedEventsCount).toBe(sdk.droppedEventsCount);
  expect(decoded.droppedLinksCount).toBe(sdk.droppedLinksCount);
}

describe('requests serialized by the OpenTelemetry JS SDK', () => {
  const spans = sdkSpans();

  it('scan as valid and decode back to the SDK spans', () => {
    expect(spans).toHaveLength(3);
    const bytes = ProtobufTraceSerializer.serializeRequest(spans)!;
    const scan = scanTraceRequest(bytes);
    expect(scan).toMatchObject({
      ok: true,
      spans: 3,
      rejectedSpans: 0,
      resourceSpans: 1,
      serviceName: 'sdk-service',
    });
    if (scan.ok) expect(scan.bytes).toBe(bytes);

    const decoded = decodeTraceRequest(bytes);
    const rs = decoded.resourceSpans[0]!;
    expect(plain(rs.resource.attributes)).toEqual(spans[0]!.resource.attributes);
    expect(plain(rs.resource.attributes)).toEqual({
      'service.name': 'sdk-service',
      'deployment.environment': 'test',
    });
    expect(rs.scopeSpans).toHaveLength(1);
    expect(rs.scopeSpans[0]!.scope).toMatchObject({ name: 'junjo', version: '0.60.0' });
    const byId = new Map(rs.scopeSpans[0]!.spans.map((s) => [hex(s.spanId), s]));
    for (const sdk of spans) expectSameSpan(byId.get(sdk.spanContext().spanId)!, sdk);
  });

  it('convert from the SDK JSON encoding to the same request as the SDK protobuf encoding', () => {
    const json = JsonTraceSerializer.serializeRequest(spans)!;
    const fromJson = traceRequestFromJson(json);
    expect(scanTraceRequest(fromJson)).toMatchObject({ ok: true, spans: 3, rejectedSpans: 0 });
    expect(decodeTraceRequest(fromJson)).toEqual(
      decodeTraceRequest(ProtobufTraceSerializer.serializeRequest(spans)!),
    );
  });

  it('refuse every truncation of an SDK request', () => {
    const bytes = ProtobufTraceSerializer.serializeRequest(spans)!;
    for (let cut = 1; cut < bytes.length; cut++)
      expect(scanTraceRequest(bytes.subarray(0, cut)).ok, `cut ${cut}`).toBe(false);
  });
});
