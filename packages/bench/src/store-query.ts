/**
 * `npx tsx packages/bench/src/store-query.ts`: span-store query latency at scale. Loads 1,000,000 generated
 * spans (50,000 traces × 20 spans over 20 services, an LLM span in every 10th trace, a workflow root in every
 * 5th) through `SpanStore.write`, then times each query over at least 100 runs: idle, and again while a
 * writer adds spans at STORE_QUERY_BACKGROUND_RATE spans/s (default 50,000, half the indexing target).
 * Prints p50/p95 per query, the load rate and the bytes the file takes per span.
 *
 * STORE_QUERY_TRACES (default 50,000) and STORE_QUERY_RUNS (default 200) scale it down for a quick look.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import { SpanStore } from '@junjo/ingest/store/index';
import { quantileOfSorted } from './harness.ts';
import { generateSpanRecords } from './store-records.ts';

const TRACES = Number(process.env.STORE_QUERY_TRACES ?? 50_000);
const RUNS = Number(process.env.STORE_QUERY_RUNS ?? 200);
const BACKGROUND_RATE = Number(process.env.STORE_QUERY_BACKGROUND_RATE ?? 50_000);
const SPANS_PER_TRACE = 20;
const SERVICES = 20;
const TRACES_PER_BATCH = 2500;
const START_NS = BigInt(Date.now() - 86_400_000) * 1_000_000n;

const generate = (firstTrace: number, traces: number) =>
  generateSpanRecords({
    traces,
    spansPerTrace: SPANS_PER_TRACE,
    services: SERVICES,
    startNs: START_NS,
    firstTrace,
  });

const dir = mkdtempSync(path.join(tmpdir(), 'junjo-store-query-'));
const file = path.join(dir, 'spans.duckdb');
const store = await SpanStore.open(file);

// Load through the real write path, two batches in flight as an indexer keeps them.
const traceIds: string[] = [];
const spanIds: string[] = [];
let loadSeconds = 0;
{
  const inFlight: Promise<void>[] = [];
  let written = 0;
  for (let first = 0; first < TRACES; first += TRACES_PER_BATCH) {
    const batch = generate(first, Math.min(TRACES_PER_BATCH, TRACES - first));
    for (let i = 0; i < batch.length; i += SPANS_PER_TRACE) {
      traceIds.push(batch[i]!.traceId);
      spanIds.push(batch[i + 7]!.spanId);
    }
    written += batch.length;
    // Generation is the converter's work, not the store's: time the writes only.
    const started = performance.now();
    inFlight.push(store.write(batch, written));
    if (inFlight.length === 2) await inFlight.shift();
    loadSeconds += (performance.now() - started) / 1000;
  }
  const started = performance.now();
  await Promise.all(inFlight);
  loadSeconds += (performance.now() - started) / 1000;
}
const loaded = await store.stats();
console.log(
  `loaded ${loaded.spans} spans (${loaded.statePatches} state patches) in ${loadSeconds.toFixed(1)} s of writes: ` +
    `${Math.round(loaded.spans / loadSeconds)} spans/s`,
);

const pick = <T>(items: T[]) => items[Math.floor(Math.random() * items.length)]!;
const service = () => `service-${String(Math.floor(Math.random() * SERVICES)).padStart(2, '0')}`;

const queries: Record<string, () => Promise<string | null>> = {
  'services list': () => store.services(),
  'trace by id': () => store.traceSpans(pick(traceIds)),
  'one span': () => {
    const i = Math.floor(Math.random() * traceIds.length);
    return store.span(traceIds[i]!, spanIds[i]!);
  },
  'service spans (limit 500)': () => store.serviceSpans(service(), 500),
  'root spans (limit 500)': () => store.rootSpans(service(), { hasLlm: false, limit: 500 }),
  'root spans has_llm (limit 500)': () => store.rootSpans(service(), { hasLlm: true, limit: 500 }),
  'workflows (limit 500)': () => store.workflows(service(), 500),
};

const targets: Record<string, number> = {
  'services list': 10,
  'trace by id': 20,
  'root spans (limit 500)': 100,
  'root spans has_llm (limit 500)': 150,
};

interface Row {
  query: string;
  phase: string;
  p50Ms: number;
  p95Ms: number;
  targetP95Ms: number | string;
}

async function timeQueries(phase: string): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [name, run] of Object.entries(queries)) {
    for (let i = 0; i < 5; i++) await run();
    const latencies: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const started = performance.now();
      const answer = await run();
      latencies.push(performance.now() - started);
      if (answer === null || answer === '[]') throw new Error(`${name} found nothing`);
    }
    latencies.sort((a, b) => a - b);
    console.log(
      `${phase}: ${name} p50 ${quantileOfSorted(latencies, 0.5).toFixed(2)} ms, p95 ${quantileOfSorted(latencies, 0.95).toFixed(2)} ms`,
    );
    rows.push({
      query: name,
      phase,
      p50Ms: Number(quantileOfSorted(latencies, 0.5).toFixed(2)),
      p95Ms: Number(quantileOfSorted(latencies, 0.95).toFixed(2)),
      targetP95Ms: targets[name] ?? '',
    });
  }
  return rows;
}

const results = await timeQueries('idle');

// The same queries while a writer adds newer traces at BACKGROUND_RATE spans/s, in 0.5 s batches.
let writing = true;
let backgroundSpans = 0;
const background = (async () => {
  const tracesPerTick = Math.max(1, Math.round(BACKGROUND_RATE / SPANS_PER_TRACE / 2));
  for (let first = TRACES; writing; first += tracesPerTick) {
    const started = performance.now();
    const batch = generate(first, tracesPerTick);
    await store.write(batch, loaded.spans + backgroundSpans + batch.length);
    backgroundSpans += batch.length;
    await sleep(Math.max(0, 500 - (performance.now() - started)));
  }
})();
const busyStarted = performance.now();
results.push(...(await timeQueries(`writes at ${BACKGROUND_RATE}/s`)));
writing = false;
await background;
const busySeconds = (performance.now() - busyStarted) / 1000;
console.log(`background writer: ${Math.round(backgroundSpans / busySeconds)} spans/s achieved`);

console.table(results);
await store.close();

// What query-time deduplication would cost instead of the write-time probe: the same list queries with a
// QUALIFY keeping one row per (trace_id, span_id), on the same file.
{
  const instance = await DuckDBInstance.create(file);
  const conn = await instance.connect();
  const variants = {
    'root spans, as stored': `SELECT json FROM root_and_workflow_spans WHERE service_name = $1 AND is_root
      ORDER BY start_ns DESC, span_id DESC LIMIT 500`,
    'root spans, QUALIFY dedupe': `SELECT json FROM root_and_workflow_spans WHERE service_name = $1 AND is_root
      QUALIFY row_number() OVER (PARTITION BY trace_id, span_id) = 1 ORDER BY start_ns DESC, span_id DESC LIMIT 500`,
    'service spans, as stored': `SELECT json FROM spans WHERE service_name = $1
      ORDER BY start_ns DESC, span_id DESC LIMIT 500`,
    'service spans, QUALIFY dedupe': `SELECT json FROM spans WHERE service_name = $1
      QUALIFY row_number() OVER (PARTITION BY trace_id, span_id) = 1 ORDER BY start_ns DESC, span_id DESC LIMIT 500`,
  };
  const rows: Array<{ query: string; p50Ms: number; p95Ms: number }> = [];
  for (const [name, sql] of Object.entries(variants)) {
    const latencies: number[] = [];
    for (let i = 0; i < Math.min(RUNS, 100); i++) {
      const started = performance.now();
      await conn.runAndReadAll(sql, [service()]);
      latencies.push(performance.now() - started);
    }
    latencies.sort((a, b) => a - b);
    rows.push({
      query: name,
      p50Ms: Number(quantileOfSorted(latencies, 0.5).toFixed(2)),
      p95Ms: Number(quantileOfSorted(latencies, 0.95).toFixed(2)),
    });
  }
  console.table(rows);
  const [[bytes, spans]] = (
    await conn.runAndReadAll(
      'SELECT (SELECT total_blocks * block_size FROM pragma_database_size()), (SELECT count(*) FROM spans)',
    )
  ).getRows() as [[bigint, bigint]];
  console.log(
    `${spans} spans in ${bytes} bytes of database blocks: ${Math.round(Number(bytes) / Number(spans))} B/span`,
  );
  conn.closeSync();
  instance.closeSync();
}
rmSync(dir, { recursive: true, force: true });
