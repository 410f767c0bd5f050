/**
 * `npm run bench:retention`: what retention costs the indexer, and whether it keeps the file from growing.
 * The span store on its worker thread, as ingest runs it (`SpanStore.openInWorker`, 64MB, one DuckDB thread),
 * written through the indexer's path (`writeExports`: OTLP bytes, converted on the worker) in batches of
 * 25,000 small spans, one at a time, each timed from hand-over to commit.
 *
 * RETENTION_ROUNDS rounds (default 6) of RETENTION_ROUND_SPANS spans (default 1M: 20-span traces over 20
 * services, live-shaped as in bench:query), each round an hour of start times after the one before. Rounds 0
 * and 1 are written with no retention; round 1 is the baseline. From round 2 on, a retention pass deleting
 * every span older than the round before (the whole of round r - 2) runs while round r is written, as it would
 * run in the background under steady load. So the store holds two rounds once retention starts, and a file
 * that reuses the blocks retention frees stays the same size from round to round.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeExports } from '@junjo/ingest/indexer/convert';
import { SpanStore } from '@junjo/ingest/store/index';
import { cpuShares, machine, mb, quantileOfSorted, writeReport } from './harness.ts';
import { buildTraceSet, withFreshIds } from './query-payloads.ts';

const ROUNDS = Number(process.env.RETENTION_ROUNDS ?? 6);
const ROUND_SPANS = Number(process.env.RETENTION_ROUND_SPANS ?? 1_000_000);
const BATCH_SPANS = 25_000;
const SPANS_PER_TRACE = 20;
const TRACES_PER_REQUEST = 25;
const HOUR_MS = 3_600_000;
// Rounds start an hour and a minute apart: an hour of traces, plus their few seconds of jitter, never overlaps
// the next round.
const ROUND_STEP_NS = BigInt(HOUR_MS + 60_000) * 1_000_000n;
if (ROUNDS < 3) throw new Error('RETENTION_ROUNDS must be at least 3 (two rounds before retention starts)');

// One hour of live-shaped traces, ending now; round r re-sends it under fresh ids, shifted so that the
// rounds follow each other and the last one ends now.
const builtAt = Date.now();
const template = buildTraceSet(
  ROUND_SPANS / SPANS_PER_TRACE,
  SPANS_PER_TRACE,
  20,
  TRACES_PER_REQUEST,
  HOUR_MS,
);
const requestsPerBatch = BATCH_SPANS / (SPANS_PER_TRACE * TRACES_PER_REQUEST);
const shift = (round: number) => BigInt(round - (ROUNDS - 1)) * ROUND_STEP_NS;
// Before the template's earliest start, which is at most an hour and 5 s (jitter) before it was built.
const templateStartNs = BigInt(builtAt - HOUR_MS - 6_000) * 1_000_000n;

const dir = mkdtempSync(path.join(tmpdir(), 'junjo-retention-'));
const file = path.join(dir, 'spans.duckdb');
const store = await SpanStore.openInWorker(file, { memoryLimit: '64MB', threads: 1 });
const fileBytes = () =>
  ['spans.duckdb', 'spans.duckdb.wal'].reduce((sum, f) => {
    try {
      return sum + statSync(path.join(dir, f)).size;
    } catch {
      return sum;
    }
  }, 0);

interface Round {
  round: number;
  spansPerSecond: number;
  batchMs: { p50: number; p95: number; max: number };
  retention?: { deleted: number; seconds: number; spansPerSecondDuring: number };
  storedSpans: number;
  bytes: number;
  steal: number;
}

let position = 0;
const rounds: Round[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const shares = cpuShares();
  // Retention from round 2: everything that started before round r - 1 (all of round r - 2).
  let retention: Promise<{ deleted: number; seconds: number }> | undefined;
  const started = performance.now();
  if (round >= 2) {
    const cutoffNs = templateStartNs + shift(round - 1);
    retention = store.deleteOlderThan(cutoffNs).then((deleted) => ({
      deleted,
      seconds: (performance.now() - started) / 1000,
    }));
  }
  const latencies: number[] = [];
  const committedAt: number[] = [];
  for (let first = 0; first < template.requests.length; first += requestsPerBatch) {
    const exports = template.requests.slice(first, first + requestsPerBatch).map((request) => ({
      position: ++position,
      payload: withFreshIds(request, round + 1, shift(round)),
    }));
    const t0 = performance.now();
    await writeExports(store, exports, position);
    latencies.push(performance.now() - t0);
    committedAt.push(performance.now());
  }
  const writeSeconds = (performance.now() - started) / 1000;
  const done = await retention;
  latencies.sort((a, b) => a - b);
  const stats = await store.stats();
  const result: Round = {
    round,
    spansPerSecond: Math.round(ROUND_SPANS / writeSeconds),
    batchMs: {
      p50: Math.round(quantileOfSorted(latencies, 0.5)),
      p95: Math.round(quantileOfSorted(latencies, 0.95)),
      max: Math.round(latencies.at(-1)!),
    },
    // The batches committed while the pass ran, over its duration.
    retention: done && {
      ...done,
      spansPerSecondDuring: Math.round(
        (committedAt.filter((t) => t <= started + done.seconds * 1000).length * BATCH_SPANS) / done.seconds,
      ),
    },
    storedSpans: stats.spans,
    bytes: fileBytes(),
    steal: shares().steal,
  };
  rounds.push(result);
  process.stdout.write(
    `round ${round}: ${result.spansPerSecond.toLocaleString('en')} spans/s, batch p50/p95/max ${result.batchMs.p50}/${result.batchMs.p95}/${result.batchMs.max} ms${done ? `; retention deleted ${done.deleted.toLocaleString('en')} spans in ${done.seconds.toFixed(1)} s` : ''}; ${stats.spans.toLocaleString('en')} spans stored, ${mb(result.bytes)}; steal ${result.steal}%\n`,
  );
}
await store.close();
rmSync(dir, { recursive: true, force: true });

const baseline = rounds[1]!;
const withRetention = rounds.slice(2);
const fmt = (n: number) => n.toLocaleString('en');
const sizes = withRetention.map((r) => r.bytes);
const growth = (sizes.at(-1)! - sizes[0]!) / sizes[0]!;
writeReport(
  'bench:retention',
  `## Retention under steady writes (\`npm run bench:retention\`)

Machine: ${machine()}. Run at ${new Date().toISOString()}.

The span store on its worker thread as ingest runs it (64MB, one DuckDB thread), written through the indexer's
path (OTLP bytes converted on the worker) in batches of ${fmt(BATCH_SPANS)} small spans, one at a time, each timed from
hand-over to commit. ${ROUNDS} rounds of ${fmt(ROUND_SPANS)} spans, each an hour of start times, an hour and a minute after the one before.
Rounds 0 and 1 run without retention (round 1 is the baseline). From round 2 on, a retention pass deleting every
span older than the previous round (all of round r − 2) runs while round r is written, as it runs in the
background under steady load; the store then holds two rounds.

| round | retention during it | spans/s written (while the pass ran) | ratio | batch p50 / p95 / max | stored after | file + WAL | steal |
|---|---|---:|---:|---:|---:|---:|---:|
${rounds
  .map(
    (r) =>
      `| ${r.round} | ${r.retention ? `${fmt(r.retention.deleted)} deleted in ${r.retention.seconds.toFixed(1)} s` : '—'} | ${fmt(r.spansPerSecond)}${r.retention ? ` (${fmt(r.retention.spansPerSecondDuring)})` : ''} | ${(r.spansPerSecond / baseline.spansPerSecond).toFixed(2)}×${r.retention ? ` (${(r.retention.spansPerSecondDuring / baseline.spansPerSecond).toFixed(2)}×)` : ''} | ${r.batchMs.p50} / ${r.batchMs.p95} / ${r.batchMs.max} ms | ${fmt(r.storedSpans)} | ${mb(r.bytes)} | ${r.steal}% |`,
  )
  .join('\n')}

- While a pass ran, batches committed at ${withRetention.map((r) => `${(r.retention!.spansPerSecondDuring / baseline.spansPerSecond).toFixed(2)}×`).join(', ')} the
  baseline's rate (round 1: ${fmt(baseline.spansPerSecond)} spans/s; the spans of the batches committed before the pass ended, over
  its duration); over whole rounds ${withRetention.map((r) => `${(r.spansPerSecond / baseline.spansPerSecond).toFixed(2)}×`).join(', ')}. Batch p95
  ${withRetention.map((r) => `${r.batchMs.p95}`).join(', ')} ms against ${baseline.batchMs.p95} ms.
- Retention deleted ${withRetention.map((r) => fmt(Math.round(r.retention!.deleted / r.retention!.seconds))).join(', ')} spans/s while the writes went on.
- The ratios are against round 1 of the same run. A batch that waits behind one of retention's delete
  steps (100,000 spans each, one transaction) or its closing checkpoint is what raises the p95.
- The file (with DuckDB's WAL) from round 2 to round ${ROUNDS - 1}, the store holding two rounds: ${sizes.map(mb).join(' → ')}
  (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(0)}%).
`,
);
process.stdout.write('\nwritten to docs/benchmarks.md\n');
process.exit(0);
