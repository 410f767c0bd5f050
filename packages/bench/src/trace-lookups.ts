/**
 * `npm run bench:lookups`: trace lookups in a store with more traces than the in-memory trace index holds
 * (store/trace-index.ts). Writes LOOKUPS_TRACES traces (default 200,000 × 20 spans) through
 * `SpanStore.write` into a fresh file, then reopens it three times with a different index capacity
 * (`traceIndexMaxTraces`) and times `traceSpans` for the most recent tenth of the traces and for the oldest
 * tenth:
 * - above the number of traces: every trace held (the baseline, as in `bench:query`);
 * - LOOKUPS_TRACES / 2: the index holds the most recent quarter and has evicted the rest;
 * - 0: every trace evicted, so every lookup reads trace_times first. Before the index evicted, this is what
 *   every lookup cost once a store outgrew the index.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SpanStore } from '@junjo/ingest/store/index';
import { machine, quantileOfSorted, writeReport } from './harness.ts';
import { generateSpanRecords } from './store-records.ts';

const TRACES = Number(process.env.LOOKUPS_TRACES ?? 200_000);
const RUNS = Number(process.env.LOOKUPS_RUNS ?? 300);
const SPANS_PER_TRACE = 20;
const TRACES_PER_BATCH = 2500;
const START_NS = BigInt(Date.now() - 86_400_000) * 1_000_000n;

const dir = mkdtempSync(path.join(tmpdir(), 'junjo-lookups-'));
const file = path.join(dir, 'spans.duckdb');
const traceIds: string[] = [];
let loadSeconds = 0;
{
  const store = await SpanStore.open(file);
  const inFlight: Promise<void>[] = [];
  let written = 0;
  const started = performance.now();
  for (let first = 0; first < TRACES; first += TRACES_PER_BATCH) {
    const batch = generateSpanRecords({
      traces: Math.min(TRACES_PER_BATCH, TRACES - first),
      spansPerTrace: SPANS_PER_TRACE,
      services: 20,
      startNs: START_NS,
      firstTrace: first,
    });
    for (let i = 0; i < batch.length; i += SPANS_PER_TRACE) traceIds.push(batch[i]!.traceId);
    written += batch.length;
    inFlight.push(store.write(batch, written));
    if (inFlight.length === 2) await inFlight.shift();
    if (first % 50_000 === 0) process.stdout.write(`written ${written.toLocaleString('en')} spans…\n`);
  }
  await Promise.all(inFlight);
  loadSeconds = (performance.now() - started) / 1000;
  await store.close();
}
console.log(
  `${(TRACES * SPANS_PER_TRACE).toLocaleString('en')} spans written in ${loadSeconds.toFixed(1)} s`,
);

interface Timing {
  p50: number;
  p95: number;
}
const tenth = Math.max(1, Math.floor(TRACES / 10));

async function lookups(store: SpanStore, from: number, to: number): Promise<Timing> {
  const times: number[] = [];
  for (let i = 0; i < RUNS + 20; i++) {
    const traceId = traceIds[from + Math.floor(Math.random() * (to - from))]!;
    const started = performance.now();
    const spans = await store.traceSpans(traceId);
    if (i >= 20) times.push(performance.now() - started);
    if (spans === '[]') throw new Error(`trace ${traceId} not found`);
  }
  times.sort((a, b) => a - b);
  return { p50: quantileOfSorted(times, 0.5), p95: quantileOfSorted(times, 0.95) };
}

const capacities = [
  { label: 'every trace held (baseline)', max: TRACES * 2 },
  {
    label: `capacity ${(TRACES / 2).toLocaleString('en')}: most recent quarter held`,
    max: Math.floor(TRACES / 2),
  },
  { label: 'capacity 0: every trace evicted', max: 0 },
];
const rows: Array<{
  label: string;
  indexed: number;
  evicted: number;
  openMs: number;
  recent: Timing;
  old: Timing;
}> = [];
for (const { label, max } of capacities) {
  const started = performance.now();
  const store = await SpanStore.open(file, { traceIndexMaxTraces: max });
  const openMs = performance.now() - started;
  const { indexedTraces, evictedTraces } = await store.stats();
  const recent = await lookups(store, TRACES - tenth, TRACES);
  const old = await lookups(store, 0, tenth);
  await store.close();
  console.log(
    `${label}: open ${openMs.toFixed(0)} ms, ${indexedTraces} held, ${evictedTraces} evicted; recent p50 ${recent.p50.toFixed(2)} / p95 ${recent.p95.toFixed(2)} ms, oldest p50 ${old.p50.toFixed(2)} / p95 ${old.p95.toFixed(2)} ms`,
  );
  rows.push({ label, indexed: indexedTraces, evicted: evictedTraces, openMs, recent, old });
}
rmSync(dir, { recursive: true, force: true });

const ms = (t: Timing) => `${t.p50.toFixed(2)} / ${t.p95.toFixed(2)} ms`;
const base = rows[0]!;
const ratio = (t: Timing, b: Timing) => `${(t.p50 / b.p50).toFixed(2)}×`;
const fmt = (n: number) => n.toLocaleString('en');
writeReport(
  'bench:lookups',
  `## Trace lookups past the trace index's capacity (\`npm run bench:lookups\`)

Machine: ${machine()}. Run at ${new Date().toISOString()}.

${fmt(TRACES * SPANS_PER_TRACE)} spans (${fmt(TRACES)} traces × ${SPANS_PER_TRACE}, in time order) written through \`SpanStore.write\`
(${loadSeconds.toFixed(1)} s), then the file reopened with three capacities of the in-memory trace index. p50 / p95 of
\`traceSpans\` over ${RUNS} lookups each, on this thread, nothing else running: among the most recent ${fmt(tenth)} traces and
among the oldest ${fmt(tenth)}. The ratio is p50 against the baseline of the same run.

| trace index | held / evicted | open | recent traces | ratio | oldest traces | ratio |
|---|---:|---:|---:|---:|---:|---:|
${rows.map((r) => `| ${r.label} | ${fmt(r.indexed)} / ${fmt(r.evicted)} | ${r.openMs.toFixed(0)} ms | ${ms(r.recent)} | ${ratio(r.recent, base.recent)} | ${ms(r.old)} | ${ratio(r.old, base.old)} |`).join('\n')}

A lookup of an evicted trace reads its time range from \`trace_times\` first, a scan that grows with the
number of traces stored; the most recent traces stay held and never do.
`,
);
