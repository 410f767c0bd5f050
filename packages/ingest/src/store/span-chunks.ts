import { setImmediate } from 'node:timers/promises';
import {
  BIGINT,
  BLOB,
  BOOLEAN,
  blobValue,
  type DuckDBAppender,
  DuckDBDataChunk,
  type DuckDBType,
  type DuckDBValue,
  INTEGER,
  UBIGINT,
  UHUGEINT,
  VARCHAR,
} from '@duckdb/node-api';
import type { SpanRecordInput, StatePatchInput, WireSpanInput } from './index.ts';
import { hash } from './trace-index.ts';

/**
 * Rows per data chunk (DuckDB takes up to 2048). Smaller chunks free each converted span sooner: with 512
 * the indexer's young-generation GCs took ~2.9 ms each instead of ~5.8 ms with 2048 (index-rate.ts, worker
 * thread GC timings), and appending four times as many chunks costs nothing measurable.
 */
const CHUNK_ROWS = 512;

interface Column<T> {
  type: DuckDBType;
  /** The column's value for `row`, the `index`-th row of the batch. */
  value: (row: T, index: number) => DuckDBValue;
}

/**
 * What the tables need of a span, ids parsed once (the spans, keys and patches chunks all need them). Only
 * these fields are copied out of the record, so the record itself (and what it references) is garbage as
 * soon as the span is added: holding a chunk's worth of records made each young-generation GC ~4x slower.
 */
export type ParsedSpan = Omit<WireSpanInput, 'isLlm' | 'statePatches' | 'otlp'> & {
  /** The span's OTLP bytes (`WireSpanInput`); null for a converted record, stored as its JSON. */
  otlp: Uint8Array | null;
};

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
    traceId: parseHexId(record.traceId, 32),
    spanId: parseHexId(record.spanId, 16),
    serviceName: record.serviceName,
    startNs: record.startNs,
    isRoot: record.parentSpanId === null,
    isWorkflow: record.junjoSpanType === 'workflow',
    json: record.json,
    otlp: null,
  };
}

// Column order is the table's (0001_spans.sql, 0003_span_otlp.sql): the appender matches chunk columns to
// table columns by position.
const SPAN_COLUMNS: Column<ParsedSpan>[] = [
  { type: UHUGEINT, value: (s) => s.traceId },
  { type: UBIGINT, value: (s) => s.spanId },
  { type: VARCHAR, value: (s) => s.serviceName },
  { type: BIGINT, value: (s) => s.startNs },
  // A span kept as OTLP bytes has no JSON here, even a root or workflow one: its text is derived when read.
  { type: VARCHAR, value: (s) => (s.otlp === null ? s.json : null) },
  { type: BLOB, value: (s) => (s.otlp === null ? null : blobValue(s.otlp)) },
];

/** The listed tables' JSON text of a span; every input the indexer makes for a listed span carries it. */
function listedJson(s: ParsedSpan): string {
  if (s.json === null) throw new TypeError('span store: a root or workflow span came without its JSON text');
  return s.json;
}

// Columns of root_and_workflow_spans.
const LISTED_COLUMNS: Column<ParsedSpan>[] = [
  { type: UHUGEINT, value: (s) => s.traceId },
  { type: UBIGINT, value: (s) => s.spanId },
  { type: VARCHAR, value: (s) => s.serviceName },
  { type: BIGINT, value: (s) => s.startNs },
  { type: BOOLEAN, value: (s) => s.isRoot },
  { type: BOOLEAN, value: (s) => s.isWorkflow },
  { type: VARCHAR, value: listedJson },
];

const LLM_TRACE_COLUMNS: Column<ParsedSpan>[] = [
  { type: UHUGEINT, value: (s) => s.traceId },
  { type: BIGINT, value: (s) => s.startNs },
];

interface PatchRow {
  span: ParsedSpan;
  patch: StatePatchInput;
}

const PATCH_COLUMNS: Column<PatchRow>[] = [
  { type: UHUGEINT, value: (p) => p.span.traceId },
  { type: UBIGINT, value: (p) => p.span.spanId },
  { type: BIGINT, value: (p) => p.span.startNs },
  { type: INTEGER, value: (p) => p.patch.eventIndex },
  { type: BIGINT, value: (p) => p.patch.timeNs },
  { type: VARCHAR, value: (p) => p.patch.storeId },
  { type: VARCHAR, value: (p) => p.patch.storeName },
  { type: VARCHAR, value: (p) => p.patch.action },
  { type: VARCHAR, value: (p) => p.patch.id },
  { type: VARCHAR, value: (p) => p.patch.patch },
];

/** A trace's earliest and latest span start in one batch: a row of `trace_times` (0002_trace_times.sql). */
export interface TraceTimes {
  traceId: bigint;
  minStartNs: bigint;
  maxStartNs: bigint;
}

const TRACE_TIMES_COLUMNS: Column<TraceTimes>[] = [
  { type: UHUGEINT, value: (t) => t.traceId },
  { type: BIGINT, value: (t) => t.minStartNs },
  { type: BIGINT, value: (t) => t.maxStartNs },
];

/** A span's key, read back from the batch's chunks of `spans`. */
interface SpanKey {
  traceId: bigint;
  spanId: bigint;
}

/** Columns of the `batch_keys` temp table: a span's position in the batch and its key. */
const KEY_COLUMNS: Column<SpanKey>[] = [
  { type: INTEGER, value: (_, position) => position },
  { type: UHUGEINT, value: (s) => s.traceId },
  { type: UBIGINT, value: (s) => s.spanId },
];

/**
 * Drops the chunk's JavaScript vector objects once their values are in DuckDB's memory. The chunk caches
 * them, and a string vector keeps every string it was given (for `getItem`), so without this a batch's JSON
 * texts would stay on the JavaScript heap until the batch commits. Setting the row count, to the same value,
 * is the API's way to clear that cache.
 */
function releaseVectors(chunk: DuckDBDataChunk): void {
  // biome-ignore lint/correctness/noSelfAssign: the setter clears the chunk's vector cache
  chunk.rowCount = chunk.rowCount;
}

/**
 * Data chunks of one column layout, kept for reuse once their rows are appended. A chunk's memory is native
 * (DuckDB's vectors, sized for 2,048 rows, and the string/blob bytes copied into it), and without reuse it is
 * freed only when the garbage collector finalizes the chunk's JavaScript object: a worker whose heap grew
 * to 150 MB between major GCs kept tens of batches' chunks alive that way. Resetting a chunk frees its string
 * and blob bytes at once; its vectors are reused by the next batch.
 */
class ChunkPool {
  private readonly free: DuckDBDataChunk[] = [];

  /** Chunks kept: two batches in flight at up to ~60 chunks of spans each. */
  private static readonly MAX = 128;

  constructor(private readonly types: DuckDBType[]) {}

  take(rows: number): DuckDBDataChunk {
    const chunk = this.free.pop() ?? DuckDBDataChunk.create(this.types);
    chunk.rowCount = rows;
    return chunk;
  }

  give(chunks: readonly DuckDBDataChunk[]): void {
    for (const chunk of chunks) {
      chunk.reset();
      if (this.free.length < ChunkPool.MAX) this.free.push(chunk);
    }
  }
}

/** One pool per column layout, shared by the stores of this thread (a chunk belongs to no database). */
const pools = new Map<Column<never>[], ChunkPool>();

function poolFor<T>(columns: Column<T>[]): ChunkPool {
  const key = columns as unknown as Column<never>[];
  let pool = pools.get(key);
  if (!pool) {
    pool = new ChunkPool(columns.map((column) => column.type));
    pools.set(key, pool);
  }
  return pool;
}

/**
 * The rows of one table, laid out in data chunks of CHUNK_ROWS as they are added: the measured fast path
 * (see packages/bench/src/store-write.ts). Fixed-width values go into the vector's buffer and are copied to
 * DuckDB once per column; strings are copied into the chunk when it fills. So a converted span is only held
 * until its chunk is full, not until the whole batch is laid out: a batch's tens of thousands of JSON texts
 * would otherwise survive the young-generation GCs and be copied by each of them (most of the indexer's
 * time, measured with packages/bench/src/index-rate.ts).
 */
class TableChunks<T> {
  readonly chunks: DuckDBDataChunk[] = [];
  /** Batch position of the span each row came from, for the rare re-layout without duplicates. */
  readonly positions: number[] = [];
  private pending: T[] = [];
  private readonly pool: ChunkPool;
  /** Chunks made by `without`, released with the others. */
  private readonly relaid: DuckDBDataChunk[] = [];

  constructor(private readonly columns: Column<T>[]) {
    this.pool = poolFor(columns);
  }

  /** Hands every chunk back for reuse: their rows are appended (or the batch is dropped). */
  release(): void {
    this.pool.give(this.chunks.splice(0));
    this.pool.give(this.relaid.splice(0));
  }

  add(row: T, position: number): void {
    this.pending.push(row);
    this.positions.push(position);
    if (this.pending.length === CHUNK_ROWS) this.flush();
  }

  /** Lays out the rows added since the last full chunk. */
  flush(): void {
    const rows = this.pending;
    if (rows.length === 0) return;
    this.pending = [];
    const first = this.positions.length - rows.length;
    const chunk = this.pool.take(rows.length);
    this.columns.forEach((column, c) => {
      const vector = chunk.getColumnVector(c);
      for (let i = 0; i < rows.length; i++) vector.setItem(i, column.value(rows[i]!, first + i));
      vector.flush();
    });
    releaseVectors(chunk);
    this.chunks.push(chunk);
  }

  /**
   * The flushed chunks again without the rows of the `skipped` batch positions, read back from the chunks
   * themselves (the spans are gone by then).
   */
  without(skipped: ReadonlySet<number>): DuckDBDataChunk[] {
    const kept: DuckDBValue[][] = [];
    let row = 0;
    for (const chunk of this.chunks) {
      for (const values of chunk.getRows()) {
        if (!skipped.has(this.positions[row]!)) kept.push(values);
        row++;
      }
    }
    const chunks: DuckDBDataChunk[] = [];
    for (let offset = 0; offset < kept.length; offset += CHUNK_ROWS) {
      const count = Math.min(CHUNK_ROWS, kept.length - offset);
      const chunk = this.pool.take(count);
      this.relaid.push(chunk);
      this.columns.forEach((_, c) => {
        const vector = chunk.getColumnVector(c);
        for (let i = 0; i < count; i++) vector.setItem(i, kept[offset + i]![c]!);
        vector.flush();
      });
      releaseVectors(chunk);
      chunks.push(chunk);
    }
    return chunks;
  }
}

/** A batch ready to append, table by table, and the keys for the duplicate probe. */
export interface BatchChunks {
  spans: DuckDBDataChunk[];
  rootAndWorkflowSpans: DuckDBDataChunk[];
  llmTraces: DuckDBDataChunk[];
  statePatches: DuckDBDataChunk[];
  traceTimes: DuckDBDataChunk[];
}

/**
 * Lays out a batch's spans in the chunks of every table as they are added (see `TableChunks`), and keeps
 * what the commit needs besides: the start-time range for the duplicate probe and the service names.
 */
export class BatchBuilder {
  /** Spans added, duplicates included: the next span's batch position. */
  count = 0;
  minStartNs = 0n;
  maxStartNs = 0n;
  readonly services = new Set<string>();
  private readonly spans = new TableChunks(SPAN_COLUMNS);
  private readonly listed = new TableChunks(LISTED_COLUMNS);
  private readonly llmTraces = new TableChunks(LLM_TRACE_COLUMNS);
  private readonly patches = new TableChunks(PATCH_COLUMNS);
  /** Laid out only for a batch the duplicate probe searches: see `keyChunks`. */
  private keys: TableChunks<SpanKey> | undefined;
  /** Per trace of the batch, its start-time range: laid out by `finish`. */
  private readonly traces = new Map<bigint, TraceTimes>();
  private readonly traceTimes = new TableChunks(TRACE_TIMES_COLUMNS);
  /** The rows `finish` laid out in traceTimes' chunks, for the store's trace index after the commit. */
  readonly traceRanges: TraceTimes[] = [];
  /**
   * Set once two spans of the batch share a span id: only then can the batch hold a repeat of its own span
   * (an export retried into the same stretch of the WAL), which the duplicate probe then looks for.
   */
  mayRepeat = false;
  private readonly spanIds = new SpanIdSet();

  /**
   * Throws (a converter bug) on a malformed id, or a listed span without its JSON, before anything of the
   * span is added.
   */
  add(record: SpanRecordInput | WireSpanInput): void {
    const span: ParsedSpan = 'otlp' in record ? record : parseSpan(record);
    if ((span.isRoot || span.isWorkflow) && span.json === null) listedJson(span);
    const position = this.count++;
    if (position === 0 || record.startNs < this.minStartNs) this.minStartNs = record.startNs;
    if (position === 0 || record.startNs > this.maxStartNs) this.maxStartNs = record.startNs;
    this.services.add(record.serviceName);
    if (!this.spanIds.add(span.spanId)) this.mayRepeat = true;
    this.spans.add(span, position);
    if (span.isRoot || span.isWorkflow) this.listed.add(span, position);
    if (record.isLlm) this.llmTraces.add(span, position);
    for (const patch of record.statePatches) this.patches.add({ span, patch }, position);
    const times = this.traces.get(span.traceId);
    if (!times)
      this.traces.set(span.traceId, {
        traceId: span.traceId,
        minStartNs: span.startNs,
        maxStartNs: span.startNs,
      });
    else if (span.startNs < times.minStartNs) times.minStartNs = span.startNs;
    else if (span.startNs > times.maxStartNs) times.maxStartNs = span.startNs;
  }

  /** Lays out the last, partial chunks, and the batch's trace time ranges. */
  finish(): void {
    // Position -1: never one of the duplicates a re-layout drops (a range of a duplicate is harmless).
    for (const times of this.traces.values()) {
      this.traceTimes.add(times, -1);
      this.traceRanges.push(times);
    }
    this.traces.clear();
    for (const table of this.tables()) table.flush();
  }

  chunks(): BatchChunks {
    return {
      spans: this.spans.chunks,
      rootAndWorkflowSpans: this.listed.chunks,
      llmTraces: this.llmTraces.chunks,
      statePatches: this.patches.chunks,
      traceTimes: this.traceTimes.chunks,
    };
  }

  /**
   * The rows of the `batch_keys` scratch table, for the duplicate probe: each span's batch position, trace id
   * and span id. Most batches skip the probe, so these are read back from the chunks of `spans` (whose row
   * `i` is the span at batch position `i`) when it runs, rather than laid out for every span: that was
   * three values a span, ~5% of the store worker's CPU (index-rate.ts, CPU profile).
   */
  keyChunks(): DuckDBDataChunk[] {
    if (this.keys) return this.keys.chunks;
    const keys = new TableChunks(KEY_COLUMNS);
    this.keys = keys;
    let position = 0;
    for (const chunk of this.spans.chunks) {
      const traceIds = chunk.getColumnVector(0);
      const spanIds = chunk.getColumnVector(1);
      for (let row = 0; row < chunk.rowCount; row++) {
        keys.add(
          { traceId: traceIds.getItem(row) as bigint, spanId: spanIds.getItem(row) as bigint },
          position++,
        );
      }
      releaseVectors(chunk);
    }
    keys.flush();
    return keys.chunks;
  }

  /** The chunks without the spans at the `skipped` positions (and their rows in every table). */
  chunksWithout(skipped: ReadonlySet<number>): BatchChunks {
    if (skipped.size === this.count) {
      // All of it stored already (a re-sent stretch of exports): nothing to read back.
      return {
        spans: [],
        rootAndWorkflowSpans: [],
        llmTraces: [],
        statePatches: [],
        traceTimes: [],
      };
    }
    return {
      spans: this.spans.without(skipped),
      rootAndWorkflowSpans: this.listed.without(skipped),
      llmTraces: this.llmTraces.without(skipped),
      statePatches: this.patches.without(skipped),
      traceTimes: this.traceTimes.chunks,
    };
  }

  /** Returns the chunks of every table for reuse; the batch is done with (committed or failed). */
  release(): void {
    for (const table of this.tables()) table.release();
    this.keys?.release();
  }

  private tables(): Array<{ flush(): void; release(): void }> {
    return [this.spans, this.listed, this.llmTraces, this.patches, this.traceTimes];
  }
}

/**
 * A set of 64-bit span ids, in typed arrays (open addressing, at most half full): a batch's 25,000 ids cost
 * two BigInt shifts each and no object per id. Hashed as the trace index hashes its keys.
 */
export class SpanIdSet {
  private keys = new Uint32Array(2 * 4096);
  private mask = 4095;
  private size = 0;
  /** Whether 0 (no slot can hold it: (0, 0) marks an empty one) was added. */
  private zero = false;

  /** Adds `id` (its low 64 bits); false if it was already there. */
  add(id: bigint): boolean {
    const lo = Number(id & 0xffffffffn);
    const hi = Number((id >> 32n) & 0xffffffffn);
    if (lo === 0 && hi === 0) {
      const had = this.zero;
      this.zero = true;
      return !had;
    }
    if (!this.insert(lo, hi)) return false;
    if (++this.size * 2 > this.mask + 1) this.grow();
    return true;
  }

  private insert(lo: number, hi: number): boolean {
    for (let slot = hash(lo, hi) & this.mask; ; slot = (slot + 1) & this.mask) {
      const kLo = this.keys[slot * 2]!;
      const kHi = this.keys[slot * 2 + 1]!;
      if (kLo === 0 && kHi === 0) {
        this.keys[slot * 2] = lo;
        this.keys[slot * 2 + 1] = hi;
        return true;
      }
      if (kLo === lo && kHi === hi) return false;
    }
  }

  private grow(): void {
    const old = this.keys;
    this.keys = new Uint32Array(old.length * 2);
    this.mask = this.mask * 2 + 1;
    for (let i = 0; i < old.length; i += 2) {
      if (old[i] !== 0 || old[i + 1] !== 0) this.insert(old[i]!, old[i + 1]!);
    }
  }
}

/** Chunks an appender takes between two flushes: ~4,000 rows, 2-3 ms of work. */
const CHUNKS_PER_FLUSH = 8;

/** Appends whole chunks; the appender is closed (flushed into the transaction) or, on failure, cleared. */
export async function appendChunks(
  appender: DuckDBAppender,
  chunks: readonly DuckDBDataChunk[],
): Promise<void> {
  try {
    for (const [i, chunk] of chunks.entries()) {
      // Appending and flushing copy the rows into the transaction on this thread, synchronously: flushing
      // every few chunks keeps each step to a few milliseconds (closing with a whole batch buffered blocked
      // the thread for 15-25 ms, and every query waited behind it); the event loop runs in between.
      if (i > 0) await setImmediate();
      appender.appendDataChunk(chunk);
      if (i % CHUNKS_PER_FLUSH === CHUNKS_PER_FLUSH - 1) appender.flushSync();
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
