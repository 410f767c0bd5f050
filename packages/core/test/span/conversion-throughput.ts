/**
 * Hand-run throughput check of the span conversion (not a test: timings depend on the machine).
 *
 *   npx tsx packages/core/test/span/conversion-throughput.ts [spansPerRequest]
 *
 * The indexer must convert at least 100,000 small spans/s on one core, decode included. This builds
 * one request of small spans (4 attributes each, the shape of typical SDK batches, as the ingest
 * scan benchmark does) and reports spans/s for the decode, the conversion, and both in sequence.
 */
import { decodeTraceRequest, encodeTraceRequest, type SpanInit } from '@junjo/ingest/otlp/messages';
import { toSpanRecords } from '../../src/span/index.ts';

const spansPerRequest = Number(process.argv[2] ?? 512);

function id(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (seed * 31 + i * 7 + 1) & 0xff;
  return bytes;
}

const spans: SpanInit[] = [];
for (let i = 0; i < spansPerRequest; i++) {
  spans.push({
    traceId: id(16, i >> 4),
    spanId: id(8, i),
    parentSpanId: i % 16 === 0 ? undefined : id(8, i - 1),
    name: `node-${i % 10}`,
    kind: 1,
    startTimeUnixNano: 1_764_331_200_000_000_000n + BigInt(i) * 1_000_000n,
    endTimeUnixNano: 1_764_331_200_000_500_000n + BigInt(i) * 1_000_000n,
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
const decoded = decodeTraceRequest(bytes);

/** Runs `fn` for about `ms` milliseconds after a warm-up and returns spans per second. */
function measureOnce(fn: () => unknown, ms: number): number {
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

/** Median and best of five rounds: on a shared machine one round says little. */
function measure(fn: () => unknown, ms = 1000): { median: number; best: number } {
  const rates = Array.from({ length: 5 }, () => measureOnce(fn, ms)).sort((a, b) => a - b);
  return { median: rates[2]!, best: rates[4]! };
}

// Touching the text makes V8 flatten the concatenated strings, work the indexer pays when writing.
const flatten = (records: ReturnType<typeof toSpanRecords>) => {
  let n = 0;
  for (const r of records) n += r.json.charCodeAt(r.json.length >> 1);
  return n;
};

const rows: Array<[string, { median: number; best: number }]> = [
  ['decodeTraceRequest', measure(() => decodeTraceRequest(bytes))],
  ['toSpanRecords', measure(() => flatten(toSpanRecords(decoded)))],
  ['decodeTraceRequest + toSpanRecords', measure(() => flatten(toSpanRecords(decodeTraceRequest(bytes))))],
];
const format = (rate: number) => Math.round(rate).toLocaleString('en-US').padStart(10);
console.log(
  `${spansPerRequest} spans/request, ${bytes.length} bytes protobuf; spans/s, median and best of 5`,
);
for (const [name, { median, best }] of rows) {
  console.log(`${name.padEnd(40)} ${format(median)} ${format(best)}`);
}
