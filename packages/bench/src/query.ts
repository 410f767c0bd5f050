/**
 * `npm run bench:query`: indexing throughput and query latency of the span store, through the real ingest
 * path. Loads BENCH_TRACES (default 50,000) traces × 20 spans over 20 services into a real ingest process
 * over OTLP/gRPC, measures ingest → queryable throughput, then the p50/p95 of the four hot queries at the
 * query service alone and through the HTTP handlers, idle and while ingest runs at half its measured rate;
 * whether the indexer keeps up with a load paced at 100,000 spans/s for 30 s; last, how soon a trace is
 * queryable after its export is acknowledged while ingest runs at half its measured rate again.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { cpuShares, machine, mb, runTs, sampleRss, stop, waitForLine, writeReport } from './harness.ts';
import type { LoadResult } from './load/stats.ts';
import { buildTraceSet } from './query-payloads.ts';

const TRACES = Number(process.env.BENCH_TRACES ?? 50_000);
const RUNS = Number(process.env.BENCH_QUERY_RUNS ?? 200);
// The background load's rate during the "during ingest" queries; default half the end-to-end rate measured in
// phase 1. Fixing it (e.g. 50000) makes two runs comparable when phase 1's rate differs between them.
const BACKGROUND_RATE = process.env.BENCH_BACKGROUND_RATE
  ? Number(process.env.BENCH_BACKGROUND_RATE)
  : undefined;
// The background load generator stands in for applications on other machines, but shares this machine's
// cores with the server. It runs at this nice level (default 10, lower priority) so that it takes the CPU
// the server leaves rather than the server's; the rate it achieved is checked and reported. 0 runs it at the
// server's priority.
const BACKGROUND_NICE = Number(process.env.BENCH_BACKGROUND_NICE ?? 10);
// Phase 4 (the issue's "sustains ≥ 100,000 spans/s with a stable backlog"): the paced rate and how long.
const SUSTAINED_RATE = Number(process.env.BENCH_SUSTAINED_RATE ?? 100_000);
const SUSTAINED_SECONDS = Number(process.env.BENCH_SUSTAINED_SECONDS ?? 30);
// Phase 5's freshness probes: for this long, a few a second (several of DuckDB's checkpoints at 50K spans/s).
const FRESHNESS_SECONDS = Number(process.env.BENCH_FRESHNESS_SECONDS ?? 30);
const dataDir = mkdtempSync(path.join(tmpdir(), 'junjo-bench-query-'));
Object.assign(process.env, { JUNJO_DATA_DIR: dataDir, JUNJO_LOG_LEVEL: 'warn' });

const Config = await import('@junjo/core/config');
const ApiKey = await import('@junjo/core/api-key');
const SpanQuery = await import('@junjo/core/span-query');
const User = await import('@junjo/core/user');
const Session = await import('@junjo/core/session');

// BENCH_INGEST_ENTRY=dist/ingest/main.mjs (after `npm run build -- ingest`) measures the bundle the container
// runs instead of the sources through tsx, as `npm start` runs them.
const INGEST_ENTRY = process.env.BENCH_INGEST_ENTRY ?? 'packages/ingest/src/main.ts';
const ingest = runTs(INGEST_ENTRY, [], {
  ...process.env,
  JUNJO_INGEST_HOST: '127.0.0.1',
  GRPC_PORT: '0',
  OTLP_HTTP_PORT: '0',
  INTERNAL_GRPC_PORT: '0',
  JUNJO_WAL_MAX_UNRELEASED_BYTES: String(2 ** 40),
});
const ready = await waitForLine(ingest, /^(ingest listening: .*)$/);
const grpcPort = Number(/OTLP\/gRPC \S+:(\d+)/.exec(ready)![1]);
const queryPort = Number(/query \S+:(\d+)/.exec(ready)![1]);
Config.update({ queryUrl: `127.0.0.1:${queryPort}`, queryTimeoutMs: 60_000 });
const rss = sampleRss(ingest.pid!);

const { key } = await ApiKey.create('bench');
const user = await User.createFirst({ email: 'bench@example.com', password: 'bench password' });
const cookie = `session=${(await Session.create(user.id)).token}`;

// Phase 1: 1M spans through OTLP/gRPC, then until the indexer has made them queryable.
const set = buildTraceSet(TRACES, 20, 20);
process.stdout.write(`loading ${set.spans.toLocaleString('en')} spans in ${set.requests.length} requests…\n`);
const clients = Array.from(
  { length: 4 },
  (_, i) =>
    new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure(), {
      'grpc-node.bench_channel': i,
    } as grpc.ChannelOptions),
);
const metadata = new grpc.Metadata();
metadata.set('x-junjo-api-key', key);
const raw = (b: Buffer) => b;
const EXPORT = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const loadStart = performance.now();
let nextRequest = 0;
await Promise.all(
  Array.from({ length: 16 }, async (_, slot) => {
    while (nextRequest < set.requests.length) {
      const body = set.requests[nextRequest++]!;
      await new Promise<void>((resolve, reject) =>
        clients[slot % clients.length]!.makeUnaryRequest(EXPORT, raw, raw, body, metadata, (error) =>
          error ? reject(error) : resolve(),
        ),
      );
    }
  }),
);
const acknowledgedAt = performance.now();
await SpanQuery.flushWal();
const queryableAt = performance.now();
// Measured now, while the store holds exactly the loaded spans (the background load below adds more).
const files = ['spans.duckdb', 'spans.duckdb.wal'].map((f) => {
  try {
    return statSync(path.join(dataDir, f)).size;
  } catch {
    return 0;
  }
});
const bytesPerSpan = (files[0]! + files[1]!) / set.spans;
for (const client of clients) client.close();
const ingestRate = set.spans / ((acknowledgedAt - loadStart) / 1000);
const indexRate = set.spans / ((queryableAt - loadStart) / 1000);
process.stdout.write(
  `acknowledged at ${Math.round(ingestRate).toLocaleString('en')} spans/s; queryable end to end at ${Math.round(indexRate).toLocaleString('en')} spans/s\n`,
);

// Phase 2 and 3: the four hot queries, at the query service and through the HTTP handlers.
type Handler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;
const load = async (module: string) =>
  ((await import(`@junjo/functions/${module}`)) as { handler: Handler }).handler;
const handlers = {
  trace: await load('observability/trace-spans'),
  roots: await load('observability/root-spans'),
  services: await load('observability/services'),
};
const context = {
  getRemainingTimeInMillis: () => 30_000,
  functionName: 'bench',
  awsRequestId: 'bench',
} as unknown as Context;
function event(
  routeKey: string,
  pathParameters: Record<string, string>,
  query?: Record<string, string>,
): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey,
    rawPath: '/',
    rawQueryString: new URLSearchParams(query).toString(),
    cookies: [cookie],
    headers: { host: 'bench' },
    ...(query ? { queryStringParameters: query } : {}),
    pathParameters,
    requestContext: {
      http: { method: 'GET', path: '/', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bench' },
      requestId: randomUUID(),
      routeKey,
    },
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)]!;
const queries: Record<string, { service: () => Promise<unknown>; http: () => Promise<unknown> }> = {
  'trace by id': {
    service: () => SpanQuery.traceSpans(pick(set.traceIds)),
    http: async () => {
      const r = await handlers.trace(
        event('GET /api/v1/observability/traces/{trace_id}/spans', { trace_id: pick(set.traceIds) }),
        context,
      );
      if (r.statusCode !== 200) throw new Error(`HTTP ${r.statusCode}`);
    },
  },
  'root spans (limit 500)': {
    service: () => SpanQuery.rootSpans(pick(set.services), 500, false),
    http: () =>
      handlers.roots(
        event(
          'GET /api/v1/observability/services/{service}/spans/root',
          { service: pick(set.services) },
          { limit: '500' },
        ),
        context,
      ),
  },
  'root spans, has_llm (limit 500)': {
    service: () => SpanQuery.rootSpans(pick(set.services), 500, true),
    http: () =>
      handlers.roots(
        event(
          'GET /api/v1/observability/services/{service}/spans/root',
          { service: pick(set.services) },
          { limit: '500', has_llm: 'true' },
        ),
        context,
      ),
  },
  'services list': {
    service: () => SpanQuery.services(),
    http: () => handlers.services(event('GET /api/v1/observability/services', {}), context),
  },
};

async function percentiles(fn: () => Promise<unknown>): Promise<{ p50: number; p95: number }> {
  for (let i = 0; i < 5; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => Number(times[Math.floor(q * (times.length - 1))]!.toFixed(1));
  return { p50: at(0.5), p95: at(0.95) };
}

/** p95 targets of issue 5, ms. */
const TARGET_P95: Record<string, number> = {
  'trace by id': 20,
  'root spans (limit 500)': 100,
  'root spans, has_llm (limit 500)': 150,
  'services list': 10,
};
const verdicts: string[] = [];

async function measureAll(label: string) {
  const rows: string[] = [];
  for (const [name, q] of Object.entries(queries)) {
    const service = await percentiles(q.service);
    const http = await percentiles(q.http);
    const line = `| ${name} | ${label} | ${service.p50} / ${service.p95} ms | ${http.p50} / ${http.p95} ms |`;
    process.stdout.write(`${line}\n`);
    rows.push(line);
    const target = TARGET_P95[name]!;
    const met = service.p95 <= target && http.p95 <= target;
    verdicts.push(
      `- ${name}, ${label}: p95 ≤ ${target} ms — ${met ? 'met' : '**not met**'} (${service.p95} ms at the query service, ${http.p95} ms through the handler)`,
    );
  }
  return rows;
}

/**
 * A load generator process (load/grpc.ts) sending live-shaped traces paced at `rate` spans/s for up to
 * `seconds`, at BACKGROUND_NICE. `result` is its LoadResult, printed when it ends or when SIGTERM
 * (`child.kill`) ends it early; it rejects if the process dies first, for whoever awaits it then.
 */
function pacedLoad(rate: number, seconds: number, concurrency: number, channels: number) {
  const child = runTs('packages/bench/src/load/grpc.ts', [
    JSON.stringify({
      port: grpcPort,
      seconds,
      warmupSeconds: 0,
      concurrency,
      channels,
      kind: 'traces',
      key,
      ratePerSecond: rate,
    }),
  ]);
  setPriority(child.pid!, BACKGROUND_NICE);
  const result = waitForLine(child, /^(\{.*"spansPerSecond".*\})$/).then(
    (line) => JSON.parse(line) as LoadResult,
  );
  result.catch(() => {});
  return { child, result };
}

/** A freshness probe: when it was acknowledged (ms, `performance.now()`), and how long after it was queryable. */
interface Probe {
  at: number;
  lag: number;
}

/**
 * How long after its export is acknowledged a trace becomes queryable: probes for `seconds`, one at a time,
 * each a live-shaped 20-span trace under a new id, sent over a connection of its own; then the query service
 * is asked for it every `pollMs` until it answers with its spans. Each lag is an upper bound, by up to one
 * poll and its query. The probes are spread over several of DuckDB's checkpoints, which hold up commits while
 * they run. They come in the order they were sent.
 */
async function freshness(seconds: number, pollMs: number): Promise<Probe[]> {
  const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
  const probes: Probe[] = [];
  try {
    const until = performance.now() + seconds * 1000;
    do {
      const probe = buildTraceSet(1, 20, 1, 1, 0);
      await new Promise<void>((resolve, reject) =>
        client.makeUnaryRequest(EXPORT, raw, raw, probe.requests[0]!, metadata, (error) =>
          error ? reject(error) : resolve(),
        ),
      );
      const acknowledged = performance.now();
      while ((await SpanQuery.traceSpans(probe.traceIds[0]!)) === '[]') {
        if (performance.now() - acknowledged > 60_000)
          throw new Error('a probe was not queryable after 60 s');
        await sleep(pollMs);
      }
      probes.push({ at: acknowledged, lag: performance.now() - acknowledged });
      await sleep(100 + Math.random() * 150);
    } while (performance.now() < until);
  } finally {
    client.close();
  }
  return probes;
}

/** The lags of `probes` sent in each third of the time from the first probe to the last. */
function thirds(probes: readonly Probe[]): number[][] {
  const first = probes[0]?.at ?? 0;
  const span = Math.max(1, (probes.at(-1)?.at ?? 0) - first);
  const out: number[][] = [[], [], []];
  for (const p of probes) out[Math.min(2, Math.floor((3 * (p.at - first)) / span))]!.push(p.lag);
  return out;
}

/** The `q` quantile of `values` (unsorted), rounded to a millisecond. */
function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.floor(q * (sorted.length - 1))] ?? Number.NaN);
}

const idleShares = cpuShares();
const idle = await measureAll('idle');
const idleCpu = idleShares();
const rssIdle = rss();
const backgroundRate = BACKGROUND_RATE ?? Math.round(indexRate / 2);
const background = pacedLoad(backgroundRate, 600, 4, 1);
await new Promise((r) => setTimeout(r, 3000));
const peakBefore = sampleRss(ingest.pid!);
const busyShares = cpuShares();
const busy = await measureAll(`ingest at ${Math.round(backgroundRate / 1000)}K spans/s`);
const busyCpu = busyShares();
process.stdout.write(
  `CPU steal / idle: ${idleCpu.steal}% / ${idleCpu.idle}% during the idle queries, ${busyCpu.steal}% / ${busyCpu.idle}% during ingest\n`,
);
const rssBusy = peakBefore();
background.child.kill('SIGTERM');
const achieved = await background.result;
// Below this, the "during ingest" figures were taken under less load than they say.
const backgroundShort = achieved.spansPerSecond < backgroundRate * 0.95;
process.stdout.write(
  `background load: ${achieved.spansPerSecond.toLocaleString('en')} spans/s achieved of ${backgroundRate.toLocaleString('en')} aimed at, ${achieved.errors} failed exports${backgroundShort ? ' (SHORT of its aim)' : ''}\n`,
);

// Phase 4: the sustained rate. A load paced at SUSTAINED_RATE for SUSTAINED_SECONDS, from a load generator at
// the same nice level as the background load, with probes sent one at a time all through it (polled every
// 20 ms, to add little work). A probe's lag is the backlog ahead of it, in time. DuckDB checkpoints hold up
// commits for a second or so every few seconds at this rate, so the backlog is a sawtooth: it builds during each
// checkpoint and drains after. An indexer that keeps up drains it to the batches in flight each time; one that
// falls short by a few percent leaves more at each trough, growing through the load. So the verdict reads the
// troughs: the least lag of the probes in the first third of the load and in the last must each be at most a
// second, and the last at most 250 ms above the first (at 180,000 spans/s, above what the indexer keeps up
// with here, they read 77 ms and 1,049 ms, and 837 ms in the middle third; at 100,000, 25-42 ms). A shortfall
// of 1.5% grows the backlog by ~250 ms over the ~18 s between the two. The backlog left when the load stops,
// read by draining it, is reported beside them: it is one sample, and reads high when a checkpoint happens to
// be running at that instant.
await SpanQuery.flushWal();
process.stdout.write(
  `sustained: ${SUSTAINED_RATE.toLocaleString('en')} spans/s for ${SUSTAINED_SECONDS} s…\n`,
);
const sustainedShares = cpuShares();
const sustainedLoad = pacedLoad(SUSTAINED_RATE, SUSTAINED_SECONDS, 8, 2);
const sustainedProbes = sleep(1000).then(() => freshness(Math.max(1, SUSTAINED_SECONDS - 3), 20));
sustainedProbes.catch(() => {});
const sustained = await sustainedLoad.result;
const sustainedCpu = sustainedShares();
const drainStart = performance.now();
const backlog = (await SpanQuery.flushWal()).spansIndexed;
const drainSeconds = (performance.now() - drainStart) / 1000;
const probesDuring = await sustainedProbes;
const lagsDuring = probesDuring.map((p) => p.lag);
const trough = thirds(probesDuring).map((third) => quantile(third, 0));
const lagsDuringText = `p50 ${quantile(lagsDuring, 0.5)} ms, p95 ${quantile(lagsDuring, 0.95)} ms, max ${quantile(lagsDuring, 1)} ms over ${lagsDuring.length} probes; least in each third of the load ${trough.join(' / ')} ms`;
const sustainedMet =
  sustained.errors === 0 &&
  sustained.spansPerSecond >= SUSTAINED_RATE * 0.95 &&
  trough[0]! <= 1000 &&
  trough[2]! <= 1000 &&
  trough[2]! - trough[0]! <= 250;
process.stdout.write(
  `sustained: ${sustained.spansPerSecond.toLocaleString('en')} spans/s achieved, ${sustained.errors} failed exports; backlog when it stopped ${backlog.toLocaleString('en')} spans, indexed ${drainSeconds.toFixed(2)} s later; CPU steal / idle during the load ${sustainedCpu.steal}% / ${sustainedCpu.idle}%\n`,
);
process.stdout.write(`sustained: queryable after acknowledgement during the load: ${lagsDuringText}\n`);

// Phase 5: freshness, while a load like phase 3's runs again. Last, so that the store the sustained phase
// writes into is the same size as before this phase existed (its 30 s of load add ~1.5M spans).
await SpanQuery.flushWal();
const freshLoad = pacedLoad(backgroundRate, 600, 4, 1);
await sleep(3000);
const lags = (await freshness(FRESHNESS_SECONDS, 5)).map((p) => p.lag);
freshLoad.child.kill('SIGTERM');
const freshAchieved = await freshLoad.result;
const lagAt = (q: number) => quantile(lags, q);
process.stdout.write(
  `queryable after acknowledgement, during ingest at ${freshAchieved.spansPerSecond.toLocaleString('en')} spans/s: p50 ${lagAt(0.5)} ms, p95 ${lagAt(0.95)} ms, max ${lagAt(1)} ms over ${lags.length} probes\n`,
);

await stop(ingest);
SpanQuery.close();
rmSync(dataDir, { recursive: true, force: true });

writeReport(
  'bench:query',
  `## Span store: indexing and queries (\`npm run bench:query\`)

Machine: ${machine()}. Run at ${new Date().toISOString()}. Ingest process: \`${INGEST_ENTRY}\`.

${set.spans.toLocaleString('en')} spans (${TRACES.toLocaleString('en')} traces × 20 spans, 20 services, a tenth of the traces with an
LLM span, half of them workflows) sent through a real ingest process over OTLP/gRPC (16 requests in flight, 500
spans each), then \`POST /api/admin/flush-wal\`'s call waits until all are queryable.

- Acknowledged (fsync'd in the WAL) at **${Math.round(ingestRate).toLocaleString('en')} spans/s**; ingest → queryable end to end at
  **${Math.round(indexRate).toLocaleString('en')} spans/s** (first export sent to last span queryable).
- Sustained (after the queries): a load generator process at nice ${BACKGROUND_NICE} sent live-shaped 20-span traces paced at
  ${SUSTAINED_RATE.toLocaleString('en')} spans/s for ${SUSTAINED_SECONDS} s (BENCH_SUSTAINED_RATE, BENCH_SUSTAINED_SECONDS) and achieved
  **${sustained.spansPerSecond.toLocaleString('en')} spans/s** with ${sustained.errors} failed exports. When it stopped, **${backlog.toLocaleString('en')} spans** were
  still to index (${(backlog / Math.max(1, sustained.spansPerSecond)).toFixed(2)} s of that load), queryable ${drainSeconds.toFixed(2)} s later. CPU steal / idle
  during the load: ${sustainedCpu.steal}% / ${sustainedCpu.idle}%. Probe traces sent one at a time all through the
  load (each asked for every 20 ms until the query service returned it) were queryable after ${lagsDuringText}.
  A probe's lag is the backlog ahead of it; DuckDB's checkpoints hold commits for a second or so every few
  seconds at this rate, so the backlog builds during each and drains after. Its troughs are what grows when the
  indexer falls short, and the verdict below reads them; the backlog left at the stop depends on whether a
  checkpoint was running at that instant.
- Freshness during ingest (last, after the sustained phase, with a load paced like the one below: it achieved
  ${freshAchieved.spansPerSecond.toLocaleString('en')} spans/s): ${lags.length} probe traces over
  ${FRESHNESS_SECONDS} s, one at a time, each asked for every 5 ms from its acknowledgement until the query service returned it:
  queryable after **p50 ${lagAt(0.5)} ms, p95 ${lagAt(0.95)} ms** (max ${lagAt(1)} ms).
- DuckDB: **${bytesPerSpan.toFixed(0)} bytes per span** (database file and its WAL, after the load).
- Ingest process RSS: peak ${mb(rssIdle)} through loading and idle queries; ${mb(rssBusy)} while serving queries during ingest.

p50 / p95 over ${RUNS} runs each, at the query service (gRPC, as the handlers call it) and through the HTTP handler
(the exported Lambda handler with a real session, in this process). "During ingest": a load generator process
sends new spans of the same shape (20-span traces under fresh ids) at ${BACKGROUND_RATE === undefined ? 'half the end-to-end rate above' : `${backgroundRate.toLocaleString('en')} spans/s (BENCH_BACKGROUND_RATE)`}, paced,
while the queries run. It achieved ${achieved.spansPerSecond.toLocaleString('en')} spans/s over its run${backgroundShort ? ' (**short of its aim: the "during ingest" rows were measured under less load**)' : ''}, and ${achieved.errors} of
its exports failed. Load generator, benchmark and ingest process share the machine's 2 cores; the load generator,
which stands in for applications on other machines, runs at nice ${BACKGROUND_NICE} (BENCH_BACKGROUND_NICE). CPU time the
hypervisor gave to other guests (steal) / left idle: ${idleCpu.steal}% / ${idleCpu.idle}% during the idle queries, ${busyCpu.steal}% / ${busyCpu.idle}% during ingest.

| query | load | query service | HTTP handler |
|---|---|---:|---:|
${[...idle, ...busy].join('\n')}

Against the issue's targets (computed by the benchmark from the figures above):

- Indexing sustains ${SUSTAINED_RATE.toLocaleString('en')} spans/s with a stable backlog (the backlog drains to at most a second's lag between checkpoints, in the first third of a ${SUSTAINED_SECONDS} s paced load and in the last, and grows by at most 250 ms from one to the other: the least probe lag in each) — ${sustainedMet ? 'met' : '**not met**'} (${sustained.spansPerSecond.toLocaleString('en')} spans/s achieved; least lag ${trough[0]} ms in the first third, ${trough[2]} ms in the last; ${backlog.toLocaleString('en')} spans left when it stopped)
- Spans queryable within 1 s (p95) of acknowledgement while ingest runs at ${Math.round(freshAchieved.spansPerSecond / 1000)}K spans/s — ${lagAt(0.95) <= 1000 ? 'met' : '**not met**'} (p95 ${lagAt(0.95)} ms)
- A 1M-span burst queryable end to end at ≥ 100,000 spans/s — ${indexRate >= 100_000 ? 'met' : '**not met**'} (${Math.round(indexRate).toLocaleString('en')} spans/s)
- Ingest RSS ≤ 512 MB while serving queries during ingest — ${rssBusy <= 512 * 2 ** 20 ? 'met' : '**not met**'} (${mb(rssBusy)})
${verdicts.join('\n')}${backgroundShort ? '\n- The background load fell short of its aim: the "during ingest" verdicts above do not count.' : ''}`,
);
process.stdout.write('\nwritten to docs/benchmarks.md\n');
process.exit(0);
