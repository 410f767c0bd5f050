/**
 * `npm run bench:index`: the indexer's side alone, without receivers. Feeds the span store the same exports
 * `npm run bench:query` sends, in the indexer's 4 MiB batches with two in flight, three ways in alternating
 * rounds: the store worker as the ingest process runs it (spans read from the wire and stored as their OTLP
 * bytes, `indexer/wire-spans.ts`); the same wire path on this thread; and, as the same-run baseline, the
 * record path on this thread (each export decoded and converted to the contract's JSON text, `exportRecords`,
 * streamed into the same store: what the worker did before the wire path). INDEX_RATE_TRACES (default 25,000)
 * traces × 20 spans, INDEX_RATE_ROUNDS (default 3) rounds; medians go to docs/benchmarks.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type ExportPayload, exportRecords, writeExports } from '@junjo/ingest/indexer/convert';
import { wireSpans } from '@junjo/ingest/indexer/wire-spans';
import { DuckDbSpanStore } from '@junjo/ingest/store/duckdb-span-store';
import { SpanStore } from '@junjo/ingest/store/index';
import { machine, writeReport } from './harness.ts';
import { buildTraceSet } from './query-payloads.ts';

const TRACES = Number(process.env.INDEX_RATE_TRACES ?? 25_000);
const ROUNDS = Number(process.env.INDEX_RATE_ROUNDS ?? 3);
const BATCH_BYTES = Number(process.env.INDEX_RATE_BATCH_BYTES ?? 4 * 1024 * 1024);
const set = buildTraceSet(TRACES, 20, 20);
const batches: ExportPayload[][] = [[]];
let bytes = 0;
for (const [position, payload] of set.requests.entries()) {
  batches.at(-1)!.push({ position, payload });
  bytes += payload.byteLength;
  if (bytes >= BATCH_BYTES) {
    batches.push([]);
    bytes = 0;
  }
}

interface Result {
  rate: number;
  cores: number;
}

type Write = (batch: ExportPayload[], checkpoint: number) => Promise<number>;

async function run<S extends SpanStore>(
  name: string,
  open: (file: string) => Promise<S>,
  write: (store: S) => Write,
): Promise<Result> {
  const dir = mkdtempSync(path.join(tmpdir(), 'junjo-index-rate-'));
  const store = await open(path.join(dir, 'spans.duckdb'));
  const writeBatch = write(store);
  const started = performance.now();
  const cpu = process.cpuUsage();
  const inFlight: Promise<number>[] = [];
  for (const [i, batch] of batches.entries()) {
    inFlight.push(writeBatch(batch, i + 1));
    if (inFlight.length === 2) await inFlight.shift();
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  const rate = Math.round(set.spans / seconds);
  const cores = (used.user + used.system) / 1e6 / seconds;
  console.log(
    `${name}: ${set.spans} spans in ${batches.length} batches, ${rate} spans/s, process CPU ${cores.toFixed(2)} cores`,
  );
  return { rate, cores };
}

const workerRuns: Result[] = [];
const wireRuns: Result[] = [];
const recordRuns: Result[] = [];
const inThread = (file: string) => DuckDbSpanStore.open(file);
for (let round = 0; round < ROUNDS; round++) {
  workerRuns.push(
    await run(
      'store worker, wire path',
      (file) => SpanStore.openInWorker(file),
      (store) => (batch, checkpoint) => writeExports(store, batch, checkpoint),
    ),
  );
  wireRuns.push(
    await run(
      'this thread, wire path',
      inThread,
      (store) => (batch, checkpoint) => store.writeStream(wireSpans(batch), checkpoint),
    ),
  );
  recordRuns.push(
    await run(
      'this thread, record path',
      inThread,
      (store) => (batch, checkpoint) => store.writeStream(exportRecords(batch), checkpoint),
    ),
  );
}
const median = (rs: Result[]) => [...rs].sort((a, b) => a.rate - b.rate)[Math.floor(rs.length / 2)]!;
const worker = median(workerRuns);
const wire = median(wireRuns);
const records = median(recordRuns);
const ratio = wire.rate / records.rate;
console.log(
  `ratio wire / record path (same thread): ${ratio.toFixed(2)}; worker / same thread: ${(worker.rate / wire.rate).toFixed(2)}`,
);
const fmt = (n: number) => n.toLocaleString('en');
const row = (label: string, r: Result) => `| ${label} | ${fmt(r.rate)} | ${r.cores.toFixed(2)} cores |`;
writeReport(
  'bench:index',
  `## Indexer alone (\`npm run bench:index\`)

Machine: ${machine()}. Run at ${new Date().toISOString()}.

${fmt(set.spans)} small spans (the \`bench:query\` trace set: ${fmt(TRACES)} traces × 20 spans, 20 services) as ${fmt(set.requests.length)}
exports, in ${batches.length} batches of 4 MiB with two in flight, into a fresh DuckDB file; no receivers. Medians of ${ROUNDS} alternating rounds.

| path | spans/s | process CPU |
|---|---:|---:|
${row('store worker (what ingest runs): spans read from the wire, stored as OTLP bytes', worker)}
${row('wire path on the calling thread', wire)}
${row('baseline: record path on the calling thread (decode, convert to JSON text, store the text)', records)}

Ratio wire / record path on the same thread: **${ratio.toFixed(2)}×**; the worker thread adds
${(worker.rate / wire.rate).toFixed(2)}×. The issue's indexing target is ≥ 100,000 spans/s; this is the
ceiling of the indexer on this machine before the receivers take their share of the two cores.`,
);
