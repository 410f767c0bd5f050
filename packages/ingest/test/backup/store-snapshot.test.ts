import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type SpanRecordInput, SpanStore } from '../../src/store/index.ts';
import { body, newestFirst, patch, record } from '../store/records.ts';
import { useStoreDir } from '../store/store-dir.ts';

const { dir, openStore } = useStoreDir((file) => SpanStore.open(file));

/** Spans per batch; batch `b` is trace `b`: a workflow root and its children, in one of three services. */
const B = 2500;
const PADDING = 'x'.repeat(400);

function batch(b: number): SpanRecordInput[] {
  return Array.from({ length: B }, (_, i) =>
    record({
      trace: b,
      span: b * B + i,
      parent: i === 0 ? undefined : b * B,
      service: `svc-${b % 3}`,
      startMs: b * 10_000 + i,
      junjoSpanType: i === 0 ? 'workflow' : '',
      isLlm: i === 7,
      statePatches: i === 1 ? [patch(0, b * 10_000 + 1)] : [],
      attributes: { padding: PADDING },
    }),
  );
}

describe('SpanStore.snapshot', () => {
  it('copies one committed state, checkpoint included, while batches keep committing', async () => {
    const store = await openStore();
    const initial = 40;
    for (let b = 0; b < initial; b++) await store.write(batch(b), b + 1);

    // Batches are written back to back, each with checkpoint = batches stored, during the whole snapshot.
    let next = initial;
    let snapshotting = true;
    let committedBeforeSnapshotEnded = initial;
    const writer = (async () => {
      while (snapshotting) {
        const b = next++;
        await store.write(batch(b), b + 1);
        if (snapshotting) committedBeforeSnapshotEnded = b + 1;
      }
    })();
    const target = path.join(dir(), 'snap', 'spans.duckdb');
    mkdirSync(path.dirname(target));
    const { checkpoint } = await store.snapshot(target);
    snapshotting = false;
    await writer;

    // Batches with a later checkpoint committed before the snapshot returned: the copy did not hold them up.
    expect(checkpoint).toBeGreaterThanOrEqual(initial);
    expect(committedBeforeSnapshotEnded).toBeGreaterThan(checkpoint!);
    expect(existsSync(target)).toBe(true);
    expect(existsSync(`${target}.wal`)).toBe(false);

    const copy = await openStore(target);
    const c = checkpoint!;
    expect(await copy.checkpoint()).toBe(c);
    // Exactly the batches up to the checkpoint: none half, none beyond it.
    expect(await copy.stats()).toMatchObject({ spans: c * B, statePatches: c });
    const last = newestFirst(batch(c - 1));
    expect(await copy.traceSpans(last[0]!.traceId)).toBe(body(last));
    expect(await copy.traceSpans(batch(c)[0]!.traceId)).toBe('[]');
    // The same answers as the live store for what both hold.
    const service = `svc-${(c - 1) % 3}`;
    expect(await copy.serviceSpans(service, 50)).toBe(body(last.slice(0, 50)));
    const workflows = JSON.parse(await copy.workflows(service, 10_000)) as unknown[];
    expect(workflows).toHaveLength(
      Array.from({ length: c }, (_, b) => b).filter((b) => b % 3 === (c - 1) % 3).length,
    );
    expect(await copy.rootSpans(service, { hasLlm: true, limit: 1 })).toBe(
      body([last.find((r) => !r.parentSpanId)!]),
    );
    expect(await copy.services()).toBe(await store.services());

    // The live store carries on, and can be snapshotted again.
    await store.write(batch(next), next + 1);
    expect(await store.checkpoint()).toBe(next + 1);
    const again = path.join(dir(), 'snap', 'again.duckdb');
    expect((await store.snapshot(again)).checkpoint).toBe(next + 1);
  });

  it('refuses a target that exists, and leaves it alone', async () => {
    const store = await openStore();
    await store.write(batch(0), 1);
    const target = path.join(dir(), 'taken.duckdb');
    writeFileSync(target, 'not a database');
    await expect(store.snapshot(target)).rejects.toThrow(/exists/);
    expect(readFileSync(target, 'utf8')).toBe('not a database');
    // Still usable.
    expect((await store.snapshot(path.join(dir(), 'fresh.duckdb'))).checkpoint).toBe(1);
  });

  it('snapshots an empty store with no checkpoint', async () => {
    const store = await openStore();
    const target = path.join(dir(), 'empty.duckdb');
    expect(await store.snapshot(target)).toEqual({ checkpoint: undefined });
    const copy = await openStore(target);
    expect(await copy.checkpoint()).toBeUndefined();
    expect(await copy.services()).toBe('[]');
  });
});
