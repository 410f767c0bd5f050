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

/** Thrown by `Indexer.flush` when its deadline passes before the backlog it was asked for is queryable. */
export class FlushTimeout extends Error {
  override name = 'FlushTimeout';
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
  /** Ends the tailing loop's wait early: for new data (`notify`) when it is idle, and for `stop`. */
  #wake: (() => void) | undefined;
  /** Ends the tailing loop's wait after a failure early, for `stop` only. */
  #wakeOnStop: (() => void) | undefined;
  #serial: Promise<unknown> = Promise.resolve();
  /** Failures since the last successful write, and when the next step may run (see `#backOff`). */
  #failuresInARow = 0;
  #retryAt = 0;
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
   * @param deadline epoch ms (default: a minute from now).
   * @throws FlushTimeout when the deadline passes first (as when every write fails): what is left stays in
   *   the WAL, for the tailing loop or the next start. Found at the end of a step, so up to one step after
   *   the deadline.
   */
  async flush(deadline = Date.now() + 60_000): Promise<IndexPass> {
    const target = this.wal.end();
    const before = { records: this.stats.records, spans: this.stats.spans };
    try {
      while (this.#committed < target && Date.now() < deadline) {
        const backOff = Math.min(this.#retryAt, deadline) - Date.now();
        if (backOff > 0) {
          await new Promise((r) => setTimeout(r, backOff));
          continue;
        }
        // Steps like the tailing loop's, each handing over the next batch before waiting for the previous
        // one, so a large backlog drains with two batches in flight; the last step leaves its batch to the
        // loop, or to the next step, once the target is committed.
        const pass = await this.#exclusive(() => this.#advance());
        // Nothing to index yet: the newest appends are still being synced.
        if (pass.records === 0 && !this.#inFlight) await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      // Stopped (as when ingest closes): no loop will wait for a batch left in flight, so wait for it here.
      if (!this.#running) await this.#exclusive(() => this.#settle());
    }
    if (this.#committed < target) {
      throw new FlushTimeout(
        `the WAL was not indexed up to ${target} by the deadline (${this.#committed} reached)`,
      );
    }
    return { records: this.stats.records - before.records, spans: this.stats.spans - before.spans };
  }

  /** Stops tailing after the batch in progress; `flush()` still works afterwards. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#wakeOnStop?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const backOff = this.#retryAt - Date.now();
      if (backOff > 0) {
        await this.#pause(backOff, false);
        continue;
      }
      const pass = await this.#exclusive(() => this.#advance());
      if (pass.records > 0 || this.#inFlight) continue;
      await this.#pause(this.#idleMs, true);
    }
    await this.#exclusive(() => this.#settle());
  }

  /** Waits `ms`, or less: until `stop()`, or also until `notify()` when `onAppend`. */
  async #pause(ms: number, onAppend: boolean): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(wake, ms);
      function wake() {
        clearTimeout(timer);
        resolve();
      }
      this.#wakeOnStop = wake;
      if (onAppend) this.#wake = wake;
    });
    this.#wake = undefined;
    this.#wakeOnStop = undefined;
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
      logger.error('reading the WAL failed; will retry', {
        error: error as Error,
        retryInMs: this.#backOff(),
      });
    }
    const next = batch && this.#write(batch);
    const committed: IndexPass = { records: 0, spans: 0 };
    const add = (result: WriteResult) => {
      if (result.failed) return;
      committed.records += result.records;
      committed.spans += result.spans;
    };
    if (previous) {
      const result = await this.#finish(previous);
      add(result);
      if (result.failed && next) {
        // Handed over before `#finish` read the checkpoint again, so the store refused it, as it refuses
        // every batch after a failed one until then: not a failure of its own. It is read again from the
        // checkpoint. (If only releasing the WAL failed, the store took it, and it counts.)
        add(await next);
        return committed;
      }
    }
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

  /** Awaits a write; after a failure, re-reads from what the store really committed, and backs off. */
  async #finish(write: Promise<WriteResult>): Promise<WriteResult> {
    const result = await write;
    if (!result.failed) {
      this.#failuresInARow = 0;
      return result;
    }
    logger.error('indexing failed; resuming from the store checkpoint', {
      error: result.error as Error,
      retryInMs: this.#backOff(),
    });
    try {
      await this.#resync();
    } catch (error) {
      logger.error('span store checkpoint unreadable', { error: error as Error });
    }
    return result;
  }

  /**
   * Counts a failure and puts the next step off: 50 ms after it, doubling with each failure in a row up to
   * 5 s, so a store that keeps failing (a full disk) is not retried, its batch converted again and an error
   * logged, as fast as the CPU allows. The tailing loop and flushes wait; the serial lane is not held.
   * @returns the wait, ms.
   */
  #backOff(): number {
    this.stats.failures++;
    const ms = Math.min(5_000, 50 * 2 ** this.#failuresInARow++);
    this.#retryAt = Date.now() + ms;
    return ms;
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
