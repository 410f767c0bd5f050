import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import * as ApiKey from '@junjo/core/api-key';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { traceRequestFromJson } from '../../src/otlp/json.ts';
import { decodeTraceRequest } from '../../src/otlp/messages.ts';
import { fixtureText, spansInWal, useIngest } from '../support.ts';

const get = useIngest();

/** A Junjo-shaped workflow as the Junjo Python SDK emits it, made with the real OpenTelemetry JS SDK. */
function junjoWorkflowSpans(service: string): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer('junjo');
  tracer.startActiveSpan('doc-qa workflow', { kind: SpanKind.INTERNAL }, (workflow) => {
    workflow.setAttributes({
      'junjo.span_type': 'workflow',
      'junjo.id': 'wf-1',
      'junjo.workflow.state.start': JSON.stringify({ question: 'what is junjo?', answer: null }),
      'junjo.workflow.graph_structure': JSON.stringify({ nodes: [{ id: 'n1' }], edges: [] }),
      'junjo.workflow.store.id': 'store-1',
    });
    tracer.startActiveSpan('retrieve', (node) => {
      node.setAttributes({
        'junjo.span_type': 'node',
        'junjo.id': 'n1',
        'junjo.parent_id': 'wf-1',
        'retrieved.count': 3,
      });
      node.addEvent('set_state', {
        'junjo.state_json_patch': JSON.stringify([
          { op: 'replace', path: '/answer', value: 'an AI workflow library' },
        ]),
        'junjo.store.id': 'store-1',
        'junjo.store.name': 'DocQaStore',
        'junjo.store.action': 'set_answer',
        id: 'patch-1',
      });
      node.end();
    });
    tracer.startActiveSpan('llm call', { kind: SpanKind.CLIENT }, (llm) => {
      llm.setAttributes({
        'openinference.span.kind': 'LLM',
        'llm.model_name': 'gpt-4o',
        'gen_ai.usage.input_tokens': 812,
      });
      llm.recordException(new Error('rate limited once'));
      llm.setStatus({ code: SpanStatusCode.ERROR, message: 'retried' });
      llm.end();
    });
    workflow.setAttribute(
      'junjo.workflow.state.end',
      JSON.stringify({ question: 'what is junjo?', answer: 'x' }),
    );
    workflow.end();
  });
  return memory.getFinishedSpans();
}

function exportWith(exporter: SpanExporter, spans: ReadableSpan[]) {
  return new Promise<{ code: ExportResultCode; error?: Error }>((resolve) => exporter.export(spans, resolve));
}

function exporters(key: string | undefined) {
  const { grpcUrl, httpUrl } = get();
  const metadata = new grpc.Metadata();
  if (key !== undefined) metadata.set('x-junjo-api-key', key);
  const headers: Record<string, string> = key !== undefined ? { 'x-junjo-api-key': key } : {};
  return {
    grpc: new GrpcExporter({ url: grpcUrl, metadata, timeoutMillis: 5000 }),
    'http/protobuf': new ProtoExporter({ url: `${httpUrl}/v1/traces`, headers, timeoutMillis: 5000 }),
    'http/json': new JsonExporter({ url: `${httpUrl}/v1/traces`, headers, timeoutMillis: 5000 }),
  };
}

describe('OTLP ingest with the real OpenTelemetry JS SDK', () => {
  it('stores every span of every transport in the WAL, decodable and faithful', async () => {
    const { ingest, key } = get();
    for (const [transport, exporter] of Object.entries(exporters(key))) {
      const spans = junjoWorkflowSpans(`svc-${transport}`);
      const before = ingest.wal.end();
      const result = await exportWith(exporter, spans);
      expect(result.code, `${transport}: ${result.error?.message}`).toBe(ExportResultCode.SUCCESS);
      await exporter.shutdown();

      const stored = await spansInWal(ingest.wal, before);
      expect(stored.map((s) => s.spanId).sort(), transport).toEqual(
        spans.map((s) => s.spanContext().spanId).sort(),
      );
      for (const span of spans) {
        const got = stored.find((s) => s.spanId === span.spanContext().spanId)!;
        expect(got.traceId).toBe(span.spanContext().traceId);
        expect(got.name).toBe(span.name);
        expect(got.service).toEqual({ type: 'string', value: `svc-${transport}` });
        for (const [name, value] of Object.entries(span.attributes)) {
          const stored = got.span.attributes.find((a) => a.key === name)?.value;
          expect(stored && 'value' in stored ? String(stored.value) : undefined, `${transport} ${name}`).toBe(
            String(value),
          );
        }
      }
      const patch = stored.find((s) => s.name === 'retrieve')!.span;
      expect(patch.events[0]!.name).toBe('set_state');
      expect(patch.events[0]!.attributes.map((a) => a.key)).toContain('junjo.state_json_patch');
    }
  });

  it('refuses a missing, wrong or deleted key on every transport and writes nothing', async () => {
    const { ingest } = get();
    const deleted = await ApiKey.create('to delete');
    await ApiKey.remove(deleted.id);
    for (const key of [undefined, 'B'.repeat(64), deleted.key, '']) {
      for (const [transport, exporter] of Object.entries(exporters(key))) {
        const before = ingest.wal.end();
        const result = await exportWith(exporter, junjoWorkflowSpans('denied'));
        await exporter.shutdown();
        expect(result.code, `${transport} key=${key}`).toBe(ExportResultCode.FAILED);
        const message = `${result.error?.message} ${(result.error as { code?: number })?.code}`;
        expect(message, transport).toMatch(/UNAUTHENTICATED|16|401/);
        expect(ingest.wal.end()).toBe(before);
      }
    }
  });

  it('takes the shared Junjo fixture over every transport (JSON, protobuf, gzip, gRPC)', async () => {
    const { ingest, key, httpUrl, grpcUrl } = get();
    const json = fixtureText();
    const protobuf = traceRequestFromJson(json);
    const expected = decodeTraceRequest(protobuf);
    const expectedIds = expected
      .resourceSpans!.flatMap((rs) => rs.scopeSpans!.flatMap((ss) => ss.spans!))
      .map((s) => Buffer.from(s.spanId!).toString('hex'));
    expect(expectedIds).toHaveLength(9);

    const bodies: Array<[string, Record<string, string>, Uint8Array | string]> = [
      ['json', { 'content-type': 'application/json' }, json],
      ['protobuf', { 'content-type': 'application/x-protobuf' }, protobuf],
      [
        'protobuf+gzip',
        { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
        gzipSync(protobuf),
      ],
      ['json+gzip', { 'content-type': 'application/json', 'content-encoding': 'gzip' }, gzipSync(json)],
      ['bearer', { 'content-type': 'application/json', authorization: `Bearer ${key}` }, json],
    ];
    for (const [name, headers, body] of bodies) {
      const before = ingest.wal.end();
      const response = await fetch(`${httpUrl}/v1/traces`, {
        method: 'POST',
        headers: { 'x-junjo-api-key': name === 'bearer' ? '' : key, ...headers },
        body,
      });
      expect(response.status, name).toBe(200);
      expect(response.headers.get('content-type')).toBe(headers['content-type']);
      const stored = await spansInWal(ingest.wal, before);
      expect(stored.map((s) => s.spanId).sort(), name).toEqual([...expectedIds].sort());
    }

    const before = ingest.wal.end();
    const client = new grpc.Client(grpcUrl.replace('http://', ''), grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set('x-junjo-api-key', key);
    await new Promise<void>((resolve, reject) =>
      client.makeUnaryRequest(
        '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(protobuf),
        metadata,
        (error) => (error ? reject(error) : resolve()),
      ),
    );
    client.close();
    const stored = await spansInWal(ingest.wal, before);
    expect(stored.map((s) => s.spanId).sort()).toEqual([...expectedIds].sort());
    // Byte for byte: a request with nothing rejected is stored exactly as sent.
    const { records } = await ingest.wal.read(before);
    expect(Buffer.from(records[0]!.payload).equals(Buffer.from(protobuf))).toBe(true);
  });
});
