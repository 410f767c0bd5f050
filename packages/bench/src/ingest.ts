/**
 * `npm run bench:ingest`: OTLP ingest throughput, latency and memory on this machine, with baselines from
 * the same run (a no-op gRPC server, a decode-only server, raw WAL appends), so the figures are read as
 * ratios. Load generators run in their own processes. Figures go to stdout and docs/benchmarks.md.
 *
 * BENCH_SECONDS (default 60) is the measured window of the headline runs; BENCH_BASELINE_SECONDS
 * (default 20) that of the baselines and secondary runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { machine, mb, runTs, sampleRss, stop, waitForLine, writeReport } from './harness.ts';
import type { LoadResult } from './load/stats.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const BASELINE_SECONDS = Number(process.env.BENCH_BASELINE_SECONDS ?? 20);
const WARMUP = 3;
const CONCURRENCY = 16;

type Server = 'noop' | 'decode' | 'wal' | 'ingest';
type Transport = 'grpc' | 'http';
type Client = 'grpc' | 'http' | 'sdk';

interface Scenario {
  name: string;
  server: Server;
  transport: Transport;
  client: Client;
  kind: 'small' | 'llm';
  channels: number;
  seconds: number;
}

interface Row extends Scenario {
  result: LoadResult;
  rssPeakBytes: number;
}

async function createKey(dataDir: string): Promise<string> {
  const child = runTs('packages/bench/src/create-key.ts', [], {
    ...process.env,
    JUNJO_DATA_DIR: dataDir,
    JUNJO_LOG_LEVEL: 'warn',
  });
  return waitForLine(child, /^key (\S+)$/);
}

async function run(s: Scenario): Promise<Row> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'junjo-bench-'));
  try {
    const key = s.server === 'ingest' ? await createKey(dataDir) : 'unused';
    const server =
      s.server === 'ingest'
        ? runTs('packages/ingest/src/main.ts', [], {
            ...process.env,
            JUNJO_DATA_DIR: dataDir,
            JUNJO_LOG_LEVEL: 'warn',
            JUNJO_INGEST_HOST: '127.0.0.1',
            GRPC_PORT: '0',
            OTLP_HTTP_PORT: '0',
            // The receivers alone (as the issue asks): no indexer, so nothing releases the WAL; lift the limit.
            JUNJO_INDEXER: 'off',
            JUNJO_WAL_MAX_UNRELEASED_BYTES: String(2 ** 45),
          })
        : runTs('packages/bench/src/servers/baseline.ts', [s.transport, s.server, path.join(dataDir, 'wal')]);
    const port = Number(
      await waitForLine(
        server,
        s.server === 'ingest'
          ? new RegExp(`OTLP/${s.transport === 'grpc' ? 'gRPC' : 'HTTP'} \\S+:(\\d+)`)
          : /^listening (\d+)$/,
      ),
    );
    const rss = sampleRss(server.pid!);
    const options = {
      port,
      seconds: s.seconds,
      warmupSeconds: WARMUP,
      concurrency: CONCURRENCY,
      channels: s.channels,
      kind: s.kind,
      key,
    };
    const load = runTs(`packages/bench/src/load/${s.client}.ts`, [JSON.stringify(options)]);
    const line = await waitForLine(load, /^(\{.*\})$/);
    const rssPeakBytes = rss();
    await stop(server);
    const result = JSON.parse(line) as LoadResult;
    const row = { ...s, result, rssPeakBytes };
    process.stdout.write(`${format(row)}\n`);
    return row;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const k = (n: number) => `${Math.round(n / 1000).toLocaleString('en')}K`;
function format(r: Row): string {
  return `${r.name.padEnd(44)} ${k(r.result.spansPerSecond).padStart(6)} spans/s  p50 ${r.result.p50Ms} ms  p99 ${r.result.p99Ms} ms  RSS peak ${mb(r.rssPeakBytes)}  errors ${r.result.errors}${r.result.errorSample ? ` (${r.result.errorSample})` : ''}`;
}

const scenarios: Scenario[] = [
  {
    name: 'gRPC no-op server, small spans',
    server: 'noop',
    transport: 'grpc',
    client: 'grpc',
    kind: 'small',
    channels: 4,
    seconds: BASELINE_SECONDS,
  },
  {
    name: 'gRPC decode-only server (protobufjs), small',
    server: 'decode',
    transport: 'grpc',
    client: 'grpc',
    kind: 'small',
    channels: 4,
    seconds: BASELINE_SECONDS,
  },
  {
    name: 'gRPC raw WAL appends (fsync), small',
    server: 'wal',
    transport: 'grpc',
    client: 'grpc',
    kind: 'small',
    channels: 4,
    seconds: BASELINE_SECONDS,
  },
  {
    name: 'gRPC Junjo ingest, small spans',
    server: 'ingest',
    transport: 'grpc',
    client: 'grpc',
    kind: 'small',
    channels: 4,
    seconds: SECONDS,
  },
  {
    name: 'gRPC no-op server, LLM-sized spans',
    server: 'noop',
    transport: 'grpc',
    client: 'grpc',
    kind: 'llm',
    channels: 4,
    seconds: BASELINE_SECONDS,
  },
  {
    name: 'gRPC decode-only server, LLM-sized',
    server: 'decode',
    transport: 'grpc',
    client: 'grpc',
    kind: 'llm',
    channels: 4,
    seconds: BASELINE_SECONDS,
  },
  {
    name: 'gRPC Junjo ingest, LLM-sized spans',
    server: 'ingest',
    transport: 'grpc',
    client: 'grpc',
    kind: 'llm',
    channels: 4,
    seconds: SECONDS,
  },
  {
    name: 'gRPC no-op server, small, 1 connection',
    server: 'noop',
    transport: 'grpc',
    client: 'grpc',
    kind: 'small',
    channels: 1,
    seconds: BASELINE_SECONDS,
  },
  {
    name: 'gRPC Junjo ingest, small, 1 connection',
    server: 'ingest',
    transport: 'grpc',
    client: 'grpc',
    kind: 'small',
    channels: 1,
    seconds: BASELINE_SECONDS,
  },
  {
    name: 'HTTP no-op server, small spans',
    server: 'noop',
    transport: 'http',
    client: 'http',
    kind: 'small',
    channels: 1,
    seconds: BASELINE_SECONDS,
  },
  {
    name: 'HTTP Junjo ingest, small spans',
    server: 'ingest',
    transport: 'http',
    client: 'http',
    kind: 'small',
    channels: 1,
    seconds: BASELINE_SECONDS,
  },
  {
    name: 'HTTP Junjo ingest, LLM-sized spans',
    server: 'ingest',
    transport: 'http',
    client: 'http',
    kind: 'llm',
    channels: 1,
    seconds: BASELINE_SECONDS,
  },
  {
    name: 'OTel JS SDK exporter → no-op server',
    server: 'noop',
    transport: 'grpc',
    client: 'sdk',
    kind: 'small',
    channels: 1,
    seconds: BASELINE_SECONDS,
  },
  {
    name: 'OTel JS SDK exporter → Junjo ingest',
    server: 'ingest',
    transport: 'grpc',
    client: 'sdk',
    kind: 'small',
    channels: 1,
    seconds: BASELINE_SECONDS,
  },
];

const only = process.argv[2];
const rows: Row[] = [];
for (const s of scenarios) {
  if (only && !s.name.toLowerCase().includes(only.toLowerCase())) continue;
  rows.push(await run(s));
}

const find = (name: string) => rows.find((r) => r.name === name)?.result.spansPerSecond;
const ratio = (a?: number, b?: number) => (a && b ? `${(a / b).toFixed(2)}×` : 'n/a');
const ingestSmall = find('gRPC Junjo ingest, small spans');
const table = [
  '| scenario | spans/s | p50 | p99 | server RSS peak | errors | seconds |',
  '|---|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.name} | ${r.result.spansPerSecond.toLocaleString('en')} | ${r.result.p50Ms} ms | ${r.result.p99Ms} ms | ${mb(r.rssPeakBytes)} | ${r.result.errors} | ${r.seconds} |`,
  ),
].join('\n');

writeReport(
  'bench:ingest',
  `## Ingest (\`npm run bench:ingest\`)

Machine: ${machine()}. Run at ${new Date().toISOString()}.

Each load generator is its own process sending pre-encoded ExportTraceServiceRequests of 512 spans with
${CONCURRENCY} requests in flight (over 4 HTTP/2 connections unless noted), after a ${WARMUP} s warm-up.
Small spans have 4 attributes; LLM-sized spans carry ~5 KB of attributes and a set_state event. Junjo ingest
acknowledges each export only after its group-committed fsync; the indexer is not running. Server and load
generator share the machine's 2 cores.

${table}

Ratios (same run): Junjo ingest small-span throughput is ${ratio(ingestSmall, find('gRPC no-op server, small spans'))} of the no-op gRPC server,
${ratio(ingestSmall, find('gRPC decode-only server (protobufjs), small'))} of the decode-only server and
${ratio(ingestSmall, find('gRPC raw WAL appends (fsync), small'))} of raw WAL appends; LLM-sized: ${ratio(find('gRPC Junjo ingest, LLM-sized spans'), find('gRPC decode-only server, LLM-sized'))} of decode-only.
The OTel JS SDK as the client reaches ${ratio(find('OTel JS SDK exporter → Junjo ingest'), find('OTel JS SDK exporter → no-op server'))} of its rate against a no-op server.`,
);
process.stdout.write('\nwritten to docs/benchmarks.md\n');
