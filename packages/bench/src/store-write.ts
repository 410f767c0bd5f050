/**
 * `npx tsx packages/bench/src/store-write.ts [name filter]`: how fast can the indexer put span records into
 * DuckDB? Times candidate write paths on the same generated small spans, each into a fresh file, in batches
 * that each commit together with a WAL checkpoint (as the indexer does), including the final CHECKPOINT
 * that moves the last batches from DuckDB's WAL into the file. Candidates run round-robin for
 * STORE_WRITE_ROUNDS rounds (this machine is shared, so single runs are noisy); prints the median and best
 * rows/s and the process CPU time per span (DuckDB's threads included).
 *
 * STORE_WRITE_ROWS (default 200,000) records, STORE_WRITE_BATCH (default 25,000) per transaction.
 *
 * Then the sustained rate, which 200,000 rows do not show: STORE_WRITE_SUSTAINED_ROWS (default 1,000,000)
 * spans through `SpanStore.write`, generated batch by batch (as an indexer converts them) with two batches in
 * flight, once with the store's checkpoint threshold and once with DuckDB's default 16MB, printing the rate
 * of each 200,000-span stretch.
 */
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  BIGINT,
  BOOLEAN,
  type DuckDBConnection,
  DuckDBDataChunk,
  DuckDBInstance,
  type DuckDBType,
  INTEGER,
  UBIGINT,
  UHUGEINT,
  VARCHAR,
} from '@duckdb/node-api';
import { type SpanRecordInput, SpanStore } from '@junjo/ingest/store/index';
import { generateSpanRecords } from './store-records.ts';

const ROWS = Number(process.env.STORE_WRITE_ROWS ?? 200_000);
const BATCH = Number(process.env.STORE_WRITE_BATCH ?? 25_000);
const ROUNDS = Number(process.env.STORE_WRITE_ROUNDS ?? 3);
const SUSTAINED_ROWS = Number(process.env.STORE_WRITE_SUSTAINED_ROWS ?? 1_000_000);
const CHUNK_ROWS = 2048;

type Loader = (conn: DuckDBConnection, batch: readonly SpanRecordInput[], dir: string) => Promise<void>;

interface Candidate {
  name: string;
  /** Tables (and indexes) the loader writes to. */
  schema: string;
  load: Loader;
}

const CHECKPOINT_TABLE =
  'CREATE TABLE ingest_checkpoint (id INTEGER PRIMARY KEY, wal_position BIGINT NOT NULL);';

const STRING_IDS = `
CREATE TABLE spans (trace_id VARCHAR NOT NULL, span_id VARCHAR NOT NULL, parent_span_id VARCHAR,
  service_name VARCHAR NOT NULL, start_ns BIGINT NOT NULL, end_ns BIGINT NOT NULL,
  junjo_span_type VARCHAR NOT NULL, is_llm BOOLEAN NOT NULL, json VARCHAR NOT NULL);
CREATE TABLE state_patches (trace_id VARCHAR NOT NULL, span_id VARCHAR NOT NULL, span_start_ns BIGINT NOT NULL,
  event_index INTEGER NOT NULL, time_ns BIGINT NOT NULL, store_id VARCHAR NOT NULL, store_name VARCHAR NOT NULL,
  action VARCHAR NOT NULL, patch_id VARCHAR NOT NULL, patch VARCHAR NOT NULL);
${CHECKPOINT_TABLE}`;

/** The schema the Python server had: a primary key and six secondary indexes. */
const OLD_SCHEMA = `
CREATE TABLE spans (trace_id VARCHAR NOT NULL, span_id VARCHAR NOT NULL, parent_span_id VARCHAR,
  service_name VARCHAR NOT NULL, start_ns BIGINT NOT NULL, end_ns BIGINT NOT NULL,
  junjo_span_type VARCHAR NOT NULL, is_llm BOOLEAN NOT NULL, json VARCHAR NOT NULL,
  PRIMARY KEY (trace_id, span_id));
CREATE INDEX spans_trace ON spans (trace_id);
CREATE INDEX spans_service ON spans (service_name);
CREATE INDEX spans_start ON spans (start_ns);
CREATE INDEX spans_parent ON spans (parent_span_id);
CREATE INDEX spans_type ON spans (junjo_span_type);
CREATE INDEX spans_llm ON spans (is_llm);
CREATE TABLE state_patches (trace_id VARCHAR NOT NULL, span_id VARCHAR NOT NULL, span_start_ns BIGINT NOT NULL,
  event_index INTEGER NOT NULL, time_ns BIGINT NOT NULL, store_id VARCHAR NOT NULL, store_name VARCHAR NOT NULL,
  action VARCHAR NOT NULL, patch_id VARCHAR NOT NULL, patch VARCHAR NOT NULL);
${CHECKPOINT_TABLE}`;

const INT_IDS_FSST = `
CREATE TABLE spans (trace_id UHUGEINT NOT NULL, span_id UBIGINT NOT NULL, parent_span_id UBIGINT,
  service_name VARCHAR NOT NULL, start_ns BIGINT NOT NULL, end_ns BIGINT NOT NULL,
  junjo_span_type VARCHAR NOT NULL, is_llm BOOLEAN NOT NULL, json VARCHAR NOT NULL USING COMPRESSION fsst);
CREATE TABLE state_patches (trace_id UHUGEINT NOT NULL, span_id UBIGINT NOT NULL, span_start_ns BIGINT NOT NULL,
  event_index INTEGER NOT NULL, time_ns BIGINT NOT NULL, store_id VARCHAR NOT NULL, store_name VARCHAR NOT NULL,
  action VARCHAR NOT NULL, patch_id VARCHAR NOT NULL, patch VARCHAR NOT NULL);
${CHECKPOINT_TABLE}`;

const INT_IDS = `
CREATE TABLE spans (trace_id UHUGEINT NOT NULL, span_id UBIGINT NOT NULL, parent_span_id UBIGINT,
  service_name VARCHAR NOT NULL, start_ns BIGINT NOT NULL, end_ns BIGINT NOT NULL,
  junjo_span_type VARCHAR NOT NULL, is_llm BOOLEAN NOT NULL, json VARCHAR NOT NULL);
CREATE TABLE state_patches (trace_id UHUGEINT NOT NULL, span_id UBIGINT NOT NULL, span_start_ns BIGINT NOT NULL,
  event_index INTEGER NOT NULL, time_ns BIGINT NOT NULL, store_id VARCHAR NOT NULL, store_name VARCHAR NOT NULL,
  action VARCHAR NOT NULL, patch_id VARCHAR NOT NULL, patch VARCHAR NOT NULL);
${CHECKPOINT_TABLE}`;

async function rowAppender(conn: DuckDBConnection, batch: readonly SpanRecordInput[]): Promise<void> {
  const spans = await conn.createAppender('spans');
  const patches = await conn.createAppender('state_patches');
  for (const r of batch) {
    spans.appendVarchar(r.traceId);
    spans.appendVarchar(r.spanId);
    if (r.parentSpanId === null) spans.appendNull();
    else spans.appendVarchar(r.parentSpanId);
    spans.appendVarchar(r.serviceName);
    spans.appendBigInt(r.startNs);
    spans.appendBigInt(r.endNs);
    spans.appendVarchar(r.junjoSpanType);
    spans.appendBoolean(r.isLlm);
    spans.appendVarchar(r.json);
    spans.endRow();
    for (const p of r.statePatches) {
      patches.appendVarchar(r.traceId);
      patches.appendVarchar(r.spanId);
      patches.appendBigInt(r.startNs);
      patches.appendInteger(p.eventIndex);
      patches.appendBigInt(p.timeNs);
      patches.appendVarchar(p.storeId);
      patches.appendVarchar(p.storeName);
      patches.appendVarchar(p.action);
      patches.appendVarchar(p.id);
      patches.appendVarchar(p.patch);
      patches.endRow();
    }
  }
  spans.closeSync();
  patches.closeSync();
}

type Column = (r: SpanRecordInput) => string | bigint | boolean | null;

/** Fills 2,048-row data chunks column by column and appends each whole chunk. */
async function appendChunks<T>(
  conn: DuckDBConnection,
  table: string,
  rows: readonly T[],
  types: DuckDBType[],
  columns: Array<(row: T) => string | bigint | number | boolean | null>,
  catalog?: string,
): Promise<void> {
  const appender = await conn.createAppender(table, catalog ? 'main' : undefined, catalog);
  for (let offset = 0; offset < rows.length; offset += CHUNK_ROWS) {
    const count = Math.min(CHUNK_ROWS, rows.length - offset);
    const chunk = DuckDBDataChunk.create(types, count);
    columns.forEach((column, c) => {
      const vector = chunk.getColumnVector(c);
      for (let i = 0; i < count; i++) vector.setItem(i, column(rows[offset + i]!));
      vector.flush();
    });
    appender.appendDataChunk(chunk);
  }
  appender.closeSync();
}

const stringColumns: Column[] = [
  (r) => r.traceId,
  (r) => r.spanId,
  (r) => r.parentSpanId,
  (r) => r.serviceName,
  (r) => r.startNs,
  (r) => r.endNs,
  (r) => r.junjoSpanType,
  (r) => r.isLlm,
  (r) => r.json,
];
const stringTypes = [VARCHAR, VARCHAR, VARCHAR, VARCHAR, BIGINT, BIGINT, VARCHAR, BOOLEAN, VARCHAR];

const hexBig = (hex: string) => BigInt(`0x${hex}`);
const intColumns: Column[] = [
  (r) => hexBig(r.traceId),
  (r) => hexBig(r.spanId),
  (r) => (r.parentSpanId === null ? null : hexBig(r.parentSpanId)),
  ...stringColumns.slice(3),
];
const intTypes = [UHUGEINT, UBIGINT, UBIGINT, ...stringTypes.slice(3)];

type PatchRow = { r: SpanRecordInput; p: SpanRecordInput['statePatches'][number] };
const patchRows = (batch: readonly SpanRecordInput[]): PatchRow[] =>
  batch.flatMap((r) => r.statePatches.map((p) => ({ r, p })));
const patchTail: Array<(row: PatchRow) => string | bigint | number> = [
  ({ r }) => r.startNs,
  ({ p }) => p.eventIndex,
  ({ p }) => p.timeNs,
  ({ p }) => p.storeId,
  ({ p }) => p.storeName,
  ({ p }) => p.action,
  ({ p }) => p.id,
  ({ p }) => p.patch,
];
const patchTailTypes = [BIGINT, INTEGER, BIGINT, VARCHAR, VARCHAR, VARCHAR, VARCHAR, VARCHAR];

async function chunkStringIds(conn: DuckDBConnection, batch: readonly SpanRecordInput[]): Promise<void> {
  await appendChunks(conn, 'spans', batch, stringTypes, stringColumns);
  await appendChunks(
    conn,
    'state_patches',
    patchRows(batch),
    [VARCHAR, VARCHAR, ...patchTailTypes],
    [({ r }) => r.traceId, ({ r }) => r.spanId, ...patchTail],
  );
}

async function chunkIntIds(conn: DuckDBConnection, batch: readonly SpanRecordInput[]): Promise<void> {
  await appendChunks(conn, 'spans', batch, intTypes, intColumns);
  await appendChunks(
    conn,
    'state_patches',
    patchRows(batch),
    [UHUGEINT, UBIGINT, ...patchTailTypes],
    [({ r }) => hexBig(r.traceId), ({ r }) => hexBig(r.spanId), ...patchTail],
  );
}

/**
 * Writes the batch as a file of \x01-separated fields (JSON text never holds a raw control character, so no
 * quoting or escaping is needed) and lets DuckDB's CSV reader parse it in C++.
 */
async function csvFile(
  conn: DuckDBConnection,
  batch: readonly SpanRecordInput[],
  dir: string,
): Promise<void> {
  const file = path.join(dir, 'batch.csv');
  const fd = openSync(file, 'w');
  const lines: string[] = [];
  const flush = () => {
    writeSync(fd, lines.join(''));
    lines.length = 0;
  };
  for (const r of batch) {
    lines.push(
      `${r.traceId}\x01${r.spanId}\x01${r.parentSpanId ?? '\x02'}\x01${r.serviceName}\x01${r.startNs}\x01${r.endNs}\x01${r.junjoSpanType}\x01${r.isLlm}\x01${r.json}\n`,
    );
    if (lines.length === 4096) flush();
  }
  flush();
  closeSync(fd);
  await conn.run(
    `INSERT INTO spans SELECT * FROM read_csv('${file}', delim = '\x01', quote = '', escape = '', header = false,
       auto_detect = false, null_padding = false, nullstr = '\x02',
       columns = {'trace_id': 'VARCHAR', 'span_id': 'VARCHAR', 'parent_span_id': 'VARCHAR', 'service_name': 'VARCHAR',
                  'start_ns': 'BIGINT', 'end_ns': 'BIGINT', 'junjo_span_type': 'VARCHAR', 'is_llm': 'BOOLEAN',
                  'json': 'VARCHAR'})`,
  );
  await appendChunks(
    conn,
    'state_patches',
    patchRows(batch),
    [VARCHAR, VARCHAR, ...patchTailTypes],
    [({ r }) => r.traceId, ({ r }) => r.spanId, ...patchTail],
  );
}

/**
 * Column-wise chunks with integer ids, after the duplicate probe the store runs: the batch's keys go into a
 * temporary table and a semi-join finds those already stored within the batch's start-time range.
 */
async function chunkIntIdsProbed(conn: DuckDBConnection, batch: readonly SpanRecordInput[]): Promise<void> {
  await conn.run('DELETE FROM batch_keys');
  await appendChunks(
    conn,
    'batch_keys',
    batch.map((r, position) => ({ r, position })),
    [INTEGER, UHUGEINT, UBIGINT],
    [({ position }) => position, ({ r }) => hexBig(r.traceId), ({ r }) => hexBig(r.spanId)],
    'temp',
  );
  let min = batch[0]!.startNs;
  let max = min;
  for (const r of batch) {
    if (r.startNs < min) min = r.startNs;
    if (r.startNs > max) max = r.startNs;
  }
  const stored = await conn.runAndReadAll(
    `SELECT k.position FROM batch_keys k SEMI JOIN (
       SELECT trace_id, span_id FROM spans WHERE start_ns BETWEEN $1 AND $2
     ) s ON k.trace_id = s.trace_id AND k.span_id = s.span_id`,
    [min, max],
    [BIGINT, BIGINT],
  );
  if (stored.currentRowCount > 0) throw new Error('the benchmark writes no duplicates');
  await chunkIntIds(conn, batch);
}

/**
 * Column-wise chunks into a temporary staging table, then one INSERT … SELECT that skips rows whose
 * (trace_id, span_id, start_ns) is stored already; the start-time bounds let zone maps skip old row groups.
 */
async function stagedAntiJoin(conn: DuckDBConnection, batch: readonly SpanRecordInput[]): Promise<void> {
  await conn.run('DELETE FROM staging');
  await appendChunks(conn, 'staging', batch, intTypes, intColumns, 'temp');
  await conn.run(
    `INSERT INTO spans SELECT s.* FROM staging s ANTI JOIN (
       SELECT trace_id, span_id, start_ns FROM spans
       WHERE start_ns BETWEEN (SELECT min(start_ns) FROM staging) AND (SELECT max(start_ns) FROM staging)
     ) p USING (trace_id, span_id, start_ns)`,
  );
}

const candidates: Candidate[] = [
  { name: 'row appender, string ids, no index', schema: STRING_IDS, load: rowAppender },
  { name: 'row appender, string ids, PK + 6 indexes', schema: OLD_SCHEMA, load: rowAppender },
  { name: 'data chunks, string ids', schema: STRING_IDS, load: chunkStringIds },
  { name: 'data chunks, integer ids', schema: INT_IDS, load: chunkIntIds },
  { name: 'data chunks, integer ids, JSON forced to FSST', schema: INT_IDS_FSST, load: chunkIntIds },
  { name: 'read_csv over a batch file, string ids', schema: STRING_IDS, load: csvFile },
  {
    name: 'data chunks, integer ids, duplicate probe',
    schema: `${INT_IDS} CREATE TEMP TABLE batch_keys (position INTEGER, trace_id UHUGEINT, span_id UBIGINT);`,
    load: chunkIntIdsProbed,
  },
  {
    name: 'data chunks → staging, INSERT … SELECT anti-join',
    schema: `${INT_IDS} CREATE TEMP TABLE staging AS SELECT * FROM spans LIMIT 0;`,
    load: stagedAntiJoin,
  },
];

interface Result {
  name: string;
  rowsPerSecond: number;
  cpuMicrosPerSpan: number;
  bytesPerSpan: number;
}

/**
 * Loads every record in BATCH-sized transactions, each also storing a checkpoint, then forces the final
 * DuckDB checkpoint (`close`); the time and CPU of all of it count. `inFlight` writes are kept issued.
 */
async function measure(
  name: string,
  records: readonly SpanRecordInput[],
  write: (batch: readonly SpanRecordInput[], checkpoint: number) => Promise<void>,
  close: () => Promise<void>,
  file: string,
  inFlight = 1,
): Promise<Result> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const pending: Promise<void>[] = [];
  for (let offset = 0; offset < records.length; offset += BATCH) {
    pending.push(write(records.slice(offset, offset + BATCH), offset + BATCH));
    if (pending.length >= inFlight) await pending.shift();
  }
  await Promise.all(pending);
  await close();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return {
    name,
    rowsPerSecond: Math.round(records.length / seconds),
    cpuMicrosPerSpan: Number(((used.user + used.system) / records.length).toFixed(1)),
    bytesPerSpan: Math.round(statSync(file).size / records.length),
  };
}

async function runCandidate(candidate: Candidate, records: readonly SpanRecordInput[]): Promise<Result> {
  const dir = mkdtempSync(path.join(tmpdir(), 'junjo-store-write-'));
  const file = path.join(dir, 'spans.duckdb');
  const instance = await DuckDBInstance.create(file);
  const conn = await instance.connect();
  await conn.run(candidate.schema);
  try {
    return await measure(
      candidate.name,
      records,
      async (batch, checkpoint) => {
        await conn.run('BEGIN TRANSACTION');
        await candidate.load(conn, batch, dir);
        await conn.run('INSERT OR REPLACE INTO ingest_checkpoint VALUES (1, $1)', [checkpoint]);
        await conn.run('COMMIT');
      },
      async () => {
        await conn.run('CHECKPOINT');
        conn.closeSync();
        instance.closeSync();
      },
      file,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The store's own `write` (dedupe probe, list and LLM tables, services, checkpoint), `inFlight` at a time. */
async function runStore(records: readonly SpanRecordInput[], inFlight: number): Promise<Result> {
  const dir = mkdtempSync(path.join(tmpdir(), 'junjo-store-write-'));
  const file = path.join(dir, 'spans.duckdb');
  const store = await SpanStore.open(file);
  try {
    return await measure(
      `SpanStore.write, ${inFlight} batch${inFlight > 1 ? 'es' : ''} in flight`,
      records,
      (batch, checkpoint) => store.write(batch, checkpoint),
      () => store.close(),
      file,
      inFlight,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const records = generateSpanRecords({
  traces: Math.ceil(ROWS / 20),
  spansPerTrace: 20,
  services: 20,
  startNs: BigInt(Date.now() - 3_600_000) * 1_000_000n,
}).slice(0, ROWS);
const jsonBytes = records.reduce((sum, r) => sum + r.json.length, 0) / records.length;
console.log(
  `${records.length} records, ${Math.round(jsonBytes)} B of JSON each, ${BATCH} per transaction, ${ROUNDS} rounds`,
);

const only = process.argv[2];
const runs: Array<{ name: string; run: () => Promise<Result> }> = [
  ...candidates.map((candidate) => ({ name: candidate.name, run: () => runCandidate(candidate, records) })),
  { name: 'SpanStore.write, 1 batch in flight', run: () => runStore(records, 1) },
  { name: 'SpanStore.write, 2 batches in flight', run: () => runStore(records, 2) },
].filter((entry) => !only || (only !== 'sustained' && entry.name.includes(only)));

const results = new Map<string, Result[]>();
for (let round = 0; round < ROUNDS; round++) {
  for (const { name, run } of runs) {
    const result = await run();
    console.log(JSON.stringify(result));
    results.set(name, [...(results.get(name) ?? []), result]);
  }
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.table(
  [...results].map(([name, rs]) => ({
    name,
    'median rows/s': median(rs.map((r) => r.rowsPerSecond)),
    'best rows/s': Math.max(...rs.map((r) => r.rowsPerSecond)),
    'CPU µs/span': median(rs.map((r) => r.cpuMicrosPerSpan)),
    'B/span': median(rs.map((r) => r.bytesPerSpan)),
  })),
);

/** Sustained `SpanStore.write`: spans generated per batch, two batches in flight; rate per 200,000 spans. */
async function sustained(checkpointThreshold: string): Promise<number[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'junjo-store-write-'));
  const store = await SpanStore.open(path.join(dir, 'spans.duckdb'), { checkpointThreshold });
  const tracesPerBatch = BATCH / 20;
  const rates: number[] = [];
  const inFlight: Promise<void>[] = [];
  let written = 0;
  let stretchMs = 0;
  try {
    for (let first = 0; written < SUSTAINED_ROWS; first += tracesPerBatch) {
      const batch = generateSpanRecords({
        traces: tracesPerBatch,
        spansPerTrace: 20,
        services: 20,
        startNs: BigInt(Date.now() - 86_400_000) * 1_000_000n,
        firstTrace: first,
      });
      // Generation stands in for the converter; only the store's time counts.
      const started = performance.now();
      written += batch.length;
      inFlight.push(store.write(batch, written));
      if (inFlight.length === 2) await inFlight.shift();
      if (written % 200_000 === 0) await Promise.all(inFlight.splice(0));
      stretchMs += performance.now() - started;
      if (written % 200_000 === 0) {
        rates.push(Math.round(200_000 / (stretchMs / 1000)));
        stretchMs = 0;
      }
    }
    await Promise.all(inFlight);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return rates;
}

if (!only || only === 'sustained') {
  for (const threshold of ['128MB', '16MB']) {
    const rates = await sustained(threshold);
    console.log(
      `sustained SpanStore.write, checkpoint threshold ${threshold}: spans/s per 200K stretch ${rates.join(', ')}; ` +
        `mean ${Math.round(rates.reduce((a, b) => a + b, 0) / rates.length)}`,
    );
  }
}
