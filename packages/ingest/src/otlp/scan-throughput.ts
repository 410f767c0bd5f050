/**
 * Hand-run throughput check of the OTLP wire layer (not a test: timings depend on the machine).
 *
 *   npx tsx packages/ingest/src/otlp/scan-throughput.ts [spansPerRequest]
 *
 * Builds one request of small spans (4 attributes each, the shape of typical SDK batches) and reports
 * spans/s for the hot-path scanner against protobufjs' full decode of the same bytes, plus the other
 * conversions on the JSON and indexer paths.
 */
import { traceRequestFromJson } from './json.ts';
import { decodeTraceRequest, encodeTraceRequest, protoRoot, type SpanInit } from './messages.ts';
import { scanTraceRequest } from './scan.ts';

const spansPerRequest = Number(process.argv[2] ?? 512);

function id(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (seed * 31 + i * 7 + 1) & 0xff;
  return bytes;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

const spans: SpanInit[] = [];
for (let i = 0; i < spansPerRequest; i++) {
  spans.push({
    traceId: id(16, i >> 4),
    spanId: id(8, i),
    parentSpanId: i % 16 === 0 ? undefined : id(8, i - 1),
    name: `node-${i % 10}`,
    kind: 1,
    startTimeUnixNano: 1_764_331_200_000_000_000n + BigInt(i) * 1000n,
    endTimeUnixNano: 1_764_331_200_000_500_000n + BigInt(i) * 1000n,
    attributes: [
      { key: 'junjo.span_type', value: { type: 'string', value: 'node' } },
      { key: 'junjo.id', value: { type: 'string', value: `n_${i}` } },
      { key: 'llm.token_count.total', value: { type: 'int', value: BigInt(i) } },
      { key: 'cache.hit', value: { type: 'bool', value: i % 2 === 0 } },
    ],
    flags: 0x101,
  });
}
const bytes = encodeTraceRequest({
  resourceSpans: [
    {
      resource: { attributes: [{ key: 'service.name', value: { type: 'string', value: 'bench' } }] },
      scopeSpans: [{ scope: { name: 'junjo', version: '0.60.0' }, spans }],
    },
  ],
});
const json = JSON.stringify({
  resourceSpans: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bench' } }] },
      scopeSpans: [
        {
          scope: { name: 'junjo', version: '0.60.0' },
          spans: spans.map((s) => ({
            traceId: hex(s.traceId!),
            spanId: hex(s.spanId!),
            parentSpanId: s.parentSpanId ? hex(s.parentSpanId) : undefined,
            name: s.name,
            kind: s.kind,
            startTimeUnixNano: String(s.startTimeUnixNano),
            endTimeUnixNano: String(s.endTimeUnixNano),
            flags: s.flags,
            attributes: [
              { key: 'junjo.span_type', value: { stringValue: 'node' } },
              { key: 'junjo.id', value: { stringValue: 'n' } },
              { key: 'llm.token_count.total', value: { intValue: '7' } },
              { key: 'cache.hit', value: { boolValue: true } },
            ],
          })),
        },
      ],
    },
  ],
});

const requestType = protoRoot().lookupType(
  'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest',
);

/** Runs `fn` for about `ms` milliseconds after a warm-up and returns spans per second. */
function measure(fn: () => void, ms = 1500): number {
  const warmUntil = performance.now() + 300;
  while (performance.now() < warmUntil) fn();
  let runs = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 10; i++) fn();
    runs += 10;
    now = performance.now();
  }
  return (runs * spansPerRequest) / ((now - start) / 1000);
}

const check = scanTraceRequest(bytes);
if (!check.ok || check.spans !== spansPerRequest) throw new Error('benchmark request does not scan');

const rows: Array<[string, number]> = [
  ['scanTraceRequest (hot path)', measure(() => scanTraceRequest(bytes))],
  ['protobufjs Type.decode', measure(() => requestType.decode(bytes))],
  ['decodeTraceRequest (protobufjs + typed objects)', measure(() => decodeTraceRequest(bytes))],
  ['encodeTraceRequest', measure(() => encodeTraceRequest({ resourceSpans: [{ scopeSpans: [{ spans }] }] }))],
  ['traceRequestFromJson (JSON.parse + encode)', measure(() => traceRequestFromJson(json))],
];
console.log(`${spansPerRequest} spans/request, ${bytes.length} bytes protobuf, ${json.length} bytes JSON`);
for (const [name, rate] of rows) {
  console.log(`${name.padEnd(50)} ${Math.round(rate).toLocaleString('en-US').padStart(12)} spans/s`);
}
