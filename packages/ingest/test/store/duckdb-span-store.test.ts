import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import type { SpanRecordInput, SpanStore as SpanStoreType } from '../../src/store/index.ts';
import { SpanStore } from '../../src/store/index.ts';
import { applySchema, SCHEMA_DIR, schemaFiles } from '../../src/store/schema.ts';
import { spanStoreConformance } from './conformance.ts';
import { body, MS, newestFirst, patch, record, spanId, T0, traceId } from './records.ts';
import { inspect, useStoreDir } from './store-dir.ts';

spanStoreConformance('DuckDB', (file) => SpanStore.open(file));
// Retention in many small steps must give the same answers as in one.
spanStoreConformance('DuckDB, retention in steps of 7 spans', (file) =>
  SpanStore.open(file, { retentionStep: 7 }),
);
// Trace and span lookups with every trace evicted from the in-memory trace index: through trace_times.
spanStoreConformance('DuckDB, every trace evicted from the trace index', (file) =>
  SpanStore.open(file, { traceIndexMaxTraces: 0 }),
);
// The store as the ingest process runs it: on a worker thread, every call a message.
spanStoreConformance('DuckDB on a worker thread', (file) => SpanStore.openInWorker(file));

describe('DuckDB span store', () => {
  const { openStore, file, dir } = useStoreDir((at) => SpanStore.open(at));

  it('applies the schema files once and records their versions', async () => {
    const store = await openStore();
    await store.write([record({ trace: 1, span: 1, startMs: 1 })], 1);
    await store.close();
    // Reopening applies nothing again (a second CREATE TABLE would fail) and keeps the data.
    const again = await openStore();
    expect((await again.stats()).spans).toBe(1);
    await again.close();

    const files = schemaFiles();
    expect(files.map((f) => f.name)).toEqual(
      readdirSync(SCHEMA_DIR)
        .filter((n) => n.endsWith('.sql'))
        .sort(),
    );
    const versions = await inspect<number | string>(
      file(),
      'SELECT version, name FROM schema_migrations ORDER BY 1',
    );
    expect(versions).toEqual(files.map((f) => [f.version, f.name]));
  });

  it('applies a new numbered file on open, in its own transaction, and refuses a failing one', async () => {
    const sqlDir = path.join(dir(), 'sql');
    await rm(sqlDir, { recursive: true, force: true });
    mkdirSync(sqlDir);
    writeFileSync(path.join(sqlDir, '0001_first.sql'), 'CREATE TABLE a (x INTEGER);');
    const instance = await DuckDBInstance.create(path.join(dir(), 'schema.duckdb'));
    const conn = await instance.connect();
    try {
      expect(await applySchema(conn, schemaFiles(sqlDir))).toEqual([1]);
      expect(await applySchema(conn, schemaFiles(sqlDir))).toEqual([]);
      writeFileSync(
        path.join(sqlDir, '0002_second.sql'),
        'CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (1);',
      );
      expect(await applySchema(conn, schemaFiles(sqlDir))).toEqual([2]);
      writeFileSync(
        path.join(sqlDir, '0003_broken.sql'),
        'CREATE TABLE c (z INTEGER); SELECT * FROM nowhere;',
      );
      await expect(applySchema(conn, schemaFiles(sqlDir))).rejects.toThrow(/0003_broken.sql failed/);
      // Rolled back whole: no table c, no version 3.
      const tables = (await conn.runAndReadAll("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'c'"))
        .getRowsJS()
        .flat();
      expect(tables).toEqual([0n]);
      expect(
        (await conn.runAndReadAll('SELECT version FROM schema_migrations ORDER BY 1')).getRowsJS().flat(),
      ).toEqual([1, 2]);
      // A gap in the numbering is a mistake, not something to skip.
      await rm(path.join(sqlDir, '0003_broken.sql'));
      writeFileSync(path.join(sqlDir, '0005_gap.sql'), 'SELECT 1;');
      expect(() => schemaFiles(sqlDir)).toThrow(/expected version 3/);
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
  });

  it('declares ZSTD only in a file whose storage version has it, and leaves the choice to DuckDB elsewhere', async () => {
    const sqlDir = path.join(dir(), 'zstd-sql');
    mkdirSync(sqlDir);
    writeFileSync(path.join(sqlDir, '0001_z.sql'), 'CREATE TABLE z (v VARCHAR USING COMPRESSION zstd);');
    const compressionOf = async (file: string, options: Record<string, string>) => {
      const instance = await DuckDBInstance.create(path.join(dir(), file), options);
      const conn = await instance.connect();
      try {
        await applySchema(conn, schemaFiles(sqlDir));
        await conn.run("INSERT INTO z SELECT 'value ' || (i % 7)::VARCHAR FROM range(10000) r(i)");
        await conn.run('CHECKPOINT');
        const rows = await conn.runAndReadAll(
          "SELECT DISTINCT compression FROM pragma_storage_info('z') WHERE segment_type = 'VARCHAR'",
        );
        return rows.getRows().map(([compression]) => String(compression));
      } finally {
        conn.closeSync();
        instance.closeSync();
      }
    };
    // What the store creates.
    expect(await compressionOf('new.duckdb', { storage_compatibility_version: 'v1.2.0' })).toEqual(['ZSTD']);
    // DuckDB's default, what earlier builds created: declared, the column would be stored uncompressed;
    // dropped, DuckDB picks a dictionary for seven distinct values.
    expect(await compressionOf('old.duckdb', {})).toEqual(['Dictionary']);
  });

  it('refuses a database written by a newer schema', async () => {
    const store = await openStore();
    await store.close();
    const instance = await DuckDBInstance.create(file());
    const conn = await instance.connect();
    await conn.run("INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future.sql')");
    conn.closeSync();
    instance.closeSync();
    await expect(SpanStore.open(file())).rejects.toThrow(/newer than this build/);
    // A failed open leaves the file free for the next one.
    await expect(SpanStore.open(file())).rejects.toThrow(/newer than this build/);
  });

  it('stores state patches per span, linked to the workflow by store id, and drops them on retention', async () => {
    const store = await openStore();
    const workflow = record({ trace: 1, span: 10, startMs: 100, junjoSpanType: 'workflow' });
    const node = record({
      trace: 1,
      span: 11,
      parent: 10,
      startMs: 110,
      junjoSpanType: 'node',
      statePatches: [patch(0, 111), patch(1, 112)],
    });
    const later = record({ trace: 2, span: 20, startMs: 5000, statePatches: [patch(3, 5001, 'store-2')] });
    await store.write([workflow, node, later], 1);
    // A re-sent node must not duplicate its patches either.
    await store.write([node], 2);
    expect((await store.stats()).statePatches).toBe(3);
    await store.close();

    const rows = await inspect<unknown>(
      file(),
      `SELECT lower(lpad(to_hex(p.trace_id), 32, '0')), lower(lpad(to_hex(p.span_id), 16, '0')), p.event_index,
              p.time_ns, p.store_id, p.store_name, p.action, p.patch_id, p.patch
       FROM state_patches p
       WHERE p.trace_id = (SELECT trace_id FROM root_and_workflow_spans WHERE is_workflow)
         AND p.store_id = 'store-1'
       ORDER BY p.time_ns`,
    );
    expect(rows).toEqual(
      node.statePatches.map((p) => [
        traceId(1),
        spanId(11),
        p.eventIndex,
        p.timeNs,
        p.storeId,
        p.storeName,
        p.action,
        p.id,
        p.patch,
      ]),
    );

    const reopened = await openStore();
    expect(await reopened.deleteOlderThan(T0 + 1000n * MS)).toBe(2);
    expect(await reopened.stats()).toMatchObject({ spans: 1, statePatches: 1 });
  });

  it('finds traces through its in-memory index, filled at open and after each commit, evicting the older past its size, rebuilt by retention', async () => {
    const trace = (n: number, startMs: number) => [
      record({ trace: n, span: n * 10, startMs }),
      record({ trace: n, span: n * 10 + 1, parent: n * 10, startMs: startMs + 1 }),
    ];
    const lookups = async (store: SpanStoreType, expected: Record<number, SpanRecordInput[]>) => {
      for (const [n, records] of Object.entries(expected)) {
        expect(await store.traceSpans(traceId(Number(n)))).toBe(body(newestFirst(records)));
        expect(await store.span(traceId(Number(n)), spanId(Number(n) * 10))).toBe(records[0]!.json);
      }
      expect(await store.traceSpans(traceId(99))).toBe('[]');
      expect(await store.span(traceId(99), spanId(990))).toBeNull();
    };
    const small = (at: string) => SpanStore.open(at, { traceIndexMaxTraces: 3 });
    const store = await small(file());
    const [t1, t2, t3, t4] = [trace(1, 100), trace(2, 200), trace(3, 300), trace(4, 5000)];
    await store.write([...t1, ...t2], 1);
    // Trace 3's spans in two batches, the later batch an hour earlier in start time.
    await store.write([t3[0]!], 2);
    const early = record({ trace: 3, span: 32, parent: 30, startMs: -3_600_000 });
    await store.write([t3[1]!, early], 3);
    expect(await store.stats()).toMatchObject({ indexedTraces: 3, evictedTraces: 0 });
    await lookups(store, { 1: t1!, 2: t2!, 3: [...t3!, early] });
    // A fourth trace is more than it may hold: it keeps the latest one (3 / 2, rounded down), evicts the
    // others, and their lookups read trace_times.
    await store.write(t4!, 4);
    expect(await store.stats()).toMatchObject({ indexedTraces: 1, evictedTraces: 3 });
    await lookups(store, { 1: t1!, 2: t2!, 3: [...t3!, early], 4: t4! });
    // An evicted trace gets a new span: held again, and its lookups still find the evicted spans.
    const late = record({ trace: 2, span: 22, parent: 20, startMs: 6000 });
    await store.write([late], 5);
    expect(await store.stats()).toMatchObject({ indexedTraces: 2, evictedTraces: 3 });
    await lookups(store, { 2: [...t2!, late] });
    // Re-sent spans of an evicted trace, held again or not, are still known as stored.
    await store.write([t2[0]!, late, t1[1]!], 6);
    expect((await store.stats()).spans).toBe(10);
    await lookups(store, { 1: t1!, 2: [...t2!, late], 3: [...t3!, early], 4: t4! });
    await store.close();

    const reopened = await small(file());
    // At open: the latest trace by its latest span (trace 2 now) held, the other three evicted.
    expect(await reopened.stats()).toMatchObject({ indexedTraces: 1, evictedTraces: 3 });
    await lookups(reopened, { 1: t1!, 2: [...t2!, late], 3: [...t3!, early], 4: t4! });
    // Retention removes trace 1 and trace 3's early span: three traces left, which fit again.
    await reopened.deleteOlderThan(T0 + 150n * MS);
    expect(await reopened.stats()).toMatchObject({ indexedTraces: 3, evictedTraces: 0 });
    await lookups(reopened, { 2: [...t2!, late], 3: t3!, 4: t4! });
    // Trace 2 keeps its late span only.
    await reopened.deleteOlderThan(T0 + 250n * MS);
    expect(await reopened.stats()).toMatchObject({ indexedTraces: 3, evictedTraces: 0 });
    await lookups(reopened, { 3: t3!, 4: t4! });
    expect(await reopened.traceSpans(traceId(1))).toBe('[]');
    expect(await reopened.traceSpans(traceId(2))).toBe(body([late]));
    await reopened.deleteOlderThan(T0 + 5500n * MS);
    expect(await reopened.stats()).toMatchObject({ indexedTraces: 1, evictedTraces: 0 });
    await reopened.close();

    const full = await openStore();
    expect(await full.stats()).toMatchObject({ indexedTraces: 1, evictedTraces: 0 });
    expect(await full.traceSpans(traceId(2))).toBe(body([late]));
    expect(await full.traceSpans(traceId(4))).toBe('[]');
  });

  it("holds no more than a batch's keys in the duplicate probe's scratch table, batch after batch", async () => {
    const store = await openStore();
    // Every batch repeats one of its spans, so each fills the scratch table with its 1,000 keys.
    const batch = (b: number) => {
      const spans = Array.from({ length: 1000 }, (_, i) =>
        record({ trace: b * 1000 + Math.floor(i / 20), span: b * 1000 + i, startMs: b * 1000 + i }),
      );
      return [...spans, spans[0]!];
    };
    expect((await store.stats()).scratchRows).toBe(0);
    for (let b = 0; b < 40; b++) await store.write(batch(b), b + 1);
    const { spans, scratchRows } = await store.stats();
    expect(spans).toBe(40_000);
    // Emptied with DELETE, the table kept all 40 batches' rows (in DuckDB's memory, then in a temp file
    // growing without end: 56 MiB held and 204 MiB on disk after 400 batches of 25,000).
    expect(scratchRows).toBe(1001);
  });

  it('keeps the file from growing when retention removes as much as is written', async () => {
    const store = await openStore();
    const batch = (round: number) =>
      Array.from({ length: 20_000 }, (_, i) =>
        record({
          trace: round * 100_000 + Math.floor(i / 20),
          span: round * 100_000 + i,
          startMs: round * 1000 + Math.floor(i / 100),
        }),
      );
    const sizes: number[] = [];
    for (let round = 0; round < 8; round++) {
      await store.write(batch(round), round + 1);
      // Keep the last two rounds only.
      await store.deleteOlderThan(T0 + BigInt(Math.max(0, round - 1) * 1000) * MS);
      sizes.push((await store.stats()).fileBytes);
    }
    expect((await store.stats()).spans).toBe(40_000);
    // Freed blocks are reused: the file stops growing once retention keeps pace.
    expect(sizes.at(-1)!).toBeLessThanOrEqual(Math.max(...sizes.slice(2, 4)) * 1.25);
  }, 120_000);

  it('checkpoints once writes stop (the DuckDB WAL emptied, the data kept), and not when that is off', async () => {
    const walBytes = () => (existsSync(`${file()}.wal`) ? statSync(`${file()}.wal`).size : 0);
    const records = Array.from({ length: 200 }, (_, i) =>
      record({ trace: Math.floor(i / 20), span: i, startMs: i }),
    );
    const off = await SpanStore.open(file(), { idleCheckpointMs: 0 });
    try {
      await off.write(records.slice(0, 100), 1);
      await new Promise((r) => setTimeout(r, 400));
      expect(walBytes()).toBeGreaterThan(0);
    } finally {
      await off.close();
    }

    const on = await SpanStore.open(file(), { idleCheckpointMs: 100, idleCheckpointBytes: 1 });
    try {
      await on.write(records.slice(100), 2);
      expect(walBytes()).toBeGreaterThan(0);
      const deadline = Date.now() + 10_000;
      while (walBytes() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(walBytes()).toBe(0);
      expect((await on.stats()).spans).toBe(200);
      const trace = records.filter((r) => r.traceId === traceId(7));
      expect(await on.traceSpans(traceId(7))).toBe(body(newestFirst(trace)));
      expect(await on.checkpoint()).toBe(2);
    } finally {
      await on.close();
    }
  });

  it('answers newest-first lists over several row groups while batches commit', async () => {
    const store = await openStore();
    // Small JSON texts keep this quick; what matters is more than one 122,880-row row group.
    const tiny = (i: number): SpanRecordInput => ({
      ...record({ trace: 0, span: 0, startMs: 0 }),
      traceId: traceId(Math.floor(i / 10)),
      spanId: spanId(i),
      parentSpanId: i % 10 === 0 ? null : spanId(i - (i % 10)),
      serviceName: `svc-${i % 4}`,
      startNs: T0 + BigInt(i) * MS,
      json: `{"n":${i}}`,
    });
    const batch = (from: number, size: number) => Array.from({ length: size }, (_, i) => tiny(from + i));
    let stored = 0;
    for (; stored < 300_000; stored += 50_000) await store.write(batch(stored, 50_000), stored + 50_000);
    let writing = true;
    const writer = (async () => {
      for (let b = 0; b < 20; b++, stored += 20_000)
        await store.write(batch(stored, 20_000), stored + 20_000);
      writing = false;
    })();
    let queries = 0;
    while (writing) {
      // DuckDB 1.5's row-group pruner answered these with no rows at all now and then (see open()).
      expect(JSON.parse(await store.serviceSpans('svc-1', 500))).toHaveLength(500);
      expect(JSON.parse(await store.rootSpans('svc-0', { hasLlm: false, limit: 500 }))).toHaveLength(500);
      queries++;
    }
    await writer;
    expect((await store.stats()).spans).toBe(700_000);
    expect(queries).toBeGreaterThan(5);
  }, 120_000);

  it('stays consistent for queries running while batches and retention commit', async () => {
    const store = await openStore();
    const records = (b: number) =>
      Array.from({ length: 500 }, (_, i) =>
        record({ trace: b * 1000 + (i % 25), span: b * 1000 + i, startMs: b * 1000 + i }),
      );
    let done = false;
    const writer = (async () => {
      for (let b = 0; b < 20; b++) {
        await store.write(records(b), b + 1);
        if (b % 5 === 4) await store.deleteOlderThan(T0 + BigInt((b - 3) * 1000) * MS);
      }
      done = true;
    })();
    let queries = 0;
    while (!done) {
      const spans = JSON.parse(await store.serviceSpans('svc-a', 10_000)) as Array<{ span_id: string }>;
      // Whole batches only: every answer holds a multiple of 500 spans, never a part of one.
      expect(spans.length % 500).toBe(0);
      expect(new Set(spans.map((s) => s.span_id)).size).toBe(spans.length);
      queries++;
    }
    await writer;
    expect(queries).toBeGreaterThan(0);
    const last = newestFirst(records(19)).slice(0, 3);
    expect(await store.serviceSpans('svc-a', 3)).toBe(body(last));
  }, 120_000);
});
