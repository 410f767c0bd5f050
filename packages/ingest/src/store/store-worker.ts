/**
 * Entry of the span store worker thread (see `worker.ts`): owns the DuckDB store, and decodes and converts
 * the exports the indexer sends, so none of that work runs on the thread serving the OTLP receivers.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { logger } from '@junjo/core/logger';
import type { ExportPayload } from '../indexer/convert.ts';
import { wireSpans } from '../indexer/wire-spans.ts';
import { DuckDbSpanStore } from './duckdb-span-store.ts';
import type { SpanRecordInput } from './index.ts';
import type { StoreEvent, StoreReply, StoreRequest, StoreWorkerData } from './worker.ts';

const port = parentPort;
if (!port) throw new Error('store-worker.ts runs as a worker thread (store/worker.ts starts it)');
const { file, options } = workerData as StoreWorkerData;

async function main(): Promise<void> {
  let store: DuckDbSpanStore;
  try {
    store = await DuckDbSpanStore.open(file, options);
  } catch (error) {
    reply({ id: 0, ok: false, error });
    return;
  }
  // The services list goes to the main thread whenever it changes, before the reply of the call that
  // changed it, so the main thread answers `services()` without a round trip.
  let services = store.servicesJson();
  const announceServices = () => {
    const now = store.servicesJson();
    if (now === services) return;
    services = now;
    port!.postMessage({ services } satisfies StoreEvent);
  };
  reply({ id: 0, ok: true, value: services });

  const operations: Record<string, (...args: never[]) => Promise<unknown>> = {
    // Read from the wire as the store lays the batch out (spans stored as their OTLP bytes, see
    // indexer/wire-spans.ts). Like every call that goes through the store's write lane
    // (write, checkpoint, retention, close), it takes its place in the lane when its message arrives, so
    // batches commit in the order the indexer sent them however long each takes to convert.
    writeExports: (exports: ExportPayload[], checkpoint: number) =>
      store.writeStream(wireSpans(exports), checkpoint),
    write: (records: SpanRecordInput[], checkpoint: number) => store.write(records, checkpoint),
    checkpoint: () => store.checkpoint(),
    deleteOlderThan: (cutoffNs: bigint) => store.deleteOlderThan(cutoffNs),
    snapshot: (target: string) => store.snapshot(target),
    serviceSpans: (service: string, limit: number) => store.serviceSpans(service, limit),
    rootSpans: (service: string, query: { hasLlm: boolean; limit: number }) =>
      store.rootSpans(service, query),
    workflows: (service: string, limit: number) => store.workflows(service, limit),
    traceSpans: (traceId: string) => store.traceSpans(traceId),
    span: (traceId: string, spanId: string) => store.span(traceId, spanId),
    stats: () => store.stats(),
    close: () => store.close(),
  };

  port!.on('message', ({ id, op, args }: StoreRequest) => {
    const operation = operations[op];
    let result: Promise<unknown>;
    try {
      if (!operation) throw new Error(`span store worker: unknown operation ${op}`);
      result = operation(...(args as never[]));
    } catch (error) {
      result = Promise.reject(error);
    }
    result.then(
      (value) => {
        announceServices();
        reply({ id, ok: true, value });
      },
      (error: unknown) => {
        announceServices();
        reply({ id, ok: false, error });
      },
    );
    if (op === 'close') result.finally(() => port!.close());
  });
}

/**
 * Errors cross the thread boundary by structured clone, which keeps their class (Error, RangeError, …),
 * message and stack; anything that does not clone is sent as a plain Error with its text.
 */
function reply(message: StoreReply): void {
  try {
    port!.postMessage(message);
  } catch {
    const error = message.ok ? new Error('span store worker: reply does not clone') : message.error;
    port!.postMessage({
      id: message.id,
      ok: false,
      error: new Error(String((error as Error)?.message ?? error)),
    });
  }
}

main().catch((error: unknown) => {
  logger.error('span store worker failed', { error: error as Error });
  process.exitCode = 1;
});
