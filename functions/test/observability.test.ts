import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import * as ApiKey from '@junjo/core/api-key';
import * as Config from '@junjo/core/config';
import { toSpanRecords } from '@junjo/core/span';
import * as SpanQuery from '@junjo/core/span-query';
import { traceRequestFromJson } from '@junjo/ingest/otlp/json';
import { decodeTraceRequest } from '@junjo/ingest/otlp/messages';
import { type RunningIngest, startIngest } from '@junjo/ingest/server';
import { context, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as flushWal } from '../admin/flush-wal.ts';
import { handler as rootSpans } from '../observability/root-spans.ts';
import { handler as serviceSpans } from '../observability/service-spans.ts';
import { handler as services } from '../observability/services.ts';
import { handler as getSpan } from '../observability/span.ts';
import { handler as traceSpans } from '../observability/trace-spans.ts';
import { handler as workflows } from '../observability/workflows.ts';
import { handler as createFirstUser } from '../users/create-first-user.ts';
import { apiEvent, invoke, sessionFrom, useTempDataDir } from './support.ts';

useTempDataDir({
  GRPC_PORT: '0',
  OTLP_HTTP_PORT: '0',
  INTERNAL_GRPC_PORT: '0',
  JUNJO_INGEST_HOST: '127.0.0.1',
  JUNJO_QUERY_TIMEOUT_MS: '1000',
  JUNJO_FLUSH_TIMEOUT_MS: '1500',
});

let ingest: RunningIngest;
let cookie = '';
let key = '';

beforeAll(async () => {
  ingest = await startIngest(Config.get());
  Config.update({ queryUrl: `127.0.0.1:${ingest.queryPort}` });
  cookie = sessionFrom(
    await invoke(
      createFirstUser,
      apiEvent('POST /users/create-first-user', '/users/create-first-user', {
        body: { email: 'o@example.com', password: 'observer 1' },
      }),
    ),
  );
  key = (await ApiKey.create('observability test')).key;
});

afterAll(async () => {
  SpanQuery.close();
  await ingest.close();
});

/** A Junjo-shaped workflow from the real OTel SDK: workflow, subflow, nodes, run_concurrent, set_state, an LLM span, an exception. */
function workflowSpans(): ReadableSpan[] {
  // Parent/child links come from the active context, as in an instrumented application.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'doc-qa-e2e' }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer('junjo');
  const state = (o: object) => JSON.stringify(o);
  tracer.startActiveSpan('DocQA', (wf) => {
    wf.setAttributes({
      'junjo.span_type': 'workflow',
      'junjo.id': 'wf-1',
      'junjo.workflow.state.start': state({ question: 'q', answer: null }),
      'junjo.workflow.graph_structure': state({ nodes: ['retrieve', 'answer'] }),
      'junjo.workflow.store.id': 'store-wf',
    });
    tracer.startActiveSpan('parallel', (rc) => {
      rc.setAttributes({
        'junjo.span_type': 'run_concurrent',
        'junjo.id': 'rc-1',
        'junjo.parent_id': 'wf-1',
      });
      for (const name of ['search-a', 'search-b']) {
        tracer.startActiveSpan(name, (node) => {
          node.setAttributes({ 'junjo.span_type': 'node', 'junjo.id': name, 'junjo.parent_id': 'rc-1' });
          node.addEvent('set_state', {
            'junjo.state_json_patch': state([{ op: 'add', path: `/${name}`, value: 1 }]),
            'junjo.store.id': 'store-wf',
            'junjo.store.name': 'DocQAStore',
            'junjo.store.action': 'set_hits',
            id: `patch-${name}`,
          });
          node.end();
        });
      }
      rc.end();
    });
    tracer.startActiveSpan('Summarise', (sub) => {
      sub.setAttributes({
        'junjo.span_type': 'subflow',
        'junjo.id': 'sub-1',
        'junjo.parent_id': 'wf-1',
        'junjo.workflow.state.start': 'not json {',
        'junjo.workflow.store.id': 'store-sub',
      });
      tracer.startActiveSpan('llm', { kind: SpanKind.CLIENT }, (llm) => {
        llm.setAttributes({
          'openinference.span.kind': 'LLM',
          'llm.model_name': 'gpt-4o',
          'gen_ai.usage.input_tokens': 2 ** 53 + 2,
        });
        llm.recordException(new Error('provider hiccup'));
        llm.setStatus({ code: SpanStatusCode.ERROR, message: 'hiccup' });
        llm.end();
      });
      sub.end();
    });
    wf.setAttribute('junjo.workflow.state.end', state({ question: 'q', answer: 'a' }));
    wf.end();
  });
  return memory.getFinishedSpans();
}

/** Exports `spans` to ingest with the SDK's OTLP/gRPC exporter; resolves once ingest acknowledged them. */
async function exportWithSdk(spans: ReadableSpan[]): Promise<void> {
  const metadata = new grpc.Metadata();
  metadata.set('x-junjo-api-key', key);
  const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${ingest.grpcPort}`, metadata });
  const result = await new Promise<{ code: ExportResultCode }>((resolve) => exporter.export(spans, resolve));
  expect(result.code).toBe(ExportResultCode.SUCCESS);
  await exporter.shutdown();
}

const get = (
  handler: Parameters<typeof invoke>[0],
  routeKey: string,
  rawPath: string,
  init: { query?: Record<string, string>; pathParameters?: Record<string, string> } = {},
) => invoke(handler, apiEvent(routeKey, rawPath, { cookies: [cookie], ...init }));

const KEYS = [
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

describe('observability end to end: OTel SDK → ingest → indexer → query service → handlers', () => {
  it('returns an exported workflow exactly as the contract says, within 1 s of acknowledgement', async () => {
    const spans = workflowSpans();
    await exportWithSdk(spans);
    const acknowledged = Date.now();

    const traceId = spans[0]!.spanContext().traceId;
    let reply = await get(
      traceSpans,
      'GET /api/v1/observability/traces/{trace_id}/spans',
      `/api/v1/observability/traces/${traceId}/spans`,
      { pathParameters: { trace_id: traceId } },
    );
    while (reply.body.length < spans.length && Date.now() - acknowledged < 1000) {
      await new Promise((r) => setTimeout(r, 20));
      reply = await get(
        traceSpans,
        'GET /api/v1/observability/traces/{trace_id}/spans',
        `/api/v1/observability/traces/${traceId}/spans`,
        { pathParameters: { trace_id: traceId } },
      );
    }
    expect(Date.now() - acknowledged).toBeLessThan(1000);
    expect(reply.status).toBe(200);
    const rows = reply.body as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(spans.length);
    for (const row of rows) expect(Object.keys(row)).toEqual(KEYS);
    // Every span exactly as the converter renders what the SDK sent (its own OTLP serializer), byte for byte;
    // the checks below pin what that rendering is.
    const sent = ProtobufTraceSerializer.serializeRequest(spans)!;
    const rendered = new Map(toSpanRecords(decodeTraceRequest(sent)).map((r) => [r.spanId, r.json]));
    expect(reply.text).toBe(`[${rows.map((r) => rendered.get(r.span_id as string)).join(',')}]`);
    const starts = rows.map((r) => r.start_time as string);
    expect([...starts].sort().reverse()).toEqual(starts);

    const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
    const wf = byName.DocQA!;
    const wfSpan = spans.find((s) => s.name === 'DocQA')!;
    expect(wf).toMatchObject({
      trace_id: traceId,
      span_id: wfSpan.spanContext().spanId,
      parent_span_id: null,
      service_name: 'doc-qa-e2e',
      kind: 'INTERNAL',
      status_code: '0',
      junjo_id: 'wf-1',
      junjo_span_type: 'workflow',
      junjo_wf_state_start: { question: 'q', answer: null },
      junjo_wf_state_end: { question: 'q', answer: 'a' },
      junjo_wf_graph_structure: { nodes: ['retrieve', 'answer'] },
      junjo_wf_store_id: 'store-wf',
      trace_flags: 1,
      trace_state: null,
    });
    expect(wf.start_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
    expect((wf.attributes_json as Record<string, unknown>)['junjo.id']).toBe('wf-1');
    expect(byName.Summarise).toMatchObject({
      junjo_span_type: 'subflow',
      junjo_wf_state_start: {},
      junjo_wf_store_id: 'store-sub',
    });
    expect(byName.parallel).toMatchObject({
      junjo_span_type: 'run_concurrent',
      parent_span_id: wfSpan.spanContext().spanId,
    });
    const node = byName['search-a']!;
    expect(node.events_json).toEqual([
      expect.objectContaining({
        name: 'set_state',
        attributes: expect.objectContaining({ 'junjo.store.action': 'set_hits' }),
      }),
    ]);
    expect(typeof (node.events_json as Array<{ timeUnixNano: unknown }>)[0]!.timeUnixNano).toBe('number');
    const llm = byName.llm!;
    expect(llm).toMatchObject({ kind: 'CLIENT', status_code: '2', status_message: 'hiccup' });
    expect((llm.attributes_json as Record<string, unknown>)['gen_ai.usage.input_tokens']).toBe(
      String(2 ** 53 + 2),
    );
    expect((llm.events_json as Array<{ name: string }>)[0]!.name).toBe('exception');

    const one = await get(
      getSpan,
      'GET /api/v1/observability/traces/{trace_id}/spans/{span_id}',
      `/api/v1/observability/traces/${traceId}/spans/${wf.span_id}`,
      {
        pathParameters: { trace_id: traceId, span_id: wf.span_id as string },
      },
    );
    expect(one.body).toEqual(wf);
    const missing = await get(getSpan, 'GET /api/v1/observability/traces/{trace_id}/spans/{span_id}', 'x', {
      pathParameters: { trace_id: traceId, span_id: '0123456789abcdef' },
    });
    expect(missing.status).toBe(200);
    expect(missing.text).toBe('null');
  });

  it('returns the shared Junjo fixture, sent over every transport, exactly as the converter renders it', async () => {
    const fixture = readFileSync(
      new URL('../../../shared/fixtures/junjo-workflow.otlp.json', import.meta.url),
      'utf8',
    );
    const transports = ['json', 'protobuf', 'protobuf+gzip', 'json+gzip', 'grpc'] as const;
    const traceIds: string[] = [];
    for (const transport of transports) {
      // A trace id of its own each time: the store keeps one copy of a (trace, span) id pair.
      const traceId = randomBytes(16).toString('hex');
      traceIds.push(traceId);
      const json = fixture.replaceAll('5b8efff798038103d269b633813fc60c', traceId);
      const protobuf = traceRequestFromJson(json);
      if (transport === 'grpc') {
        const client = new grpc.Client(`127.0.0.1:${ingest.grpcPort}`, grpc.credentials.createInsecure());
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
      } else {
        const body = transport.startsWith('json') ? Buffer.from(json) : Buffer.from(protobuf);
        const response = await fetch(`http://127.0.0.1:${ingest.httpPort}/v1/traces`, {
          method: 'POST',
          headers: {
            'x-junjo-api-key': key,
            'content-type': transport.startsWith('json') ? 'application/json' : 'application/x-protobuf',
            ...(transport.endsWith('gzip') ? { 'content-encoding': 'gzip' } : {}),
          },
          body: transport.endsWith('gzip') ? gzipSync(body) : body,
        });
        expect(response.status, transport).toBe(200);
      }
      await ingest.indexer.flush();

      const reply = await get(
        traceSpans,
        'GET /api/v1/observability/traces/{trace_id}/spans',
        `/api/v1/observability/traces/${traceId}/spans`,
        { pathParameters: { trace_id: traceId } },
      );
      expect(reply.status, transport).toBe(200);
      const expected = new Map(toSpanRecords(decodeTraceRequest(protobuf)).map((r) => [r.spanId, r.json]));
      expect(expected.size).toBe(9);
      const rows = reply.body as Array<{ span_id: string; start_time: string }>;
      expect(rows.map((r) => r.span_id).sort(), transport).toEqual([...expected.keys()].sort());
      // The converter's text, byte for byte, span for span, newest first.
      expect(reply.text, transport).toBe(`[${rows.map((r) => expected.get(r.span_id)).join(',')}]`);
      const starts = rows.map((r) => r.start_time);
      expect([...starts].sort().reverse()).toEqual(starts);
    }

    const svc = await get(services, 'GET /api/v1/observability/services', '/api/v1/observability/services');
    expect(svc.body).toEqual(expect.arrayContaining(['doc-qa-app']));
    const roots = await get(rootSpans, 'GET /api/v1/observability/services/{service}/spans/root', 'x', {
      pathParameters: { service: 'doc-qa-app' },
      query: { has_llm: 'true' },
    });
    expect(
      (roots.body as Array<{ trace_id: string; name: string }>).map((r) => [r.trace_id, r.name]).sort(),
    ).toEqual(traceIds.map((id) => [id, 'DocQAWorkflow']).sort());
  });

  it("lists a service's spans newest first, 500 by default", async () => {
    // 501 root spans of one service, a second apart, in one OTLP/JSON export.
    const startMs = Date.now() - 3_600_000;
    const spans = Array.from({ length: 501 }, (_, i) => ({
      traceId: randomBytes(16).toString('hex'),
      spanId: randomBytes(8).toString('hex'),
      name: `span-${i}`,
      kind: 1,
      startTimeUnixNano: `${BigInt(startMs + i * 1000) * 1_000_000n}`,
      endTimeUnixNano: `${BigInt(startMs + i * 1000 + 10) * 1_000_000n}`,
    }));
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'limit-default' } }] },
          scopeSpans: [{ spans }],
        },
      ],
    };
    const response = await fetch(`http://127.0.0.1:${ingest.httpPort}/v1/traces`, {
      method: 'POST',
      headers: { 'x-junjo-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
    await ingest.indexer.flush();
    const newestFirst = spans.map((s) => s.name).reverse();
    for (const [handler, routeKey] of [
      [serviceSpans, 'GET /api/v1/observability/services/{service}/spans'],
      [rootSpans, 'GET /api/v1/observability/services/{service}/spans/root'],
    ] as const) {
      const all = await get(handler, routeKey, 'x', { pathParameters: { service: 'limit-default' } });
      expect(all.body.map((r: { name: string }) => r.name)).toEqual(newestFirst.slice(0, 500));
      const three = await get(handler, routeKey, 'x', {
        pathParameters: { service: 'limit-default' },
        query: { limit: '3' },
      });
      expect(three.body.map((r: { name: string }) => r.name)).toEqual(newestFirst.slice(0, 3));
    }
  });

  it('lists services, service spans, root spans (has_llm), and workflows', async () => {
    const svc = await get(services, 'GET /api/v1/observability/services', '/api/v1/observability/services');
    expect(svc.body).toEqual(expect.arrayContaining(['doc-qa-e2e']));
    expect([...svc.body].sort()).toEqual(svc.body);

    const path = { pathParameters: { service: 'doc-qa-e2e' } };
    const all = await get(serviceSpans, 'GET /api/v1/observability/services/{service}/spans', 'x', {
      ...path,
      query: { limit: '3' },
    });
    expect(all.body).toHaveLength(3);
    const roots = await get(rootSpans, 'GET /api/v1/observability/services/{service}/spans/root', 'x', {
      ...path,
      query: { has_llm: 'true' },
    });
    expect(roots.body.map((r: { name: string }) => r.name)).toEqual(['DocQA']);
    const wfs = await get(workflows, 'GET /api/v1/observability/services/{service}/workflows', 'x', path);
    expect(wfs.body.map((r: { junjo_span_type: string }) => r.junjo_span_type)).toEqual(['workflow']);
    const unknown = await get(serviceSpans, 'GET /api/v1/observability/services/{service}/spans', 'x', {
      pathParameters: { service: 'nope' },
    });
    expect(unknown.body).toEqual([]);
  });

  it('flush-wal drains the backlog and answers when it is queryable', async () => {
    // A backlog: the indexer's tailing loop stopped while a workflow is exported.
    await ingest.indexer.stop();
    try {
      const spans = workflowSpans();
      await exportWithSdk(spans);
      const traceId = spans[0]!.spanContext().traceId;
      const trace = () =>
        get(
          traceSpans,
          'GET /api/v1/observability/traces/{trace_id}/spans',
          `/api/v1/observability/traces/${traceId}/spans`,
          { pathParameters: { trace_id: traceId } },
        );
      expect((await trace()).body).toEqual([]);

      const reply = await invoke(
        flushWal,
        apiEvent('POST /api/admin/flush-wal', '/api/admin/flush-wal', { cookies: [cookie] }),
      );
      expect(reply.status).toBe(200);
      expect(reply.body).toEqual({
        success: true,
        message: `Indexed ${spans.length} spans from 1 WAL record`,
        files_indexed: 1,
      });
      // Queryable when it answers, not some time after.
      expect((await trace()).body).toHaveLength(spans.length);
    } finally {
      await ingest.indexer.start();
    }
  });
});

describe('observability handlers', () => {
  it('need a session', async () => {
    const reply = await invoke(
      services,
      apiEvent('GET /api/v1/observability/services', '/api/v1/observability/services'),
    );
    expect(reply.status).toBe(401);
  });

  it('validate ids and limits with 422', async () => {
    const TRACE = 'GET /api/v1/observability/traces/{trace_id}/spans';
    const SPAN = 'GET /api/v1/observability/traces/{trace_id}/spans/{span_id}';
    const SPANS = 'GET /api/v1/observability/services/{service}/spans';
    const ROOTS = 'GET /api/v1/observability/services/{service}/spans/root';
    const WORKFLOWS = 'GET /api/v1/observability/services/{service}/workflows';
    const traceId = 'a'.repeat(32);
    // Handler, route, path, query, and where the error must point (FastAPI's `loc`).
    const cases: Array<
      [Parameters<typeof invoke>[0], string, Record<string, string>, Record<string, string>, string[]]
    > = [
      [traceSpans, TRACE, { trace_id: 'XYZ' }, {}, ['path', 'trace_id']],
      [traceSpans, TRACE, { trace_id: 'A'.repeat(32) }, {}, ['path', 'trace_id']],
      [getSpan, SPAN, { trace_id: traceId, span_id: 'abc' }, {}, ['path', 'span_id']],
      [getSpan, SPAN, { trace_id: 'xyz', span_id: 'a'.repeat(16) }, {}, ['path', 'trace_id']],
      [serviceSpans, SPANS, { service: 's' }, { limit: '0' }, ['query', 'limit']],
      [serviceSpans, SPANS, { service: 's' }, { limit: '10001' }, ['query', 'limit']],
      [serviceSpans, SPANS, { service: 's' }, { limit: 'ten' }, ['query', 'limit']],
      [rootSpans, ROOTS, { service: 's' }, { has_llm: 'maybe' }, ['query', 'has_llm']],
      [rootSpans, ROOTS, { service: 's' }, { limit: '10001' }, ['query', 'limit']],
      [workflows, WORKFLOWS, { service: 's' }, { limit: '0' }, ['query', 'limit']],
    ];
    for (const [handler, routeKey, pathParameters, query, loc] of cases) {
      const reply = await get(handler, routeKey, 'x', { pathParameters, query });
      const what = `${routeKey} ${JSON.stringify({ pathParameters, query })}`;
      expect(reply.status, what).toBe(422);
      expect(reply.body.detail, what).toEqual([expect.objectContaining({ loc })]);
    }
    const ok = await get(serviceSpans, 'GET /api/v1/observability/services/{service}/spans', 'x', {
      pathParameters: { service: 's' },
      query: { limit: '10000' },
    });
    expect(ok.status).toBe(200);
  });

  it('answer 503 within the deadline when the query service is down or hangs', async () => {
    const live = Config.get().queryUrl;
    // Down: nothing listens on the port.
    const closed: Server = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    // Hangs: accepts TCP, never speaks HTTP/2.
    const hanging = createServer(() => undefined);
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    try {
      for (const url of [
        `127.0.0.1:${closedPort}`,
        `127.0.0.1:${(hanging.address() as { port: number }).port}`,
      ]) {
        SpanQuery.close();
        Config.update({ queryUrl: url });
        const started = Date.now();
        const reply = await get(
          services,
          'GET /api/v1/observability/services',
          '/api/v1/observability/services',
        );
        expect(reply.status).toBe(503);
        expect(reply.body).toEqual({ detail: 'Span store unavailable' });
        expect(Date.now() - started).toBeLessThan(2500);
      }
      const flush = await invoke(
        flushWal,
        apiEvent('POST /api/admin/flush-wal', '/api/admin/flush-wal', { cookies: [cookie] }),
      );
      expect(flush.status).toBe(500);
      expect(flush.body).toEqual({ detail: 'WAL flush failed' });
    } finally {
      hanging.close();
      SpanQuery.close();
      Config.update({ queryUrl: live });
    }
    expect(
      (await get(services, 'GET /api/v1/observability/services', '/api/v1/observability/services')).status,
    ).toBe(200);
  });
});
