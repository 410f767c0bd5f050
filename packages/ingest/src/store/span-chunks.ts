import { setImmediate } from 'node:timers/promises';
import {
  BIGINT,
  BOOLEAN,
  type DuckDBAppender,
  DuckDBDataChunk,
  type DuckDBType,
  type DuckDBValue,
  INTEGER,
  UBIGINT,
  UHUGEINT,
  VARCHAR,
} from '@duckdb/node-api';
import type { SpanRecordInput, StatePatchInput } from './index.ts';

/** DuckDB's vector size: the most rows one data chunk holds. */
const CHUNK_ROWS = 2048;

interface Column<T> {
  type: DuckDBType;
  /** The column's value for `row`, the `index`-th row of the batch. */
  value: (row: T, index: number) => DuckDBValue;
}

/** A span with its ids parsed once, since the spans, keys and patches chunks all need them. */
export interface ParsedSpan {
  record: SpanRecordInput;
  traceId: bigint;
  spanId: bigint;
  /** No parent: a root span. */
  isRoot: boolean;
}

/**
 * Parses a hex id of exactly `digits` digits (the converter's are lowercase); anything else is a converter
 * bug, so it throws. BigInt itself refuses a non-hex digit, which spares a regular expression per id.
 */
export function parseHexId(hex: string, digits: 16 | 32): bigint {
  if (hex.length === digits) {
    try {
      return BigInt(`0x${hex}`);
    } catch {
      // reported below
    }
  }
  throw new TypeError(`span store: expected ${digits} hex digits, got ${JSON.stringify(hex)}`);
}

export function parseSpan(record: SpanRecordInput): ParsedSpan {
  return {
    record,
    traceId: parseHexId(record.traceId, 32),
    spanId: parseHexId(record.spanId, 16),
    isRoot: record.parentSpanId === null,
  };
}

// Column order is the table's (0001_spans.sql): the appender matches chunk columns to table columns by position.
const SPAN_COLUMNS: Column<ParsedSpan>[] = [
  { type: UHUGEINT, value: (s) => s.traceId },
  { type: UBIGINT, value: (s) => s.spanId },
  { type: VARCHAR, value: (s) => s.record.serviceName },
  { type: BIGINT, value: (s) => s.record.startNs },
  { type: VARCHAR, value: (s) => s.record.json },
];

// Columns of root_and_workflow_spans.
const LISTED_COLUMNS: Column<ParsedSpan>[] = [
  { type: UHUGEINT, value: (s) => s.traceId },
  { type: UBIGINT, value: (s) => s.spanId },
  { type: VARCHAR, value: (s) => s.record.serviceName },
  { type: BIGINT, value: (s) => s.record.startNs },
  { type: BOOLEAN, value: (s) => s.isRoot },
  { type: BOOLEAN, value: (s) => s.record.junjoSpanType === 'workflow' },
  { type: VARCHAR, value: (s) => s.record.json },
];

const LLM_TRACE_COLUMNS: Column<ParsedSpan>[] = [
  { type: UHUGEINT, value: (s) => s.traceId },
  { type: BIGINT, value: (s) => s.record.startNs },
];

interface PatchRow {
  span: ParsedSpan;
  patch: StatePatchInput;
}

const PATCH_COLUMNS: Column<PatchRow>[] = [
  { type: UHUGEINT, value: (p) => p.span.traceId },
  { type: UBIGINT, value: (p) => p.span.spanId },
  { type: BIGINT, value: (p) => p.span.record.startNs },
  { type: INTEGER, value: (p) => p.patch.eventIndex },
  { type: BIGINT, value: (p) => p.patch.timeNs },
  { type: VARCHAR, value: (p) => p.patch.storeId },
  { type: VARCHAR, value: (p) => p.patch.storeName },
  { type: VARCHAR, value: (p) => p.patch.action },
  { type: VARCHAR, value: (p) => p.patch.id },
  { type: VARCHAR, value: (p) => p.patch.patch },
];

/** Columns of the `batch_keys` temp table: a span's position in the batch and its key. */
const KEY_COLUMNS: Column<ParsedSpan>[] = [
  { type: INTEGER, value: (_, position) => position },
  { type: UHUGEINT, value: (s) => s.traceId },
  { type: UBIGINT, value: (s) => s.spanId },
];

/**
 * Fills data chunks column by column: the measured fast path (see packages/bench/src/store-write.ts).
 * Fixed-width values go into the vector's buffer and are copied to DuckDB once per column, instead of one
 * native call per value as with the row appender.
 */
async function fillChunks<T>(columns: Column<T>[], rows: readonly T[]): Promise<DuckDBDataChunk[]> {
  const types = columns.map((column) => column.type);
  const chunks: DuckDBDataChunk[] = [];
  for (let offset = 0; offset < rows.length; offset += CHUNK_ROWS) {
    // A chunk takes a millisecond or two; yielding between chunks keeps the event loop (queries, receivers)
    // responsive while a large batch is laid out.
    if (offset > 0) await setImmediate();
    const count = Math.min(CHUNK_ROWS, rows.length - offset);
    const chunk = DuckDBDataChunk.create(types, count);
    columns.forEach((column, c) => {
      const vector = chunk.getColumnVector(c);
      for (let i = 0; i < count; i++) vector.setItem(i, column.value(rows[offset + i]!, offset + i));
      vector.flush();
    });
    chunks.push(chunk);
  }
  return chunks;
}

/** A batch ready to append, table by table, and the keys for the duplicate probe. */
export interface BatchChunks {
  spans: DuckDBDataChunk[];
  rootAndWorkflowSpans: DuckDBDataChunk[];
  llmTraces: DuckDBDataChunk[];
  statePatches: DuckDBDataChunk[];
  keys: DuckDBDataChunk[];
}

export async function batchChunks(spans: readonly ParsedSpan[]): Promise<BatchChunks> {
  const patches: PatchRow[] = [];
  for (const span of spans) for (const patch of span.record.statePatches) patches.push({ span, patch });
  return {
    spans: await fillChunks(SPAN_COLUMNS, spans),
    rootAndWorkflowSpans: await fillChunks(
      LISTED_COLUMNS,
      spans.filter((s) => s.isRoot || s.record.junjoSpanType === 'workflow'),
    ),
    llmTraces: await fillChunks(
      LLM_TRACE_COLUMNS,
      spans.filter((s) => s.record.isLlm),
    ),
    statePatches: await fillChunks(PATCH_COLUMNS, patches),
    keys: await fillChunks(KEY_COLUMNS, spans),
  };
}

/** Appends whole chunks; the appender is closed (flushed into the transaction) or, on failure, cleared. */
export async function appendChunks(
  appender: DuckDBAppender,
  chunks: readonly DuckDBDataChunk[],
): Promise<void> {
  try {
    for (const [i, chunk] of chunks.entries()) {
      // Appending copies the chunk into the transaction on this thread; let the event loop in between.
      if (i > 0) await setImmediate();
      appender.appendDataChunk(chunk);
    }
    appender.closeSync();
  } catch (error) {
    // The caller rolls the transaction back; drop what the appender still buffers and release it.
    try {
      appender.clear();
      appender.closeSync();
    } catch {
      // After a failed append the appender may refuse even this; the rollback discards its rows anyway.
    }
    throw error;
  }
}
