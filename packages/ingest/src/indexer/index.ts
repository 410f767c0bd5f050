import { logger } from '@junjo/core/logger';
import { type SpanRecord, toSpanRecords } from '@junjo/core/span';
import { decodeTraceRequest } from '../otlp/messages.ts';
import { RecordKind } from '../receiver/pipeline.ts';
import type { SpanStore } from '../store/index.ts';
import type { Wal } from '../wal/index.ts';

export interface IndexerOptions {
  /** Spans per store transaction: large batches are what make DuckDB fast. */
  batchSpans?: number;
  /** WAL bytes read per step. */
  readBytes?: number;
  /** How long to wait for new data when caught up (an append wakes the indexer sooner). */
  idleMs?: number;
}

export interface IndexPass {
  records: number;
  spans: number;
}

/**
 * Tails the WAL into the span store. Each batch of converted spans is written together with the WAL position
 * reached, in one store transaction; only then is the WAL released up to it. After a crash the indexer
 * resumes from the store's checkpoint, so a batch is either fully stored or replayed, never half or twice.
 */
export class Indexer {
  #position = 0;
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #pass: Promise<IndexPass> | undefined;
  readonly #batchSpans: number;
  readonly #readBytes: number;
  readonly #idleMs: number;
  /** Spans indexed since start, and the latency from WAL receipt to queryable of the last batch. */
  readonly stats = { records: 0, spans: 0, batches: 0, lastLagMs: 0, failures: 0 };

  constructor(
    private readonly wal: Wal,
    private readonly store: SpanStore,
    options: IndexerOptions = {},
  ) {
    this.#batchSpans = options.batchSpans ?? 50_000;
    this.#readBytes = options.readBytes ?? 8 * 1024 * 1024;
    this.#idleMs = options.idleMs ?? 100;
  }

  /** Resumes from the store's checkpoint (or the WAL's released position) and starts tailing. */
  async start(): Promise<void> {
    this.#position = (await this.store.checkpoint()) ?? this.wal.firstUnreleased();
    // The store may be ahead of the WAL's released position (a crash between commit and release).
    if (this.#position > this.wal.firstUnreleased()) await this.wal.release(this.#position);
    this.#running = true;
    this.#loop = this.#run();
  }

  /** New data was appended: index it now rather than at the next poll. */
  notify(): void {
    this.#wake?.();
  }

  /** Indexes everything appended before this call and resolves once it is queryable. */
  async flush(): Promise<IndexPass> {
    const target = this.wal.end();
    const total = { records: 0, spans: 0 };
    while (this.#position < target) {
      const pass = await this.#indexOnce();
      total.records += pass.records;
      total.spans += pass.spans;
      if (pass.records === 0) break;
    }
    return total;
  }

  /** Stops after the batch in progress. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      try {
        const pass = await this.#indexOnce();
        if (pass.records > 0) continue;
      } catch (error) {
        // The store or the WAL failed: keep the position (nothing was released) and try again shortly.
        this.stats.failures++;
        logger.error('indexing failed; will retry', { error: error as Error });
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#idleMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** One read → convert → write → release step; concurrent callers (the loop, a flush) share it. */
  #indexOnce(): Promise<IndexPass> {
    this.#pass ??= this.#step().finally(() => {
      this.#pass = undefined;
    });
    return this.#pass;
  }

  async #step(): Promise<IndexPass> {
    const batch: SpanRecord[] = [];
    let records = 0;
    let next = this.#position;
    let oldestReceipt = Number.POSITIVE_INFINITY;
    const end = this.wal.end();
    while (batch.length < this.#batchSpans && next < end) {
      const read = await this.wal.read(next, this.#readBytes);
      if (read.records.length === 0) break;
      for (const record of read.records) {
        if (record.kind === RecordKind.TRACES) {
          try {
            for (const span of toSpanRecords(decodeTraceRequest(record.payload))) batch.push(span);
          } catch (error) {
            // Validated before it was acknowledged, so this is a bug, not bad input: skip the record, loudly.
            logger.error('WAL record could not be converted; skipped', {
              position: record.position,
              error: error as Error,
            });
          }
        }
        oldestReceipt = Math.min(oldestReceipt, record.receivedAtMs);
        records++;
        next = record.next;
        if (batch.length >= this.#batchSpans) break;
      }
    }
    if (records === 0) return { records: 0, spans: 0 };
    await this.store.write(batch, next);
    this.#position = next;
    await this.wal.release(next);
    this.stats.records += records;
    this.stats.spans += batch.length;
    this.stats.batches++;
    this.stats.lastLagMs = Date.now() - oldestReceipt;
    return { records, spans: batch.length };
  }
}
