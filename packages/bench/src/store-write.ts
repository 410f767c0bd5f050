/**
 * `npx tsx packages/bench/src/store-write.ts`: how fast can the indexer put span records into DuckDB?
 * Times candidate write paths on the same generated small spans, each into a fresh file, in batches that
 * each commit with a WAL checkpoint (as the indexer does), and prints rows/s per candidate.
 *
 * STORE_WRITE_ROWS (default 200,000) records, STORE_WRITE_BATCH (default 20,000) per transaction.
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
import type { SpanRecordInput } from '@junjo/ingest/store/index';
import { generateSpanRecords } from './store-records.ts';

const ROWS = Number(process.env.STORE_WRITE_ROWS ?? 200_000);
const BATCH = Number(process.env.STORE_WRITE_BATCH ?? 20_000);
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
): Promise<void> {
  const appender = await conn.createAppender(table);
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
 * Column-wise chunks into a temporary staging table, then one INSERT … SELECT that skips rows whose
 * (trace_id, span_id, start_ns) is stored already; the start-time bounds let zone maps skip old row groups.
 */
async function stagedAntiJoin(conn: DuckDBConnection, batch: readonly SpanRecordInput[]): Promise<void> {
  await conn.run('DELETE FROM staging');
  await appendChunks(conn, 'staging', batch, intTypes, intColumns);
  await conn.run(
    `INSERT INTO spans SELECT s.* FROM staging s ANTI JOIN (
       SELECT trace_id, span_id, start_ns FROM spans
       WHERE start_ns BETWEEN (SELECT min(start_ns) FROM staging) AND (SELECT max(start_ns) FROM staging)
     ) p USING (trace_id, span_id, start_ns)`,
  );
}

/** Writes the batch with an explicit start-time window, without any dedupe, for comparison. */
const candidates: Candidate[] = [
  { name: 'row appender, string ids, no index', schema: STRING_IDS, load: rowAppender },
  { name: 'row appender, string ids, PK + 6 indexes', schema: OLD_SCHEMA, load: rowAppender },
  { name: 'data chunks, string ids', schema: STRING_IDS, load: chunkStringIds },
  { name: 'data chunks, integer ids', schema: INT_IDS, load: chunkIntIds },
  { name: 'read_csv over a batch file, string ids', schema: STRING_IDS, load: csvFile },
  {
    name: 'data chunks → staging, INSERT … SELECT anti-join',
    schema: `${INT_IDS} CREATE TEMP TABLE staging AS SELECT * FROM spans LIMIT 0;`,
    load: stagedAntiJoin,
  },
];

interface Result {
  name: string;
  rowsPerSecond: number;
  msPerBatch: number;
  bytesPerSpan: number;
}

/** Loads every record in BATCH-sized transactions, each also storing a checkpoint, and times the whole. */
async function measure(
  name: string,
  records: readonly SpanRecordInput[],
  write: (batch: readonly SpanRecordInput[], checkpoint: number) => Promise<void>,
  fileOf: () => string,
  close: () => Promise<void>,
): Promise<Result> {
  const started = performance.now();
  for (let offset = 0; offset < records.length; offset += BATCH) {
    await write(records.slice(offset, offset + BATCH), offset + BATCH);
  }
  const seconds = (performance.now() - started) / 1000;
  await close();
  return {
    name,
    rowsPerSecond: Math.round(records.length / seconds),
    msPerBatch: Number(((seconds * 1000) / Math.ceil(records.length / BATCH)).toFixed(1)),
    bytesPerSpan: Math.round(statSync(fileOf()).size / records.length),
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
      () => file,
      async () => {
        await conn.run('CHECKPOINT');
        conn.closeSync();
        instance.closeSync();
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The real store's `write`, whatever path it settled on. */
async function runStore(records: readonly SpanRecordInput[], label: string): Promise<Result> {
  const dir = mkdtempSync(path.join(tmpdir(), 'junjo-store-write-'));
  const file = path.join(dir, 'spans.duckdb');
  const { SpanStore } = await import('@junjo/ingest/store/index');
  const store = await SpanStore.open(file);
  try {
    return await measure(
      label,
      records,
      (batch, checkpoint) => store.write(batch, checkpoint),
      () => file,
      () => store.close(),
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
console.log(`${records.length} records, ${Math.round(jsonBytes)} B of JSON each, ${BATCH} per transaction`);

const only = process.argv[2];
const results: Result[] = [];
for (const candidate of candidates) {
  if (only && !candidate.name.includes(only)) continue;
  const result = await runCandidate(candidate, records);
  results.push(result);
  console.log(JSON.stringify(result));
}
if (!only || 'SpanStore'.includes(only)) {
  const result = await runStore(records, 'SpanStore.write (fresh file)');
  results.push(result);
  console.log(JSON.stringify(result));
}
console.table(results);
