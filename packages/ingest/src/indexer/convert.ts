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

/**
 * Decodes and converts exports to span records, one export at a time, as the store lays them out
 * (`DuckDbSpanStore.writeStream`, which yields to the event loop every few hundred spans). Exports were
 * validated before they were acknowledged, so one that fails here is a bug, not bad input: it is skipped,
 * loudly, and the rest of the batch is kept.
 */
export function* exportRecords(exports: readonly ExportPayload[]): Generator<SpanRecord> {
  for (const { position, payload } of exports) {
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
export function convertExports(exports: readonly ExportPayload[]): SpanRecord[] {
  return [...exportRecords(exports)];
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
  const records = convertExports(exports);
  await store.write(records, checkpoint);
  return records.length;
}
