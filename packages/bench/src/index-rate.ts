/**
 * `npm run bench:index`: the indexer's side alone, without receivers. Feeds the store worker
 * (`SpanStore.openInWorker`: decode, convert and write on its thread, spans streamed into column chunks) the
 * same exports `npm run bench:query` sends, in the indexer's 4 MiB batches with two in flight, and prints
 * spans/s; then, as the same-run baseline, the same batches converted whole on this thread and written with
 * `SpanStore.write` (the path before the worker). INDEX_RATE_TRACES (default 25,000) traces × 20 spans,
 * INDEX_RATE_ROUNDS (default 3) alternating rounds; medians go to docs/benchmarks.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type ExportPayload, writeExports } from '@junjo/ingest/indexer/convert';
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

async function run(name: string, open: (file: string) => Promise<SpanStore>): Promise<Result> {
  const dir = mkdtempSync(path.join(tmpdir(), 'junjo-index-rate-'));
  const store = await open(path.join(dir, 'spans.duckdb'));
  const started = performance.now();
  const cpu = process.cpuUsage();
  const inFlight: Promise<number>[] = [];
  for (const [i, batch] of batches.entries()) {
    inFlight.push(writeExports(store, batch, i + 1));
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
const inThreadRuns: Result[] = [];
for (let round = 0; round < ROUNDS; round++) {
  workerRuns.push(await run('store worker', (file) => SpanStore.openInWorker(file)));
  inThreadRuns.push(await run('in-thread, whole batches', (file) => SpanStore.open(file)));
}
const median = (rs: Result[]) => [...rs].sort((a, b) => a.rate - b.rate)[Math.floor(rs.length / 2)]!;
const worker = median(workerRuns);
const inThread = median(inThreadRuns);
const ratio = worker.rate / inThread.rate;
console.log(`ratio worker / in-thread: ${ratio.toFixed(2)}`);
const fmt = (n: number) => n.toLocaleString('en');
writeReport(
  'bench:index',
  `## Indexer alone (\`npm run bench:index\`)

Machine: ${machine()}. Run at ${new Date().toISOString()}.

${fmt(set.spans)} small spans (the \`bench:query\` trace set: ${fmt(TRACES)} traces × 20 spans, 20 services) as ${fmt(set.requests.length)}
exports, in ${batches.length} batches of 4 MiB with two in flight, into a fresh DuckDB file; no receivers. Medians of ${ROUNDS} alternating rounds.

| path | spans/s | process CPU |
|---|---:|---:|
| store worker: decode, convert and lay out on the worker thread, spans streamed into 512-row chunks | ${fmt(worker.rate)} | ${worker.cores.toFixed(2)} cores |
| baseline: batch converted whole on the caller's thread, then \`SpanStore.write\` | ${fmt(inThread.rate)} | ${inThread.cores.toFixed(2)} cores |

Ratio worker / baseline: **${ratio.toFixed(2)}×**. The issue's indexing target is ≥ 100,000 spans/s; this is the
ceiling of the indexer on this machine before the receivers take their share of the two cores.`,
);
