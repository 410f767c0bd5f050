/**
 * The real OpenTelemetry JS SDK as the client: its OTLP/gRPC exporter serialising 512 ReadableSpans per
 * export, `concurrency` exports in flight. Usage: tsx sdk.ts '<json options>'; prints a LoadResult line.
 */
import * as grpc from '@grpc/grpc-js';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { drive } from './stats.ts';

const o = JSON.parse(process.argv[2]!) as {
  port: number;
  seconds: number;
  warmupSeconds: number;
  concurrency: number;
  key: string;
};
const memory = new InMemorySpanExporter();
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'bench-sdk' }),
  spanProcessors: [new SimpleSpanProcessor(memory)],
});
const tracer = provider.getTracer('bench');
for (let i = 0; i < 512; i++) {
  const span = tracer.startSpan(`operation-${i % 32}`);
  span.setAttributes({
    'junjo.span_type': 'node',
    'junjo.id': `node-${i}`,
    'http.status_code': 200,
    retry: false,
  });
  span.end();
}
const spans = memory.getFinishedSpans();
const metadata = new grpc.Metadata();
metadata.set('x-junjo-api-key', o.key);
const exporter = new OTLPTraceExporter({
  url: `http://127.0.0.1:${o.port}`,
  metadata,
  concurrencyLimit: o.concurrency * 2,
});

const result = await drive(
  o,
  () =>
    new Promise<number>((resolve, reject) =>
      exporter.export(spans, (r) =>
        r.code === ExportResultCode.SUCCESS
          ? resolve(spans.length)
          : reject(r.error ?? new Error('export failed')),
      ),
    ),
);
process.stdout.write(`${JSON.stringify(result)}\n`);
await exporter.shutdown();
