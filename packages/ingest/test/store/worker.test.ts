import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ExportPayload } from '../../src/indexer/convert.ts';
import { SpanStore } from '../../src/store/index.ts';
import { StoreWorker } from '../../src/store/worker.ts';
import { request, span } from '../wire.ts';
import { record } from './records.ts';
import { useStoreDir } from './store-dir.ts';

/** `count` exports of `spans` spans each, as the WAL holds them; with the trace ids they carry. */
function exportsOf(count: number, spans: number): { exports: ExportPayload[]; traceIds: string[] } {
  const exports: ExportPayload[] = [];
  const traceIds: string[] = [];
  for (let i = 0; i < count; i++) {
    const traceId = randomBytes(16);
    traceIds.push(traceId.toString('hex'));
    const payload = request(Array.from({ length: spans }, () => span([], { traceId })));
    exports.push({ position: i, payload });
  }
  return { exports, traceIds };
}

const storedSpans = async (store: SpanStore, traceId: string) =>
  (JSON.parse(await store.traceSpans(traceId)) as unknown[]).length;

// The conformance suite runs against the worker too (duckdb-span-store.test.ts); these check what only the
// worker does: converting exports on its thread, and keeping the lane order while it converts.
describe('span store worker', () => {
  const { openStore, dir } = useStoreDir((file) => SpanStore.openInWorker(file));

  it('decodes, converts and stores exports, answering with the span count', async () => {
    const store = (await openStore()) as Awaited<ReturnType<typeof SpanStore.openInWorker>>;
    const { exports, traceIds } = exportsOf(20, 50);
    expect(await store.writeExports(exports, 1234)).toBe(1000);
    expect(await store.checkpoint()).toBe(1234);
    for (const traceId of traceIds) expect(await storedSpans(store, traceId)).toBe(50);
    expect(JSON.parse(await store.services())).toEqual(['wire-test']);
  });

  it('commits in call order even when a later call has less to convert', async () => {
    const store = (await openStore()) as Awaited<ReturnType<typeof SpanStore.openInWorker>>;
    const big = exportsOf(200, 100);
    const small = exportsOf(1, 1);
    // Issued without waiting: the small batch is converted long before the big one.
    const first = store.writeExports(big.exports, 100);
    const second = store.writeExports(small.exports, 200);
    const third = store.write([], 300);
    await Promise.all([first, second, third]);
    expect(await store.checkpoint()).toBe(300);
    expect(await storedSpans(store, big.traceIds[199]!)).toBe(100);
    expect(await storedSpans(store, small.traceIds[0]!)).toBe(1);
  });

  it('refuses a batch converted behind a failed one, until the checkpoint is read again', async () => {
    const store = (await openStore()) as Awaited<ReturnType<typeof SpanStore.openInWorker>>;
    await store.writeExports(exportsOf(1, 1).exports, 10);
    const bad = { ...record({ trace: 1, span: 1, startMs: 0 }), spanId: 'not-hex-at-all!!' };
    const converting = exportsOf(100, 100);
    const failed = store.write([bad], 20);
    const behind = store.writeExports(converting.exports, 30);
    await expect(failed).rejects.toThrow(/16 hex digits/);
    await expect(behind).rejects.toThrow(/earlier write failed/);
    expect(await storedSpans(store, converting.traceIds[0]!)).toBe(0);
    expect(await store.checkpoint()).toBe(10);
    expect(await store.writeExports(converting.exports, 30)).toBe(10_000);
    expect(await store.checkpoint()).toBe(30);
  });

  it('keeps the class and message of errors thrown on the worker', async () => {
    const store = await openStore();
    await expect(store.serviceSpans('svc', 0)).rejects.toThrow(RangeError);
    await expect(store.serviceSpans('svc', 0)).rejects.toThrow(/bad limit 0/);
  });

  it('refuses calls after close, and closes twice without error', async () => {
    const store = await openStore();
    await store.close();
    await expect(store.services()).rejects.toThrow(/closed/);
    await store.close();
  });

  it('reports a thread that dies (here: out of memory) through `stopped`, and refuses calls after it', async () => {
    const store = await StoreWorker.open(path.join(dir(), 'oom.duckdb'), {}, { maxOldGenerationSizeMb: 64 });
    await store.writeExports(exportsOf(1, 1).exports, 1);
    // 128 records of 1 MiB of JSON text each: more than the thread's 64 MB heap holds once cloned into it.
    const huge = Array.from({ length: 128 }, (_, i) => ({
      ...record({ trace: i, span: i, startMs: i }),
      json: `"${'x'.repeat(2 ** 20)}${i}"`,
    }));
    await expect(store.write(huge, 2)).rejects.toThrow();
    expect(await store.stopped).toBeInstanceOf(Error);
    await expect(store.traceSpans('0'.repeat(32))).rejects.toThrow(/span store/);
    await store.close();
  }, 60_000);
});
