import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FlushTimeout, Indexer } from '../../src/indexer/index.ts';
import { RecordKind } from '../../src/receiver/pipeline.ts';
import { SpanStore } from '../../src/store/index.ts';
import { Wal } from '../../src/wal/index.ts';
import { request, span } from '../wire.ts';

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function setup(batchBytes: number) {
  dir = mkdtempSync(path.join(tmpdir(), 'junjo-indexer-'));
  const wal = await Wal.open(path.join(dir, 'wal'));
  const real = await SpanStore.open(path.join(dir, 'spans.duckdb'));
  let failNext = 0;
  let refusing = false;
  // The real store, except that chosen writes fail as a full disk would; like the real store (see
  // `SpanStore.write`), it then refuses every later write until the checkpoint is read. (Without that, a
  // pipelined later batch could commit over the failed one and its spans would be skipped: this fake once
  // let that happen, failing this test about one run in twenty.)
  const store: SpanStore = Object.create(real, {
    write: {
      value: (records: Parameters<SpanStore['write']>[0], checkpoint: number) => {
        if (failNext > 0 || refusing) {
          if (failNext > 0) failNext--;
          refusing = true;
          return Promise.reject(new Error('injected write failure'));
        }
        return real.write(records, checkpoint);
      },
    },
    checkpoint: {
      value: () => {
        refusing = false;
        return real.checkpoint();
      },
    },
  });
  const indexer = new Indexer(wal, store, { batchBytes, idleMs: 10 });
  return { wal, store: real, indexer, failWrites: (n: number) => (failNext = n) };
}

async function append(wal: Wal, traces: number) {
  const ids: Array<{ traceId: string; spanIds: string[] }> = [];
  for (let t = 0; t < traces; t++) {
    const traceId = randomBytes(16);
    const spanIds = Array.from({ length: 10 }, () => randomBytes(8));
    await wal.append(request(spanIds.map((spanId) => span([], { traceId, spanId }))), {
      kind: RecordKind.TRACES,
    });
    ids.push({ traceId: traceId.toString('hex'), spanIds: spanIds.map((s) => s.toString('hex')) });
  }
  return ids;
}

describe('indexer', () => {
  it('indexes in many small batches, releases the WAL, and flush waits until all is queryable', async () => {
    const { wal, store, indexer } = await setup(1500);
    await indexer.start();
    const ids = await append(wal, 40);
    const before = indexer.stats.spans;
    const pass = await indexer.flush();
    expect(indexer.stats.spans).toBe(400);
    // What the loop indexed while the flush ran counts too: all of the backlog the flush found.
    expect(pass.spans).toBe(400 - before);
    expect(pass.records).toBe(40 - Math.round(before / 10));
    for (const { traceId, spanIds } of ids) {
      const stored = JSON.parse(await store.traceSpans(traceId)) as Array<{ span_id: string }>;
      expect(stored.map((s) => s.span_id).sort()).toEqual([...spanIds].sort());
    }
    expect(await store.checkpoint()).toBe(wal.end());
    expect(wal.firstUnreleased()).toBe(wal.end());
    expect(indexer.stats.batches).toBeGreaterThan(5);
    await indexer.stop();
    await store.close();
    await wal.close();
  });

  it('rejects a flush that cannot finish by its deadline, and indexes the backlog once the store recovers', async () => {
    const { wal, store, indexer, failWrites } = await setup(1800);
    await indexer.start();
    failWrites(Number.MAX_SAFE_INTEGER);
    const ids = await append(wal, 10);
    const started = Date.now();
    await expect(indexer.flush(started + 300)).rejects.toThrow(FlushTimeout);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await store.traceSpans(ids[0]!.traceId)).toBe('[]');
    // Retried with a growing wait, not as fast as the CPU allows.
    expect(indexer.stats.failures).toBeLessThan(10);
    failWrites(0);
    await indexer.flush();
    for (const { traceId, spanIds } of ids) {
      const stored = JSON.parse(await store.traceSpans(traceId)) as Array<{ span_id: string }>;
      expect(stored.map((s) => s.span_id).sort(), traceId).toEqual([...spanIds].sort());
    }
    await indexer.stop();
    await store.close();
    await wal.close();
  });

  it('recovers from failed store writes without losing or duplicating spans', async () => {
    const { wal, store, indexer, failWrites } = await setup(1800);
    await indexer.start();
    failWrites(2);
    const ids = await append(wal, 30);
    await indexer.flush();
    await indexer.flush();
    expect(indexer.stats.failures).toBeGreaterThanOrEqual(1);
    for (const { traceId, spanIds } of ids) {
      const stored = JSON.parse(await store.traceSpans(traceId)) as Array<{ span_id: string }>;
      expect(stored.map((s) => s.span_id).sort(), traceId).toEqual([...spanIds].sort());
    }
    expect(await store.checkpoint()).toBe(wal.end());
    await indexer.stop();
    await store.close();
    await wal.close();
  });
});
