import { DuckDbSpanStore, type DuckDbSpanStoreOptions } from './duckdb-span-store.ts';
import { StoreWorker } from './worker.ts';

export type { DuckDbSpanStoreOptions } from './duckdb-span-store.ts';

/** One `set_state` event of a span (CONTRACT.md §6.6), indexed for workflow state reconstruction. */
export interface StatePatchInput {
  /** Position of the event in the span's event list. */
  eventIndex: number;
  timeNs: bigint;
  /** The RFC 6902 JSON Patch, as the text the SDK sent. */
  patch: string;
  storeId: string;
  storeName: string;
  action: string;
  id: string;
}

/**
 * A converted span, as the store takes it (`SpanStore.write`). Structurally identical to core's `SpanRecord`
 * (the output of `toSpanRecords`), declared here as the store's own input type; the store uses core's
 * converter itself only to read spans kept as OTLP bytes (`span-text.ts`).
 */
export interface SpanRecordInput {
  /** 32 lowercase hex digits. */
  traceId: string;
  /** 16 lowercase hex digits. */
  spanId: string;
  /** 16 lowercase hex digits, or `null` for a root span. */
  parentSpanId: string | null;
  serviceName: string;
  name: string;
  startNs: bigint;
  endNs: bigint;
  kind: string;
  statusCode: '0' | '1' | '2';
  junjoSpanType: string;
  junjoId: string;
  junjoParentId: string;
  junjoWfStoreId: string;
  /** The span is an LLM span (CONTRACT.md §6.5). */
  isLlm: boolean;
  statePatches: StatePatchInput[];
  /** The complete contract Span object as JSON text; queries return it verbatim. */
  json: string;
}

/**
 * A span as the indexer's fast path reads it from the wire (`indexer/wire-spans.ts`): ids already numbers,
 * and the span's OTLP `Span` bytes instead of its JSON text, which the store derives when a query reads the
 * span (with core's `toSpanRecord`, so it is the text the record path would have stored).
 */
export interface WireSpanInput {
  /** The 16 id bytes as one big-endian number. */
  traceId: bigint;
  /** The 8 id bytes as one big-endian number. */
  spanId: bigint;
  serviceName: string;
  startNs: bigint;
  /** No parent span. */
  isRoot: boolean;
  /** `junjo.span_type` is `workflow`. */
  isWorkflow: boolean;
  isLlm: boolean;
  statePatches: StatePatchInput[];
  /** The Span object's JSON text for root and workflow spans (the lists keep it ready); else `null`. */
  json: string | null;
  /** The span's `Span` message bytes. */
  otlp: Uint8Array;
}

/** Options of {@link SpanStore.rootSpans}. */
export interface RootSpansQuery {
  /** Only roots of traces that contain at least one LLM span (in any service). */
  hasLlm: boolean;
  limit: number;
}

export interface SpanStoreStats {
  spans: number;
  statePatches: number;
  /** Size of the database file plus its write-ahead log, in bytes. */
  fileBytes: number;
  /** Traces held in the in-memory trace index (trace-index.ts): the most recent ones. */
  indexedTraces: number;
  /** Traces the trace index has evicted since it was built (at open, or the last retention pass). */
  evictedTraces: number;
  /**
   * Rows the duplicate probe's scratch table holds, deleted ones included: at most one batch's keys. While
   * the table was emptied with DELETE it kept every batch's.
   */
  scratchRows: number;
}

/**
 * The queryable span store the indexer writes and the query service reads. Invariants every implementation
 * keeps:
 *
 * - **Single writer process.** The store's file is opened by the ingest process only, through one open
 *   instance; nothing else (no second process, no second instance) opens it while it is open.
 * - **Atomic batches.** `write(records, checkpoint)` stores the batch AND the WAL position reached in ONE
 *   transaction: after a crash at any moment, either both are there or neither is. The indexer resumes from
 *   `checkpoint()`, so a replay starts exactly after the last stored batch.
 * - **Idempotent.** A span whose (trace_id, span_id) is already stored is never returned twice by any query,
 *   whether it comes back through a replay or a client re-sending an export, in one batch or across batches.
 * - **Newest first.** Every list is ordered by span start time, newest first.
 * - **JSON verbatim.** Queries answer with the stored `json` texts unchanged, joined into the HTTP body
 *   (`[` + texts joined by `,` + `]`), never re-serialised; a span stored as its OTLP bytes (the indexer's
 *   `WireSpanInput`) answers with the text core's converter makes of them.
 * - **Serial writes.** `write` and `deleteOlderThan` calls are applied one after another in call order;
 *   queries may run concurrently with them and see only committed batches.
 */
export interface SpanStore {
  /**
   * Stores `records` and the WAL position `checkpoint` in one transaction. Records already stored (same
   * trace and span id) are skipped. Rejects, storing nothing, if any part fails.
   */
  write(records: readonly SpanRecordInput[], checkpoint: number): Promise<void>;
  /** The WAL position stored by the last committed `write`, or `undefined` before the first. */
  checkpoint(): Promise<number | undefined>;
  /** JSON text of the distinct service names, sorted: `["a","b"]`. */
  services(): Promise<string>;
  /** JSON text of the service's spans, newest first, at most `limit`. */
  serviceSpans(service: string, limit: number): Promise<string>;
  /** JSON text of the service's root spans (no parent), newest first, at most `limit`. */
  rootSpans(service: string, query: RootSpansQuery): Promise<string>;
  /** JSON text of the service's spans whose `junjo_span_type` is `workflow`, newest first, at most `limit`. */
  workflows(service: string, limit: number): Promise<string>;
  /** JSON text of every span of the trace, newest first; `[]` for an unknown trace. */
  traceSpans(traceId: string): Promise<string>;
  /** JSON text of one span, or `null` when it is not stored. */
  span(traceId: string, spanId: string): Promise<string | null>;
  /**
   * Retention: deletes spans that started before `cutoffNs`, with their state patches. Works in bounded
   * steps between writes so the indexer is never held up for long; resolves with the number of spans deleted.
   */
  deleteOlderThan(cutoffNs: bigint): Promise<number>;
  stats(): Promise<SpanStoreStats>;
  /**
   * Backups: copies the store into a new database file `targetFile` (which must not exist) as of one
   * committed state, the checkpoint row included, while writes and queries carry on; resolves with the WAL
   * position that copy holds. After a failure `targetFile` may be left half-written for the caller to
   * remove. `close()` must not be called until it has settled.
   */
  snapshot(targetFile: string): Promise<{ checkpoint: number | undefined }>;
  /** Waits for writes in flight, then closes the file. Idempotent. */
  close(): Promise<void>;
}

/** The DuckDB span store (see `duckdb-span-store.ts`). */
export const SpanStore = {
  /**
   * Opens (creating if needed) the DuckDB file and applies the schema files in `sql/` that it has not seen
   * yet. The caller must be the only process opening `file`.
   */
  open(file: string, options?: DuckDbSpanStoreOptions): Promise<SpanStore> {
    return DuckDbSpanStore.open(file, options);
  },
  /**
   * The same store on a worker thread of its own, which also decodes and converts the exports the indexer
   * hands it (`StoreWorker.writeExports`): what the ingest process uses (see `worker.ts`).
   */
  openInWorker(file: string, options?: DuckDbSpanStoreOptions): Promise<StoreWorker> {
    return StoreWorker.open(file, options);
  },
};
