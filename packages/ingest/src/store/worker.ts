import path from 'node:path';
import { type ResourceLimits, Worker } from 'node:worker_threads';
import { logger } from '@junjo/core/logger';
import type { ExportPayload, ExportWriter } from '../indexer/convert.ts';
import type { DuckDbSpanStoreOptions } from './duckdb-span-store.ts';
import type { RootSpansQuery, SpanRecordInput, SpanStore, SpanStoreStats } from './index.ts';

/** What `store-worker.ts` is started with. */
export interface StoreWorkerData {
  file: string;
  options: DuckDbSpanStoreOptions;
}

export interface StoreRequest {
  id: number;
  op: string;
  args: unknown[];
}

export type StoreReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: unknown };

/** Sent by the worker, unasked, when the list of services changes. */
export interface StoreEvent {
  services: string;
}

/** Files opened through a store worker of this process: each worker's DuckDB sees only its own. */
const openFiles = new Set<string>();

/**
 * Starts `store-worker.ts`. From source (npm start, tests) the worker loads the TypeScript entry through
 * tsx; a bundle (`npm run build`) ships `store-worker.mjs` beside the code that starts it.
 */
function startWorker(data: StoreWorkerData, resourceLimits?: ResourceLimits): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const tsEntry = new URL('./store-worker.ts', here).href;
    return new Worker(new URL('./ts-worker.mjs', here), { workerData: { ...data, tsEntry }, resourceLimits });
  }
  return new Worker(new URL('./store-worker.mjs', here), { workerData: data, resourceLimits });
}

/**
 * The span store on a worker thread of its own: the DuckDB store (`duckdb-span-store.ts`) plus the decoding
 * and conversion of the exports the indexer hands it (`writeExports`). The thread that runs the OTLP
 * receivers then only reads the WAL and passes bytes on; converting and laying out a batch, which costs
 * more than receiving it, runs beside it on the second core. Every `SpanStore` call is a message; replies
 * come back in the store's own order and errors keep their class and message.
 */
export class StoreWorker implements SpanStore, ExportWriter {
  readonly #worker: Worker;
  readonly #file: string;
  readonly #pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: unknown) => void }
  >();
  #nextId = 1;
  #stopped: Error | undefined;
  /** The worker's services list as JSON text, kept current by its events. */
  #services = '[]';
  #closing: Promise<void> | undefined;
  #onStopped: (error: Error) => void = () => {};
  /**
   * Resolves with the reason if the thread ends without `close()` (out of memory, a crash in it): the store
   * then refuses every call, and its owner should give up (the ingest process exits, so that its supervisor
   * restarts it and the indexer replays the WAL). Never resolves for a store that is closed.
   */
  readonly stopped: Promise<Error> = new Promise((resolve) => {
    this.#onStopped = resolve;
  });

  private constructor(worker: Worker, file: string) {
    this.#worker = worker;
    this.#file = file;
    worker.on('message', (reply: StoreReply | StoreEvent) => {
      if ('services' in reply) {
        this.#services = reply.services;
        return;
      }
      const pending = this.#pending.get(reply.id);
      if (!pending) return;
      this.#pending.delete(reply.id);
      if (reply.ok) pending.resolve(reply.value);
      else pending.reject(reply.error);
    });
    worker.on('error', (error) => this.#stop(error));
    worker.on('exit', (code) => this.#stop(new Error(`span store worker exited with code ${code}`)));
  }

  /** Starts the worker and opens `file` in it; rejects with the store's own error if that fails. */
  static async open(
    file: string,
    options: DuckDbSpanStoreOptions = {},
    resourceLimits?: ResourceLimits,
  ): Promise<StoreWorker> {
    const key = path.resolve(file);
    if (openFiles.has(key)) throw new Error(`span store: ${key} is already open in this process`);
    openFiles.add(key);
    const store = new StoreWorker(startWorker({ file: key, options }, resourceLimits), key);
    try {
      store.#services = String(
        await new Promise((resolve, reject) => store.#pending.set(0, { resolve, reject })),
      );
    } catch (error) {
      store.#closing = Promise.resolve();
      await store.#worker.terminate();
      openFiles.delete(key);
      throw error;
    }
    return store;
  }

  #stop(error: Error): void {
    if (!this.#stopped) {
      this.#stopped = error;
      if (!this.#closing) {
        logger.error('span store worker stopped', { error });
        this.#onStopped(error);
      }
      openFiles.delete(this.#file);
    }
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }

  #call<T>(op: string, ...args: unknown[]): Promise<T> {
    if (this.#closing && op !== 'close') return Promise.reject(new Error('span store: closed'));
    if (this.#stopped) return Promise.reject(new Error(`span store: ${this.#stopped.message}`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#worker.postMessage({ id, op, args } satisfies StoreRequest);
    });
  }

  /** Decodes, converts and stores the exports with `checkpoint`, all on the worker; resolves with the span count. */
  writeExports(exports: readonly ExportPayload[], checkpoint: number): Promise<number> {
    return this.#call('writeExports', exports, checkpoint);
  }

  write(records: readonly SpanRecordInput[], checkpoint: number): Promise<void> {
    return this.#call('write', records, checkpoint);
  }

  checkpoint(): Promise<number | undefined> {
    return this.#call('checkpoint');
  }

  /** Answered on this thread: the worker sends the list whenever a commit or retention changes it. */
  services(): Promise<string> {
    if (this.#closing) return Promise.reject(new Error('span store: closed'));
    if (this.#stopped) return Promise.reject(new Error(`span store: ${this.#stopped.message}`));
    return Promise.resolve(this.#services);
  }

  serviceSpans(service: string, limit: number): Promise<string> {
    return this.#call('serviceSpans', service, limit);
  }

  rootSpans(service: string, query: RootSpansQuery): Promise<string> {
    return this.#call('rootSpans', service, query);
  }

  workflows(service: string, limit: number): Promise<string> {
    return this.#call('workflows', service, limit);
  }

  traceSpans(traceId: string): Promise<string> {
    return this.#call('traceSpans', traceId);
  }

  span(traceId: string, spanId: string): Promise<string | null> {
    return this.#call('span', traceId, spanId);
  }

  deleteOlderThan(cutoffNs: bigint): Promise<number> {
    return this.#call('deleteOlderThan', cutoffNs);
  }

  stats(): Promise<SpanStoreStats> {
    return this.#call('stats');
  }

  snapshot(targetFile: string): Promise<{ checkpoint: number | undefined }> {
    return this.#call('snapshot', path.resolve(targetFile));
  }

  /** Waits for the writes in flight, closes the file and ends the thread. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (!this.#stopped) await this.#call('close');
      await this.#worker.terminate();
      openFiles.delete(this.#file);
    })();
    return this.#closing;
  }
}
