/**
 * `npx tsx packages/bench/src/index-rate.ts`: the indexer's side alone. Feeds the store worker
 * (`SpanStore.openInWorker`) the same exports `npm run bench:query` sends, in the indexer's 4 MiB batches
 * with two in flight, and prints spans/s; then the same batches through the in-thread store (conversion and
 * writes on this thread) as the baseline. INDEX_RATE_TRACES (default 25,000) traces × 20 spans.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type ExportPayload, writeExports } from '@junjo/ingest/indexer/convert';
import { SpanStore } from '@junjo/ingest/store/index';
import { buildTraceSet } from './query-payloads.ts';

const TRACES = Number(process.env.INDEX_RATE_TRACES ?? 25_000);
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

async function run(name: string, open: (file: string) => Promise<SpanStore>): Promise<number> {
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
  console.log(
    `${name}: ${set.spans} spans in ${batches.length} batches, ${rate} spans/s, ` +
      `process CPU ${((used.user + used.system) / 1e6 / seconds).toFixed(2)} cores`,
  );
  return rate;
}

const worker = await run('store worker', (file) => SpanStore.openInWorker(file));
const inThread = await run('in-thread store', (file) => SpanStore.open(file));
console.log(`ratio worker / in-thread: ${(worker / inThread).toFixed(2)}`);
