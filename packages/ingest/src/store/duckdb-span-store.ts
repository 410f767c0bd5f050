import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { setImmediate } from 'node:timers/promises';
import {
  BIGINT,
  type DuckDBConnection,
  DuckDBInstance,
  type DuckDBMaterializedResult,
  type DuckDBPreparedStatement,
  type DuckDBType,
  type DuckDBValue,
  UBIGINT,
  UHUGEINT,
  VARCHAR,
} from '@duckdb/node-api';
import { logger } from '@junjo/core/logger';
import type { RootSpansQuery, SpanRecordInput, SpanStore, SpanStoreStats, WireSpanInput } from './index.ts';
import { applySchema } from './schema.ts';
import { appendChunks, BatchBuilder } from './span-chunks.ts';
import { spanTexts } from './span-text.ts';
import { TraceIndex } from './trace-index.ts';

export interface DuckDbSpanStoreOptions {
  /**
   * DuckDB's memory limit (DuckDB size syntax): its buffer pool and query memory. The ingest process has an
   * RSS budget of 512 MB; default 64MB (`npm run bench:query` with 64/96/128MB: RSS during ingest + queries
   * 476/481-571/592 MB, end to end and query times the same within noise).
   */
  memoryLimit?: string;
  /** DuckDB's worker threads (`JUNJO_DUCKDB_THREADS`); default 1. */
  threads?: number;
  /** Connections serving queries concurrently; default 2 (one per core on the reference machine). */
  readers?: number;
  /** Spans deleted per retention transaction; default 100,000. */
  retentionStep?: number;
  /**
   * DuckDB WAL size that triggers a checkpoint; default 128MB. DuckDB's own 16MB makes nearly every batch
   * checkpoint, rewriting the tables' unfinished row groups each time, and the write rate falls as the file
   * grows (store-write.ts measures both); larger values mean longer recovery replays after a crash.
   */
  checkpointThreshold?: string;
  /**
   * Traces the in-memory trace index (trace-index.ts) holds before it evicts the older half; default 786,432
   * (a 25 MiB table at most, plus 2 MiB per million traces evicted). A lookup of an evicted trace reads
   * trace_times.
   */
  traceIndexMaxTraces?: number;
  /**
   * After this long without a commit, checkpoint if DuckDB's WAL holds at least `idleCheckpointBytes`;
   * default 5,000 ms, 0 turns it off (DuckDB then checkpoints at `checkpointThreshold` only). Queries then
   * read compressed row groups with their statistics rather than rows still in memory, the WAL is emptied
   * (a restart does not replay it) and the file gets smaller. A trace lookup on 1M spans just written took
   * p50 2.8-3.0 ms / p95 5.6-6.3 ms, and 1.7-1.8 / 2.6-3.0 ms after a checkpoint (file + WAL 132 → 102 MiB).
   */
  idleCheckpointMs?: number;
  /** See `idleCheckpointMs`; default 4 MiB (about 30,000 small spans), so sparse traffic does not rewrite
   * the last row group every few seconds. */
  idleCheckpointBytes?: number;
}

/** Files open in this process: DuckDB's file lock only keeps other processes out. */
const openFiles = new Set<string>();

/** Runs tasks one at a time in call order; a failed task does not stop the ones behind it. */
class SerialLane {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => {});
    return result;
  }
}

interface Reader {
  conn: DuckDBConnection;
  statements: Map<string, DuckDBPreparedStatement>;
}

/** A few connections for queries, each with its prepared statements; a query waits for a free one. */
class ReaderPool {
  private readonly idle: Reader[];
  private readonly waiting: Array<(reader: Reader) => void> = [];
  /** Queries running or waiting for a connection. */
  active = 0;
  private quiet: Array<() => void> = [];

  constructor(private readonly readers: Reader[]) {
    this.idle = [...readers];
  }

  /** Resolves when no query is running, or after `maxMs`, whichever comes first. */
  whenQuiet(maxMs: number): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, maxMs);
      this.quiet.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private begin(): void {
    this.active++;
  }

  private end(): void {
    if (--this.active > 0) return;
    for (const wake of this.quiet.splice(0)) wake();
  }

  /** Runs `sql` with `values` and returns the result's columns. */
  async columns(sql: string, values: DuckDBValue[], types: DuckDBType[]): Promise<DuckDBValue[][]> {
    this.begin();
    try {
      return await this.run(sql, values, types);
    } finally {
      this.end();
    }
  }

  private async run(sql: string, values: DuckDBValue[], types: DuckDBType[]): Promise<DuckDBValue[][]> {
    const reader = await this.acquire();
    try {
      let statement = reader.statements.get(sql);
      if (!statement) {
        statement = await reader.conn.prepare(sql);
        reader.statements.set(sql, statement);
      }
      statement.bind(values, types);
      return columnsOf(await statement.run());
    } finally {
      this.release(reader);
    }
  }

  /**
   * Runs `sql` without a cached prepared statement. DuckDB 1.5 answers a prepared `count(*)` of a reopened
   * file from the plan it made the first time (a stale count on every later call; test: "keeps data and
   * checkpoint across a reopen"), so counts go through here.
   */
  async columnsUnprepared(sql: string): Promise<DuckDBValue[][]> {
    const reader = await this.acquire();
    try {
      return columnsOf(await reader.conn.run(sql));
    } finally {
      this.release(reader);
    }
  }

  /** Waits for the queries in flight, then closes every connection. */
  async close(): Promise<void> {
    const held: Reader[] = [];
    while (held.length < this.readers.length) held.push(await this.acquire());
    for (const reader of held) {
      for (const statement of reader.statements.values()) statement.destroySync();
      reader.conn.closeSync();
    }
  }

  private acquire(): Promise<Reader> {
    const reader = this.idle.pop();
    return reader ? Promise.resolve(reader) : new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(reader: Reader): void {
    const next = this.waiting.shift();
    if (next) next(reader);
    else this.idle.push(reader);
  }
}

/**
 * The columns of a materialized result, read on this thread. `runAndReadAll` fetches each chunk through
 * DuckDB's threads again (one round trip per chunk, and one more to learn there are no more); a result of
 * `run()` is already complete. A trace lookup takes 20% less time at the median this way (two queries on a
 * 1M-span file, alternating blocks of 50: 6.0-6.3 vs 7.5-7.9 ms while the machine was busy).
 */
function columnsOf(result: DuckDBMaterializedResult): DuckDBValue[][] {
  const chunks = result.chunkCount;
  if (chunks === 1) return result.getChunk(0).getColumns();
  const columns: DuckDBValue[][] = Array.from({ length: result.columnCount }, () => []);
  for (let i = 0; i < chunks; i++) {
    for (const [c, values] of result.getChunk(i).getColumns().entries()) {
      const column = columns[c]!;
      for (const value of values) column.push(value);
    }
  }
  return columns;
}

/**
 * Spans converted and laid out between two yields to the event loop: ~2-3 ms of work, so a query that
 * arrives meanwhile (its message, then its result) waits no longer than that.
 */
const ROWS_PER_YIELD = 256;

/**
 * Queries go first: while one runs, laying out a batch pauses (between steps, for at most this long each
 * time), so the query has the thread and a core to itself. A batch still advances between queries that
 * follow each other without a gap.
 */
const QUERY_PRIORITY_MS = 20;

/**
 * Parses ids and lays the spans out in column chunks as they come (see `BatchBuilder`): most of a write's
 * JavaScript work. It starts when `write` is called, so a caller that issues the next batch before the
 * previous one resolves overlaps it with that batch's commit (which runs on DuckDB's threads), and it yields
 * to the event loop as it goes.
 */
async function prepareBatch(
  records: Iterable<SpanRecordInput | WireSpanInput>,
  pause: () => Promise<void>,
): Promise<BatchBuilder> {
  const batch = new BatchBuilder();
  for (const record of records) {
    batch.add(record);
    if (batch.count % ROWS_PER_YIELD === 0) {
      await setImmediate();
      await pause();
    }
  }
  batch.finish();
  return batch;
}

/**
 * The trace index of the traces in trace_times (see trace-index.ts): the most recent `maxTraces / 2` of
 * them held, if there are more than `maxTraces`, and the rest evicted. Read on the writer connection inside
 * the write lane (or before any write), so no batch commits meanwhile.
 */
async function loadTraceIndex(conn: DuckDBConnection, maxTraces: number): Promise<TraceIndex> {
  const index = TraceIndex.create(maxTraces);
  const traces =
    'SELECT trace_id, min(min_start_ns) AS min_ns, max(max_start_ns) AS max_ns FROM trace_times GROUP BY trace_id';
  // Traces whose latest span started at or before this are evicted (ties at the edge too). Only a table
  // with more rows than the index holds (a count DuckDB answers from its statistics) can have more traces:
  // then they are counted, a read of the whole table that opening a smaller store skips.
  const count = async (sql: string) => Number((await conn.runAndReadAll(sql)).getRows()[0]?.[0]);
  let cutoff: bigint | undefined;
  if (
    (await count('SELECT count(*) FROM trace_times')) > maxTraces &&
    (await count('SELECT count(DISTINCT trace_id) FROM trace_times')) > maxTraces
  ) {
    const edge = await conn.runAndReadAll(
      `SELECT max_ns FROM (${traces}) ORDER BY max_ns DESC LIMIT 1 OFFSET ${Math.floor(maxTraces / 2)}`,
    );
    cutoff = edge.getRows()[0]?.[0] as bigint;
  }
  const result = await conn.stream(traces);
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    const [ids = [], mins = [], maxes = []] = chunk.getColumns() as bigint[][];
    for (let i = 0; i < ids.length; i++) {
      if (cutoff !== undefined && maxes[i]! <= cutoff) index.addEvicted(ids[i]!, maxes[i]!);
      else index.add(ids[i]!, mins[i]!, maxes[i]!);
    }
  }
  return index;
}

/** The HTTP body of a list of span JSON texts. */
const arrayOf = (texts: string[]) => `[${texts.join(',')}]`;

/**
 * `columns` (SPAN_TEXT's, then start_ns and span_id) with their rows in NEWEST_FIRST order. For a trace's
 * rows: DuckDB's ORDER BY cost ~1 ms of a ~2.4 ms spans query at the median (1M-span file, 20-span traces,
 * alternating blocks), and p95 4.3-4.6 vs 2.4-3.2 ms without it.
 */
function newestFirst(columns: DuckDBValue[][]): DuckDBValue[][] {
  const start = (columns[3] ?? []) as bigint[];
  const spanId = (columns[4] ?? []) as bigint[];
  const order = start.map((_, i) => i);
  order.sort((a, b) => {
    const byStart = start[b]! - start[a]!;
    if (byStart !== 0n) return byStart > 0n ? 1 : -1;
    return spanId[b]! > spanId[a]! ? 1 : spanId[b]! < spanId[a]! ? -1 : 0;
  });
  return columns.slice(0, 3).map((column) => order.map((i) => column[i]!));
}

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

function assertLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`span store: bad limit ${limit}`);
}

// Every list sorts by start time, newest first; span_id breaks ties so equal start times keep one order.
const NEWEST_FIRST = 'ORDER BY start_ns DESC, span_id DESC';

/** What a `spans` row's JSON text is made from (`spanTexts`). */
const SPAN_TEXT = 'json, otlp, service_name';

/** The `json` texts of `page` (which selects json, start_ns, span_id), newest first, joined by commas. */
function joinedJson(page: string): string {
  return `SELECT string_agg(json, ',' ${NEWEST_FIRST}) FROM (${page})`;
}

/**
 * The duplicate probe's scratch table (a temp table: per connection, never in the file), made anew for each
 * batch. Emptying it with DELETE (or TRUNCATE) instead kept every deleted row: a temp table is never
 * checkpointed, so nothing vacuums it. Its rows filled DuckDB's memory limit within ~100 batches (2.5M
 * spans) and then spilled to a temp file growing ~0.5 MB a batch without end, while every other block of
 * the store was pushed out to disk too (measured with a loop of 25,000-row batches: 56 MiB held and 204 MiB
 * of temp file after 400; with CREATE OR REPLACE, under 1 MiB and none).
 */
const BATCH_KEYS =
  'CREATE OR REPLACE TEMP TABLE batch_keys (position INTEGER NOT NULL, trace_id UHUGEINT NOT NULL, span_id UBIGINT NOT NULL)';

const SQL = {
  serviceSpans: `SELECT ${SPAN_TEXT} FROM spans WHERE service_name = $1 ${NEWEST_FIRST} LIMIT $2`,
  // The listed tables hold every row's JSON text: DuckDB joins the page into one string (one allocation on
  // the worker's heap instead of one per span, which the garbage collector then had to promote and sweep).
  rootSpans: joinedJson(
    `SELECT json, start_ns, span_id FROM root_and_workflow_spans WHERE service_name = $1 AND is_root ${NEWEST_FIRST} LIMIT $2`,
  ),
  // A trace qualifies through any of its spans, in any service.
  llmRootSpans: joinedJson(`SELECT json, start_ns, span_id FROM root_and_workflow_spans
    WHERE service_name = $1 AND is_root AND trace_id IN (SELECT trace_id FROM llm_traces)
    ${NEWEST_FIRST} LIMIT $2`),
  workflows: joinedJson(
    `SELECT json, start_ns, span_id FROM root_and_workflow_spans WHERE service_name = $1 AND is_workflow ${NEWEST_FIRST} LIMIT $2`,
  ),
  // A trace's start-time range first (from the trace index, or 0002_trace_times.sql for a trace it evicted),
  // then its spans inside it: the range lets the zone maps on start_ns skip the row groups written at other
  // times.
  traceTimes: 'SELECT min(min_start_ns), max(max_start_ns) FROM trace_times WHERE trace_id = $1',
  // Sorted by `newestFirst`, not by DuckDB.
  traceSpans: `SELECT ${SPAN_TEXT}, start_ns, span_id FROM spans WHERE trace_id = $1 AND start_ns BETWEEN $2 AND $3`,
  span: `SELECT ${SPAN_TEXT} FROM spans WHERE trace_id = $1 AND span_id = $2 AND start_ns BETWEEN $3 AND $4 LIMIT 1`,
  stats: 'SELECT (SELECT count(*) FROM spans), (SELECT count(*) FROM state_patches)',
  scratchRows: `SELECT coalesce(sum(count), 0) FROM pragma_storage_info('temp.batch_keys')
    WHERE column_id = 0 AND segment_type <> 'VALIDITY'`,
};

/**
 * The span store on one DuckDB file. One connection writes (every write and retention step goes through a
 * serial lane, one transaction each); a small pool of connections answers queries, which see committed
 * data only (DuckDB MVCC), so they never wait for a batch in progress.
 */
export class DuckDbSpanStore implements SpanStore {
  private readonly lane = new SerialLane();
  private closed: Promise<void> | undefined;
  /** Set by a failed write; cleared in lane order by `checkpoint()` (see `write`). */
  private failed = false;
  /** `servicesJson()` of the current `knownServices`; cleared whenever that set changes. */
  private servicesText: string | undefined;

  private constructor(
    private readonly file: string,
    private readonly instance: DuckDBInstance,
    private readonly writer: DuckDBConnection,
    private readonly readers: ReaderPool,
    /** Mirrors the services table, so a batch inserts only names it has not seen. */
    private readonly knownServices: Set<string>,
    private readonly retentionStep: number,
    private readonly traceIndexMaxTraces: number,
    /** See trace-index.ts. */
    private traceIndex: TraceIndex,
    private readonly idleCheckpoint: { ms: number; bytes: number },
  ) {}

  /** Fires `idleCheckpoint.ms` after the last commit (re-armed by each one); see `checkpointWhenIdle`. */
  private idleTimer: NodeJS.Timeout | undefined;

  /** Opens `file`, applies pending schema files and prepares the connections. See `SpanStore.open`. */
  static async open(file: string, options: DuckDbSpanStoreOptions = {}): Promise<DuckDbSpanStore> {
    const key = path.resolve(file);
    if (openFiles.has(key)) throw new Error(`span store: ${key} is already open in this process`);
    openFiles.add(key);
    let instance: DuckDBInstance | undefined;
    try {
      instance = await DuckDBInstance.create(key, {
        memory_limit: options.memoryLimit ?? '64MB',
        // DuckDB 1.5's row-group pruner makes ORDER BY … LIMIT return no rows at all while another connection
        // commits appends (reproduced in test/store: "newest-first lists while batches commit").
        disabled_optimizers: 'row_group_pruner',
        // Sort and limit on the narrow columns first, then read the JSON of the rows returned only, for every
        // limit the API allows (1..10000; DuckDB's default stops at 50).
        late_materialization_max_rows: '10000',
        checkpoint_threshold: options.checkpointThreshold ?? '128MB',
        // A new file gets storage version v1.2.0, which can hold the `otlp` column as ZSTD
        // (0003_span_otlp.sql). An existing file keeps the version it was created with.
        storage_compatibility_version: 'v1.2.0',
        threads: String(options.threads ?? 1),
      });
      const writer = await instance.connect();
      await applySchema(writer);
      const services =
        (await writer.runAndReadAll('SELECT service_name FROM services')).getColumns()[0] ?? [];
      const traceIndexMaxTraces = options.traceIndexMaxTraces ?? 786_432;
      const traceIndex = await loadTraceIndex(writer, traceIndexMaxTraces);
      const readers: Reader[] = [];
      for (let i = 0; i < (options.readers ?? 2); i++) {
        readers.push({ conn: await instance.connect(), statements: new Map() });
      }
      return new DuckDbSpanStore(
        key,
        instance,
        writer,
        new ReaderPool(readers),
        new Set(services.map(String)),
        options.retentionStep ?? 100_000,
        traceIndexMaxTraces,
        traceIndex,
        { ms: options.idleCheckpointMs ?? 5_000, bytes: options.idleCheckpointBytes ?? 4 * 2 ** 20 },
      );
    } catch (error) {
      instance?.closeSync();
      openFiles.delete(key);
      throw error;
    }
  }

  /**
   * Stores the batch and `checkpoint` in one transaction (see `SpanStore.write`). Writes may be issued
   * before earlier ones resolve; they commit in call order. After a failed write, every later write is
   * refused until `checkpoint()` has been read: a pipelined caller must not commit a later batch, and a
   * later WAL position, over the one that was lost.
   */
  write(records: readonly SpanRecordInput[], checkpoint: number): Promise<void> {
    return this.writeStream(records, checkpoint).then(() => undefined);
  }

  /**
   * `write` for records produced as the batch is laid out (the store worker converts exports into it), so
   * no more than a chunk's worth of converted spans is alive at a time. Resolves with the number of
   * records taken, duplicates included.
   */
  writeStream(records: Iterable<SpanRecordInput | WireSpanInput>, checkpoint: number): Promise<number> {
    this.assertOpen();
    const prepared =
      Number.isSafeInteger(checkpoint) && checkpoint >= 0
        ? prepareBatch(records, () => this.readers.whenQuiet(QUERY_PRIORITY_MS))
        : Promise.reject(new RangeError(`span store: bad checkpoint ${checkpoint}`));
    // Handled in the lane below; this keeps a rejection from counting as unhandled until then.
    prepared.catch(() => {});
    return this.lane.run(async () => {
      if (this.failed) {
        prepared.then(
          (refused) => refused.release(),
          () => {},
        );
        throw new Error('span store: an earlier write failed; resume from checkpoint()');
      }
      let batch: BatchBuilder | undefined;
      try {
        batch = await prepared;
        await this.commit(batch, checkpoint);
        return batch.count;
      } catch (error) {
        this.failed = true;
        throw error;
      } finally {
        batch?.release();
      }
    });
  }

  private async commit(batch: BatchBuilder, checkpoint: number): Promise<void> {
    const conn = this.writer;
    const newServices = [...batch.services].filter((name) => !this.knownServices.has(name));
    await conn.run('BEGIN TRANSACTION');
    try {
      if (batch.count > 0) {
        let chunks = batch.chunks();
        const duplicates = await this.duplicatePositions(batch);
        // Rare (a re-sent export): lay the batch out again without the duplicates.
        if (duplicates.size > 0) chunks = batch.chunksWithout(duplicates);
        await appendChunks(await conn.createAppender('spans'), chunks.spans);
        await appendChunks(await conn.createAppender('root_and_workflow_spans'), chunks.rootAndWorkflowSpans);
        await appendChunks(await conn.createAppender('llm_traces'), chunks.llmTraces);
        await appendChunks(await conn.createAppender('state_patches'), chunks.statePatches);
        await appendChunks(await conn.createAppender('trace_times'), chunks.traceTimes);
        for (const name of newServices) {
          await conn.run('INSERT INTO services VALUES ($1) ON CONFLICT DO NOTHING', [name]);
        }
      }
      await conn.run(
        'INSERT OR REPLACE INTO ingest_checkpoint VALUES (1, $1)',
        [BigInt(checkpoint)],
        [BIGINT],
      );
      await conn.run('COMMIT');
    } catch (error) {
      await this.rollback();
      throw error;
    }
    const index = this.traceIndex;
    const evicted = index.evicted;
    for (const { traceId, minStartNs, maxStartNs } of batch.traceRanges) {
      index.add(traceId, minStartNs, maxStartNs);
    }
    if (index.evicted > evicted) {
      // Rare (once per `traceIndexMaxTraces / 2` new traces), and it changes what older lookups cost.
      logger.info('trace index evicted its older traces; looking up one of them reads trace_times', {
        held: index.size,
        evicted: index.evicted,
        older_than: new Date(Number(index.horizon) / 1e6).toISOString(),
      });
    }
    for (const name of newServices) this.knownServices.add(name);
    if (newServices.length > 0) this.servicesText = undefined;
    this.armIdleCheckpoint();
  }

  private armIdleCheckpoint(): void {
    if (this.idleCheckpoint.ms <= 0) return;
    if (this.idleTimer) this.idleTimer.refresh();
    else {
      this.idleTimer = setTimeout(() => this.checkpointWhenIdle(), this.idleCheckpoint.ms);
      this.idleTimer.unref();
    }
  }

  /**
   * Checkpoints through the write lane (a batch that arrives meanwhile commits after it), if the WAL is big
   * enough to be worth it. Queries in flight carry on meanwhile: DuckDB 1.5 refuses a checkpoint only while
   * another transaction holds changes, which the lane rules out (checked with a query running on another
   * connection). Should it fail anyway, the timer is re-armed.
   */
  private checkpointWhenIdle(): void {
    if (this.closed || this.failed || this.walBytes() < this.idleCheckpoint.bytes) return;
    this.lane
      .run(async () => {
        try {
          await this.writer.run('CHECKPOINT');
        } catch {
          this.armIdleCheckpoint();
        }
      })
      .catch(() => {});
  }

  /**
   * Positions in the batch of spans to skip: those already stored, and repeats of an earlier span of the
   * batch (an export retried into the same stretch of the WAL). A re-sent or replayed span is the same span,
   * with the same start time, so only stored rows inside `storedProbeRange` can match, and a batch can only
   * repeat a span of its own if two of its spans share a span id (`mayRepeat`). When neither can happen,
   * as for most batches, nothing is searched; otherwise the search runs in DuckDB, off this thread.
   */
  private async duplicatePositions(batch: BatchBuilder): Promise<Set<number>> {
    const range = this.storedProbeRange(batch);
    if (!range && !batch.mayRepeat) return new Set();
    const conn = this.writer;
    await conn.run(BATCH_KEYS);
    await appendChunks(await conn.createAppender('batch_keys', 'main', 'temp'), batch.keyChunks());
    const repeats = `SELECT position FROM batch_keys
       QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY position) > 1`;
    const result = range
      ? await conn.runAndReadAll(
          `SELECT k.position FROM batch_keys k SEMI JOIN (
             SELECT trace_id, span_id FROM spans WHERE start_ns BETWEEN $1 AND $2
           ) s ON k.trace_id = s.trace_id AND k.span_id = s.span_id
           UNION ALL ${repeats}`,
          range,
          [BIGINT, BIGINT],
        )
      : await conn.runAndReadAll(repeats);
    return new Set((result.getColumns()[0] ?? []).map(Number));
  }

  /**
   * The start times a stored copy of one of the batch's spans could have, as one range; undefined when no
   * span of the batch can already be stored. Rows arrive in roughly start-time order, and the zone maps on
   * start_ns let the probe skip the row groups outside this range, so its cost follows the range's width.
   *
   * The batch's own range (its earliest to its latest span start) made the probe scan every row stored
   * while those spans ran: at 100K spans/s, with the spans of an export starting up to 6 s apart, the probe
   * took 88-111 ms of a ~270 ms commit of 25,000 spans, and 58-72 ms with the range narrowed (a build timing
   * each step; docs/benchmarks.md). With the trace index (trace-index.ts) only the batch's traces that
   * already have stored spans count, and for each only where its spans in the batch overlap its stored
   * ones; usually none do. For a trace the index may have evicted, also wherever the batch's spans started
   * before the index's horizon (for live data, nowhere).
   */
  private storedProbeRange(batch: BatchBuilder): [bigint, bigint] | undefined {
    let min: bigint | undefined;
    let max: bigint | undefined;
    for (const { traceId, minStartNs, maxStartNs } of batch.traceRanges) {
      const range = this.traceIndex.probeRange(traceId, minStartNs, maxStartNs);
      if (!range) continue;
      if (min === undefined || range[0] < min) min = range[0];
      if (max === undefined || range[1] > max) max = range[1];
    }
    return min === undefined || max === undefined ? undefined : [min, max];
  }

  private async rollback(): Promise<void> {
    try {
      await this.writer.run('ROLLBACK');
    } catch {
      // DuckDB has already ended a transaction that failed to commit.
    }
  }

  /** Read in lane order, after every write issued before it; also re-enables writing after a failure. */
  checkpoint(): Promise<number | undefined> {
    this.assertOpen();
    return this.lane.run(async () => {
      const rows = (await this.writer.runAndReadAll('SELECT wal_position FROM ingest_checkpoint')).getRows();
      this.failed = false;
      const position = rows[0]?.[0];
      return position === undefined || position === null ? undefined : Number(position);
    });
  }

  /**
   * From the in-memory mirror of the services table (updated after each commit and each retention pass), so
   * the UI's most frequent call costs no query.
   */
  async services(): Promise<string> {
    this.assertOpen();
    return this.servicesJson();
  }

  /** `services()`, synchronously: the store worker tells the main thread when this changes. */
  servicesJson(): string {
    // Rendered once per change of the set, not per call: the worker compares it after every call.
    // Byte order of the UTF-8 names, as DuckDB's ORDER BY sorted them.
    this.servicesText ??= JSON.stringify(
      [...this.knownServices].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    );
    return this.servicesText;
  }

  async serviceSpans(service: string, limit: number): Promise<string> {
    assertLimit(limit);
    return this.spanArray(SQL.serviceSpans, [service, BigInt(limit)], [VARCHAR, BIGINT]);
  }

  async rootSpans(service: string, { hasLlm, limit }: RootSpansQuery): Promise<string> {
    assertLimit(limit);
    return this.jsonArray(
      hasLlm ? SQL.llmRootSpans : SQL.rootSpans,
      [service, BigInt(limit)],
      [VARCHAR, BIGINT],
    );
  }

  async workflows(service: string, limit: number): Promise<string> {
    assertLimit(limit);
    return this.jsonArray(SQL.workflows, [service, BigInt(limit)], [VARCHAR, BIGINT]);
  }

  async traceSpans(traceId: string): Promise<string> {
    // Ids are stored lowercase; anything else names no stored trace.
    if (!TRACE_ID.test(traceId)) return '[]';
    const id = BigInt(`0x${traceId}`);
    const range = await this.traceRange(id);
    if (!range) return '[]';
    this.assertOpen();
    const columns = await this.readers.columns(SQL.traceSpans, [id, ...range], [UHUGEINT, BIGINT, BIGINT]);
    return arrayOf(spanTexts(newestFirst(columns)));
  }

  async span(traceId: string, spanId: string): Promise<string | null> {
    if (!TRACE_ID.test(traceId) || !SPAN_ID.test(spanId)) return null;
    const id = BigInt(`0x${traceId}`);
    const range = await this.traceRange(id);
    if (!range) return null;
    const [json] = await this.spanTexts(
      SQL.span,
      [id, BigInt(`0x${spanId}`), ...range],
      [UHUGEINT, UBIGINT, BIGINT, BIGINT],
    );
    return json ?? null;
  }

  /**
   * The earliest and latest span start of a stored trace, or undefined for an unknown one. Read before the
   * spans, in an earlier or the same committed state: a batch commits its spans and their ranges together,
   * so every span this range misses was committed after it was read. From the trace index, and from
   * trace_times for a trace it may not cover whole (see trace-index.ts).
   */
  private async traceRange(traceId: bigint): Promise<[bigint, bigint] | undefined> {
    const { range, older } = this.traceIndex.lookup(traceId);
    if (!older) return range;
    const [min, max] = await this.readers.columns(SQL.traceTimes, [traceId], [UHUGEINT]);
    const lo = min?.[0];
    const hi = max?.[0];
    if (typeof lo !== 'bigint' || typeof hi !== 'bigint') return range;
    if (!range) return [lo, hi];
    // Both (bigints: no Math.min).
    let [from, to] = range;
    if (lo < from) from = lo;
    if (hi > to) to = hi;
    return [from, to];
  }

  /**
   * Deletes in steps of at most `retentionStep` spans (oldest first, ties at the step's edge included), each
   * step one transaction in the write lane with the patches of the spans it removes, so writes queued
   * meanwhile commit between steps.
   */
  async deleteOlderThan(cutoffNs: bigint): Promise<number> {
    this.assertOpen();
    let deleted = 0;
    for (;;) {
      // Closing ends a pass between steps: the next pass deletes the rest.
      if (this.closed) return deleted;
      const step = await this.lane.run(() => this.deleteStep(cutoffNs));
      if (step === 0) break;
      deleted += step;
    }
    await this.lane.run(() => this.afterRetention(deleted > 0));
    return deleted;
  }

  private async deleteStep(cutoffNs: bigint): Promise<number> {
    const conn = this.writer;
    const edge = (
      await conn.runAndReadAll(
        `SELECT max(start_ns) FROM (SELECT start_ns FROM spans WHERE start_ns < $1 ORDER BY start_ns LIMIT $2)`,
        [cutoffNs, BigInt(this.retentionStep)],
        [BIGINT, BIGINT],
      )
    ).getRows()[0]?.[0];
    if (edge === null || edge === undefined) return 0;
    await conn.run('BEGIN TRANSACTION');
    try {
      const result = await conn.run('DELETE FROM spans WHERE start_ns <= $1', [edge], [BIGINT]);
      await conn.run('DELETE FROM root_and_workflow_spans WHERE start_ns <= $1', [edge], [BIGINT]);
      await conn.run('DELETE FROM llm_traces WHERE start_ns <= $1', [edge], [BIGINT]);
      await conn.run('DELETE FROM state_patches WHERE span_start_ns <= $1', [edge], [BIGINT]);
      await conn.run('DELETE FROM trace_times WHERE max_start_ns <= $1', [edge], [BIGINT]);
      await conn.run('COMMIT');
      return result.rowsChanged;
    } catch (error) {
      await this.rollback();
      throw error;
    }
  }

  /** Drops services left without spans, and checkpoints so the freed blocks are reused. */
  private async afterRetention(deletedAny: boolean): Promise<void> {
    const conn = this.writer;
    await conn.run(
      'DELETE FROM services WHERE service_name NOT IN (SELECT DISTINCT service_name FROM spans)',
    );
    const names = (await conn.runAndReadAll('SELECT service_name FROM services')).getColumns()[0] ?? [];
    this.knownServices.clear();
    for (const name of names) this.knownServices.add(String(name));
    this.servicesText = undefined;
    // Traces whose spans are all gone leave the index and its filter of evicted ids. Not
    // when nothing was deleted: the pass runs every 10 minutes, and reading trace_times whole takes a while.
    if (deletedAny) this.traceIndex = await loadTraceIndex(conn, this.traceIndexMaxTraces);
    try {
      await conn.run('CHECKPOINT');
    } catch {
      // Should DuckDB refuse it, its next automatic checkpoint reclaims the space instead.
    }
  }

  async stats(): Promise<SpanStoreStats> {
    this.assertOpen();
    const [spans, patches] = await this.readers.columnsUnprepared(SQL.stats);
    // The scratch table is the writer connection's own (a temp table), and made by the first probe.
    const scratch = await this.lane.run(() =>
      this.writer
        .runAndReadAll(SQL.scratchRows)
        .then((result) => Number(result.getColumns()[0]?.[0] ?? 0))
        .catch(() => 0),
    );
    return {
      spans: Number(spans?.[0]),
      statePatches: Number(patches?.[0]),
      fileBytes: statSync(this.file).size + this.walBytes(),
      indexedTraces: this.traceIndex.size,
      evictedTraces: this.traceIndex.evicted,
      scratchRows: scratch,
    };
  }

  /** The size of DuckDB's WAL beside the file (absent once a checkpoint has emptied it). */
  private walBytes(): number {
    const wal = `${this.file}.wal`;
    return existsSync(wal) ? statSync(wal).size : 0;
  }

  close(): Promise<void> {
    clearTimeout(this.idleTimer);
    this.closed ??= this.lane.run(async () => {
      await this.readers.close();
      this.writer.closeSync();
      this.instance.closeSync();
      openFiles.delete(this.file);
    });
    return this.closed;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('span store: closed');
  }

  /** The body for a `joinedJson` query: the stored texts are complete JSON values, never re-serialised. */
  private async jsonArray(sql: string, values: DuckDBValue[], types: DuckDBType[]): Promise<string> {
    const [joined] = await this.query(sql, values, types);
    return `[${typeof joined === 'string' ? joined : ''}]`;
  }

  /** `jsonArray` for a `spans` query selecting SPAN_TEXT. */
  private async spanArray(sql: string, values: DuckDBValue[], types: DuckDBType[]): Promise<string> {
    return arrayOf(await this.spanTexts(sql, values, types));
  }

  /** The JSON text of each row of a `spans` query selecting SPAN_TEXT. */
  private async spanTexts(sql: string, values: DuckDBValue[], types: DuckDBType[]): Promise<string[]> {
    this.assertOpen();
    return spanTexts(await this.readers.columns(sql, values, types));
  }

  private async query(sql: string, values: DuckDBValue[], types: DuckDBType[]): Promise<DuckDBValue[]> {
    this.assertOpen();
    return (await this.readers.columns(sql, values, types))[0] ?? [];
  }

  /**
   * See `SpanStore.snapshot`. Runs on a connection of its own, outside the write lane and the reader pool:
   * one transaction copies every table (COPY FROM DATABASE, which recreates the schema, compression choices
   * and the services key included) and reads the checkpoint, so MVCC gives the copy one committed state while
   * batches keep committing. DETACH checkpoints the copy, leaving a single file with no .wal.
   */
  async snapshot(targetFile: string): Promise<{ checkpoint: number | undefined }> {
    this.assertOpen();
    const target = path.resolve(targetFile);
    if (existsSync(target)) throw new Error(`span store: snapshot target ${target} exists`);
    const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;
    const conn = await this.instance.connect();
    try {
      const [source] = (await conn.runAndReadAll('SELECT current_database()')).getRows()[0] ?? [];
      await conn.run(`ATTACH '${target.replaceAll("'", "''")}' AS junjo_snapshot`);
      try {
        await conn.run('BEGIN TRANSACTION');
        try {
          await conn.run(`COPY FROM DATABASE ${ident(String(source))} TO junjo_snapshot`);
          const rows = (
            await conn.runAndReadAll(`SELECT wal_position FROM ${ident(String(source))}.ingest_checkpoint`)
          ).getRows();
          await conn.run('COMMIT');
          const position = rows[0]?.[0];
          return { checkpoint: position === undefined || position === null ? undefined : Number(position) };
        } catch (error) {
          await conn.run('ROLLBACK').catch(() => {});
          throw error;
        }
      } finally {
        await conn.run('DETACH junjo_snapshot');
      }
    } finally {
      conn.closeSync();
    }
  }
}
