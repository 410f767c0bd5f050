import { setImmediate } from 'node:timers/promises';
import { logger } from '@junjo/core/logger';
import { type SpanRecord, toSpanRecords } from '@junjo/core/span';
import { decodeTraceRequest } from '../otlp/messages.ts';
import type { SpanStore } from '../store/index.ts';

/** One acknowledged OTLP trace export, as the WAL holds it. */
export interface ExportPayload {
  /** WAL position, for logs. */
  position: number;
  /** The ExportTraceServiceRequest bytes. */
  payload: Uint8Array;
}

/** A store that decodes and converts exports itself (the store worker: `store/worker.ts`). */
export interface ExportWriter {
  writeExports(exports: readonly ExportPayload[], checkpoint: number): Promise<number>;
}

/** Exports converted between yields; a few milliseconds of work for small spans. */
const EXPORTS_PER_YIELD = 4;

/**
 * Decodes and converts exports to span records, one export at a time, as the store lays them out
 * (`DuckDbSpanStore.writeStream`). Exports were validated before they were acknowledged, so one that fails
 * here is a bug, not bad input: it is skipped, loudly, and the rest of the batch is kept. Yields to the
 * event loop between exports now and then: the thread also answers queries.
 */
export async function* exportRecords(exports: readonly ExportPayload[]): AsyncGenerator<SpanRecord> {
  for (const [i, { position, payload }] of exports.entries()) {
    if (i > 0 && i % EXPORTS_PER_YIELD === 0) await setImmediate();
    let spans: SpanRecord[];
    try {
      spans = toSpanRecords(decodeTraceRequest(payload));
    } catch (error) {
      logger.error('WAL record could not be converted; skipped', { position, error: error as Error });
      continue;
    }
    yield* spans;
  }
}

/** All of `exportRecords` at once. */
export async function convertExports(exports: readonly ExportPayload[]): Promise<SpanRecord[]> {
  const spans: SpanRecord[] = [];
  for await (const span of exportRecords(exports)) spans.push(span);
  return spans;
}

/**
 * Converts `exports` and stores them with the WAL position `checkpoint` (one store transaction); resolves
 * with the number of spans. A store worker does both on its own thread; any other store gets records
 * converted on this one.
 */
export async function writeExports(
  store: SpanStore | (SpanStore & ExportWriter),
  exports: readonly ExportPayload[],
  checkpoint: number,
): Promise<number> {
  if ('writeExports' in store) return store.writeExports(exports, checkpoint);
  const records = await convertExports(exports);
  await store.write(records, checkpoint);
  return records.length;
}
