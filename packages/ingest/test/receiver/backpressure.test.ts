import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, spansInWal, useIngest } from '../support.ts';
import { request, span } from '../wire.ts';

// Any backlog at all is over the limit: the first stored export makes ingest refuse the next ones.
const get = useIngest({ JUNJO_WAL_MAX_UNRELEASED_BYTES: '1' });

function spans(n: number) {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'pressured' }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  for (let i = 0; i < n; i++) provider.getTracer('t').startSpan(`s${i}`).end();
  return memory.getFinishedSpans();
}

describe('backpressure', () => {
  it('answers UNAVAILABLE with RetryInfo over gRPC and 503 with Retry-After over HTTP; never RESOURCE_EXHAUSTED', async () => {
    const { key, grpcUrl, httpUrl } = get();
    const body = request([span()]);
    const headers = { 'x-junjo-api-key': key, 'content-type': 'application/x-protobuf' };
    expect((await fetch(`${httpUrl}/v1/traces`, { method: 'POST', headers, body })).status).toBe(200);

    const refused = await fetch(`${httpUrl}/v1/traces`, { method: 'POST', headers, body });
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

    const client = new grpc.Client(grpcUrl.replace('http://', ''), grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set('x-junjo-api-key', key);
    const error = await new Promise<grpc.ServiceError>((resolve) =>
      client.makeUnaryRequest(
        '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        metadata,
        (e) => resolve(e!),
      ),
    );
    client.close();
    expect(error.code).toBe(grpc.status.UNAVAILABLE);
    const details = error.metadata.get('grpc-status-details-bin')[0] as Buffer;
    const root = await protobuf.load([
      `${REPO_ROOT}proto/google/rpc/status.proto`,
      `${REPO_ROOT}proto/google/rpc/error_details.proto`,
    ]);
    const status = root.lookupType('google.rpc.Status').decode(details) as unknown as {
      code: number;
      // protobufjs keeps google.protobuf.Any's own field names.
      details: Array<{ type_url: string; value: Uint8Array }>;
    };
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(status.details[0]!.type_url).toBe('type.googleapis.com/google.rpc.RetryInfo');
    const retry = root.lookupType('google.rpc.RetryInfo').decode(status.details[0]!.value) as unknown as {
      retryDelay: { seconds: number | { toNumber(): number }; nanos: number };
    };
    const seconds =
      typeof retry.retryDelay.seconds === 'number'
        ? retry.retryDelay.seconds
        : retry.retryDelay.seconds.toNumber();
    expect(seconds * 1000 + retry.retryDelay.nanos / 1e6).toBeGreaterThan(0);
  });

  it('lets clients’ own retries deliver every span once the backlog is released', async () => {
    const { key, grpcUrl, httpUrl, ingest } = get();
    // The real OTel JS OTLP/HTTP exporter retries 503s itself (honouring Retry-After).
    const exporter = new ProtoExporter({
      url: `${httpUrl}/v1/traces`,
      headers: { 'x-junjo-api-key': key },
      timeoutMillis: 20_000,
    });
    const batch = spans(50);
    // The OTel JS gRPC exporter (0.223) does not retry failed exports at all; a gRPC client with the standard
    // retry policy does, and waits as long as the server's pushback says.
    const client = new grpc.Client(grpcUrl.replace('http://', ''), grpc.credentials.createInsecure(), {
      'grpc.service_config': JSON.stringify({
        methodConfig: [
          {
            name: [{ service: 'opentelemetry.proto.collector.trace.v1.TraceService' }],
            retryPolicy: {
              maxAttempts: 5,
              initialBackoff: '0.5s',
              maxBackoff: '2s',
              backoffMultiplier: 2,
              retryableStatusCodes: ['UNAVAILABLE'],
            },
          },
        ],
      }),
    });
    const metadata = new grpc.Metadata();
    metadata.set('x-junjo-api-key', key);
    const grpcSpanId = randomBytes(8);
    const before = ingest.wal.end();

    const httpResult = new Promise<{ code: ExportResultCode; error?: Error }>((resolve) =>
      exporter.export(batch, resolve),
    );
    const grpcResult = new Promise<grpc.ServiceError | null>((resolve) =>
      client.makeUnaryRequest(
        '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        (b: Buffer) => b,
        (b: Buffer) => b,
        request([span([], { spanId: grpcSpanId })]),
        metadata,
        (error) => resolve(error),
      ),
    );
    // Both are being refused now; release the backlog while their retries are pending.
    await new Promise((r) => setTimeout(r, 1200));
    const released = setInterval(() => void ingest.wal.release(ingest.wal.end()), 50);
    try {
      const http = await httpResult;
      expect(http.code, http.error?.message).toBe(ExportResultCode.SUCCESS);
      expect(await grpcResult).toBeNull();
    } finally {
      clearInterval(released);
      await exporter.shutdown();
      client.close();
    }
    const stored = await spansInWal(ingest.wal, before);
    for (const id of [...batch.map((s) => s.spanContext().spanId), grpcSpanId.toString('hex')]) {
      expect(stored.filter((s) => s.spanId === id)).toHaveLength(1);
    }
  });
});
