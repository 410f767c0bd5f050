import { logger } from '@junjo/core/logger';
import { RecordKind } from '../receiver/pipeline.ts';
import type { SpanStore } from '../store/index.ts';
import type { Wal } from '../wal/index.ts';
import { type ExportPayload, type ExportWriter, writeExports } from './convert.ts';

export interface IndexerOptions {
  /**
   * OTLP export bytes per store transaction (default 4 MiB: ~25,000 small spans, ~800 LLM-sized ones). Large
   * batches are what make DuckDB fast; the bound keeps the converted batch's memory in check.
   */
  batchBytes?: number;
  /** WAL bytes read per step. */
  readBytes?: number;
  /** How long to wait for new data when caught up (an append wakes the indexer sooner). */
  idleMs?: number;
}

export interface IndexPass {
  records: number;
  spans: number;
}

type WriteResult = IndexPass & { failed?: true; error?: unknown };

interface Batch {
  exports: ExportPayload[];
  records: number;
  next: number;
  oldestReceiptMs: number;
}

/**
 * Tails the WAL into the span store. Each batch of exports is converted and written together with the WAL
 * position reached, in one store transaction; only then is the WAL released up to it. After a crash (or a
 * failed write) the indexer resumes from the store's checkpoint, so a batch is either fully stored or
 * replayed, never half. With the store on its worker thread (`SpanStore.openInWorker`) this thread only
 * reads the WAL and hands bytes over; the next batch is handed over while the previous one commits, so the
 * worker converts one while DuckDB writes the other. The store commits them in order and refuses every
 * later batch after a failed one until the checkpoint is read again.
 */
export class Indexer {
  /** Where the next batch starts reading: ahead of `#committed` while a write is in flight. */
  #readPosition = 0;
  /** The WAL position the store has committed. */
  #committed = 0;
  #inFlight: Promise<IndexPass> | undefined;
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #serial: Promise<unknown> = Promise.resolve();
  readonly #batchBytes: number;
  readonly #readBytes: number;
  readonly #idleMs: number;
  /** Counters since start, and the receipt → queryable lag of the last batch. */
  readonly stats = { records: 0, spans: 0, batches: 0, lastLagMs: 0, failures: 0 };

  constructor(
    private readonly wal: Wal,
    private readonly store: SpanStore | (SpanStore & ExportWriter),
    options: IndexerOptions = {},
  ) {
    this.#batchBytes = options.batchBytes ?? 4 * 1024 * 1024;
    this.#readBytes = options.readBytes ?? 8 * 1024 * 1024;
    this.#idleMs = options.idleMs ?? 100;
  }

  /** Resumes from the store's checkpoint (or the WAL's released position) and starts tailing. */
  async start(): Promise<void> {
    await this.#resync();
    // The store may be ahead of the WAL's released position (a crash between commit and release).
    if (this.#committed > this.wal.firstUnreleased()) await this.wal.release(this.#committed);
    this.#running = true;
    this.#loop = this.#run();
  }

  /** New data was appended: index it now rather than at the next poll. */
  notify(): void {
    this.#wake?.();
  }

  /**
   * Indexes everything appended before this call and resolves once it is queryable, with what was indexed
   * meanwhile: by this call and by the tailing loop, whose steps interleave with its own (counting only its
   * own steps reported about half of a large backlog).
   */
  async flush(): Promise<IndexPass> {
    const target = this.wal.end();
    const before = { records: this.stats.records, spans: this.stats.spans };
    const deadline = Date.now() + 60_000;
    while (this.#committed < target && Date.now() < deadline) {
      // Steps like the tailing loop's, each handing over the next batch before waiting for the previous
      // one, so a large backlog drains with two batches in flight; the last step leaves its batch to the
      // loop, or to the next step, once the target is committed.
      const pass = await this.#exclusive(() => this.#advance());
      // Nothing to index yet: the newest appends are still being synced.
      if (pass.records === 0 && !this.#inFlight) await new Promise((r) => setTimeout(r, 5));
    }
    // Stopped (as when ingest closes): no loop will wait for a batch left in flight, so wait for it here.
    if (!this.#running) await this.#exclusive(() => this.#settle());
    return { records: this.stats.records - before.records, spans: this.stats.spans - before.spans };
  }

  /** Stops tailing after the batch in progress; `flush()` still works afterwards. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const pass = await this.#exclusive(() => this.#advance());
      if (pass.records > 0 || this.#inFlight) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#idleMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    await this.#exclusive(() => this.#settle());
  }

  /** Runs `fn` after every earlier call: the loop and flushes never interleave their steps. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(fn);
    this.#serial = run.catch(() => undefined);
    return run;
  }

  /**
   * One step: read the next batch and hand it to the store while the previous one is still being written,
   * then wait for that previous one. At most two batches are with the store; they commit in order, and after
   * a failed one the store refuses the next until the checkpoint is read again (`#resync`), so a batch can
   * never be overtaken by a later one and its checkpoint.
   * Resolves with what the awaited writes committed; never rejects.
   */
  async #advance(): Promise<IndexPass> {
    const previous = this.#inFlight;
    this.#inFlight = undefined;
    let batch: Batch | undefined;
    try {
      batch = await this.#collect();
    } catch (error) {
      this.stats.failures++;
      logger.error('reading the WAL failed; will retry', { error: error as Error });
    }
    const next = batch && this.#write(batch);
    const committed: IndexPass = { records: 0, spans: 0 };
    const add = (result: WriteResult) => {
      if (result.failed) return;
      committed.records += result.records;
      committed.spans += result.spans;
    };
    if (previous) add(await this.#finish(previous));
    this.#inFlight = next;
    return committed;
  }

  /** Waits for the write in flight, if any. */
  async #settle(): Promise<IndexPass> {
    const pending = this.#inFlight;
    this.#inFlight = undefined;
    if (!pending) return { records: 0, spans: 0 };
    const result = await this.#finish(pending);
    return result.failed ? { records: 0, spans: 0 } : result;
  }

  /** Awaits a write; after a failure, re-reads from what the store really committed. */
  async #finish(write: Promise<WriteResult>): Promise<WriteResult> {
    const result = await write;
    if (!result.failed) return result;
    this.stats.failures++;
    logger.error('indexing failed; resuming from the store checkpoint', { error: result.error as Error });
    try {
      await this.#resync();
    } catch (error) {
      logger.error('span store checkpoint unreadable', { error: error as Error });
    }
    return result;
  }

  /** Stores a batch with its checkpoint, then releases the WAL up to it. Never rejects. */
  async #write(batch: Batch): Promise<WriteResult> {
    let spans: number;
    try {
      spans = await writeExports(this.store, batch.exports, batch.next);
      await this.wal.release(batch.next);
    } catch (error) {
      return { records: 0, spans: 0, failed: true, error };
    }
    this.stats.records += batch.records;
    this.stats.spans += spans;
    this.stats.batches++;
    this.stats.lastLagMs = Date.now() - batch.oldestReceiptMs;
    // Last, so a flush that sees the position also sees the counters.
    this.#committed = batch.next;
    return { records: batch.records, spans };
  }

  async #resync(): Promise<void> {
    // Reading the checkpoint also lets the store accept writes again after a failure.
    this.#committed = (await this.store.checkpoint()) ?? this.wal.firstUnreleased();
    this.#readPosition = this.#committed;
  }

  /**
   * Reads WAL records from `#readPosition` up to a batch's worth of export bytes (at least one record);
   * undefined when caught up. Only trace exports are kept; other kinds just advance the position.
   */
  async #collect(): Promise<Batch | undefined> {
    const exports: ExportPayload[] = [];
    let bytes = 0;
    let records = 0;
    let next = this.#readPosition;
    let oldestReceiptMs = Number.POSITIVE_INFINITY;
    const end = this.wal.end();
    while (bytes < this.#batchBytes && next < end) {
      const read = await this.wal.read(next, Math.min(this.#readBytes, this.#batchBytes - bytes));
      if (read.records.length === 0) break;
      for (const record of read.records) {
        if (record.kind === RecordKind.TRACES) {
          exports.push({ position: record.position, payload: record.payload });
          bytes += record.payload.byteLength;
        }
        oldestReceiptMs = Math.min(oldestReceiptMs, record.receivedAtMs);
        records++;
        next = record.next;
        if (bytes >= this.#batchBytes) break;
      }
    }
    if (records === 0) return undefined;
    this.#readPosition = next;
    return { exports, records, next, oldestReceiptMs };
  }
}
