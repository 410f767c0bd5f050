import { describe, expect, it } from 'vitest';
import type { SpanRecordInput, SpanStore } from '../../src/store/index.ts';
import { body, MS, newestFirst, patch, record, spanId, T0, traceId } from './records.ts';
import { useStoreDir } from './store-dir.ts';

/**
 * The invariants documented on the `SpanStore` interface, run against an implementation. `makeStore` opens
 * (or reopens) the store kept at `file`, a path in a fresh temporary directory.
 */
export function spanStoreConformance(name: string, makeStore: (file: string) => Promise<SpanStore>): void {
  describe(`SpanStore conformance: ${name}`, () => {
    const { openStore, file } = useStoreDir(makeStore);

    /** Two services; trace 1 is a workflow with an LLM child, trace 2 plain, trace 3 in svc-b. */
    function sampleTraces(): SpanRecordInput[] {
      return [
        record({ trace: 1, span: 10, startMs: 100, junjoSpanType: 'workflow', name: 'DocQAWorkflow' }),
        record({ trace: 1, span: 11, parent: 10, startMs: 110, junjoSpanType: 'node' }),
        record({
          trace: 1,
          span: 12,
          parent: 11,
          startMs: 120,
          isLlm: true,
          attributes: { 'openinference.span.kind': 'LLM' },
        }),
        record({ trace: 2, span: 20, startMs: 200 }),
        record({ trace: 2, span: 21, parent: 20, startMs: 210 }),
        record({ trace: 3, span: 30, startMs: 300, service: 'svc-b' }),
      ];
    }

    it('starts empty: no checkpoint, no services, empty lists, no span', async () => {
      const store = await openStore();
      expect(await store.checkpoint()).toBeUndefined();
      expect(await store.services()).toBe('[]');
      expect(await store.serviceSpans('svc-a', 10)).toBe('[]');
      expect(await store.rootSpans('svc-a', { hasLlm: true, limit: 10 })).toBe('[]');
      expect(await store.workflows('svc-a', 10)).toBe('[]');
      expect(await store.traceSpans(traceId(1))).toBe('[]');
      expect(await store.span(traceId(1), spanId(10))).toBeNull();
      expect(await store.stats()).toMatchObject({ spans: 0, statePatches: 0 });
    });

    it('lists services once each, sorted', async () => {
      const store = await openStore();
      await store.write(
        [
          record({ trace: 1, span: 1, startMs: 1, service: 'zeta' }),
          record({ trace: 2, span: 2, startMs: 2, service: 'alpha' }),
          record({ trace: 3, span: 3, startMs: 3, service: 'Mu "quoted" ü' }),
        ],
        1,
      );
      await store.write([record({ trace: 4, span: 4, startMs: 4, service: 'alpha' })], 2);
      expect(JSON.parse(await store.services())).toEqual(['Mu "quoted" ü', 'alpha', 'zeta']);
    });

    it("returns a service's spans newest first, honouring the limit, and nothing of other services", async () => {
      const store = await openStore();
      const records = sampleTraces();
      await store.write(records, 1);
      const svcA = newestFirst(records.filter((r) => r.serviceName === 'svc-a'));
      expect(await store.serviceSpans('svc-a', 100)).toBe(body(svcA));
      expect(await store.serviceSpans('svc-a', 2)).toBe(body(svcA.slice(0, 2)));
      expect(await store.serviceSpans('svc-b', 100)).toBe(body(records.slice(5)));
      expect(await store.serviceSpans('no-such-service', 100)).toBe('[]');
    });

    it('orders by start time across batches, not by arrival', async () => {
      const store = await openStore();
      const late = [
        record({ trace: 9, span: 90, startMs: 50 }),
        record({ trace: 9, span: 91, startMs: 5000 }),
      ];
      await store.write(sampleTraces(), 1);
      await store.write(late, 2);
      const all = newestFirst([...sampleTraces(), ...late].filter((r) => r.serviceName === 'svc-a'));
      expect(await store.serviceSpans('svc-a', 100)).toBe(body(all));
      // Equal start times come back in one documented order (span id descending), whatever the arrival order.
      const tied = [40, 41, 42].map((span) => record({ trace: 4, span, startMs: 7000, service: 'tie' }));
      await store.write([tied[1]!, tied[2]!], 3);
      await store.write([tied[0]!], 4);
      expect(await store.serviceSpans('tie', 10)).toBe(body(newestFirst(tied)));
    });

    it('returns root spans only, newest first, with the limit', async () => {
      const store = await openStore();
      const records = sampleTraces();
      await store.write(records, 1);
      const roots = newestFirst(records.filter((r) => r.parentSpanId === null && r.serviceName === 'svc-a'));
      expect(roots.map((r) => r.spanId)).toEqual([spanId(20), spanId(10)]);
      expect(await store.rootSpans('svc-a', { hasLlm: false, limit: 100 })).toBe(body(roots));
      expect(await store.rootSpans('svc-a', { hasLlm: false, limit: 1 })).toBe(body(roots.slice(0, 1)));
      expect(await store.rootSpans('svc-b', { hasLlm: false, limit: 100 })).toBe(body(records.slice(5)));
      expect(await store.rootSpans('nobody', { hasLlm: false, limit: 100 })).toBe('[]');
    });

    it('with has_llm, returns the roots of traces holding an OpenInference or GenAI LLM span anywhere', async () => {
      const store = await openStore();
      const openInference = [
        record({ trace: 1, span: 10, startMs: 100 }),
        record({ trace: 1, span: 11, parent: 10, startMs: 101 }),
        record({
          trace: 1,
          span: 12,
          parent: 11,
          startMs: 102,
          isLlm: true,
          attributes: { 'openinference.span.kind': 'LLM' },
        }),
      ];
      const genAi = [
        record({ trace: 2, span: 20, startMs: 200 }),
        record({
          trace: 2,
          span: 21,
          parent: 20,
          startMs: 201,
          isLlm: true,
          attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai' },
        }),
      ];
      // The LLM span of trace 3 is in another service; the root in svc-a still qualifies.
      const crossService = [
        record({ trace: 3, span: 30, startMs: 300 }),
        record({
          trace: 3,
          span: 31,
          parent: 30,
          startMs: 301,
          service: 'llm-gateway',
          isLlm: true,
          attributes: { 'gen_ai.system': 'anthropic' },
        }),
      ];
      const plain = [
        record({ trace: 4, span: 40, startMs: 400 }),
        record({
          trace: 4,
          span: 41,
          parent: 40,
          startMs: 401,
          attributes: { 'openinference.span.kind': 'CHAIN' },
        }),
      ];
      // The root arrives in a later batch than its LLM child.
      await store.write([...openInference.slice(1), ...genAi, ...plain], 1);
      await store.write([...crossService, openInference[0]!], 2);

      const llmRoots = [crossService[0]!, genAi[0]!, openInference[0]!];
      expect(await store.rootSpans('svc-a', { hasLlm: true, limit: 100 })).toBe(body(llmRoots));
      expect(await store.rootSpans('svc-a', { hasLlm: true, limit: 2 })).toBe(body(llmRoots.slice(0, 2)));
      expect(await store.rootSpans('svc-a', { hasLlm: false, limit: 100 })).toBe(
        body([plain[0]!, ...llmRoots]),
      );
      // Only roots: the LLM span's own service has no root span.
      expect(await store.rootSpans('llm-gateway', { hasLlm: true, limit: 100 })).toBe('[]');
    });

    it('returns workflow spans only, newest first, with the limit', async () => {
      const store = await openStore();
      const workflows = [1, 2, 3].map((n) =>
        record({ trace: n, span: n * 10, startMs: n * 100, junjoSpanType: 'workflow' }),
      );
      const others = [
        record({ trace: 1, span: 11, parent: 10, startMs: 150, junjoSpanType: 'subflow' }),
        record({ trace: 1, span: 12, parent: 11, startMs: 160, junjoSpanType: 'node' }),
        record({ trace: 5, span: 50, startMs: 500 }),
        record({ trace: 6, span: 60, startMs: 600, service: 'svc-b', junjoSpanType: 'workflow' }),
      ];
      // A workflow started inside a request span: listed as a workflow, not as a root.
      const request = record({ trace: 7, span: 70, startMs: 700 });
      const nested = record({ trace: 7, span: 71, parent: 70, startMs: 701, junjoSpanType: 'workflow' });
      await store.write([...workflows, ...others, request, nested], 1);
      expect(await store.workflows('svc-a', 100)).toBe(body(newestFirst([...workflows, nested])));
      expect(await store.rootSpans('svc-a', { hasLlm: false, limit: 1 })).toBe(body([request]));
      expect(await store.workflows('svc-a', 2)).toBe(body(newestFirst([...workflows, nested]).slice(0, 2)));
      expect(await store.workflows('svc-b', 100)).toBe(body([others[3]!]));
      expect(await store.workflows('nobody', 100)).toBe('[]');
    });

    it('returns every span of a trace newest first, across services, and [] for an unknown trace', async () => {
      const store = await openStore();
      const records = sampleTraces();
      const otherService = record({ trace: 1, span: 13, parent: 10, startMs: 130, service: 'svc-c' });
      await store.write([...records, otherService], 1);
      const trace1 = newestFirst([...records.filter((r) => r.traceId === traceId(1)), otherService]);
      expect(await store.traceSpans(traceId(1))).toBe(body(trace1));
      expect(await store.traceSpans(traceId(99))).toBe('[]');
      expect(await store.traceSpans('not-a-trace-id')).toBe('[]');
    });

    it('finds a trace whose spans arrived in batches far apart, with other traces written between', async () => {
      const store = await openStore();
      const hour = 3_600_000;
      const early = record({ trace: 7, span: 70, startMs: 0 });
      const late = record({ trace: 7, span: 71, parent: 70, startMs: 5 * hour });
      await store.write([early], 1);
      // Many spans of other traces in between, in start order, so the late span sits in other row groups.
      for (let batch = 0; batch < 5; batch++) {
        const others = Array.from({ length: 2000 }, (_, i) =>
          record({ trace: 1000 + batch, span: 10_000 + batch * 2000 + i, startMs: batch * hour + i }),
        );
        await store.write(others, 2 + batch);
      }
      await store.write([late], 10);
      expect(await store.traceSpans(traceId(7))).toBe(body([late, early]));
      expect(await store.span(traceId(7), spanId(70))).toBe(early.json);
      expect(await store.span(traceId(7), spanId(71))).toBe(late.json);
      expect(await store.span(traceId(8), spanId(71))).toBeNull();
    });

    it('returns one span by trace and span id, or null', async () => {
      const store = await openStore();
      const records = sampleTraces();
      await store.write(records, 1);
      expect(await store.span(traceId(1), spanId(12))).toBe(records[2]!.json);
      expect(await store.span(traceId(1), spanId(20))).toBeNull();
      expect(await store.span(traceId(99), spanId(10))).toBeNull();
      expect(await store.span('zz', spanId(10))).toBeNull();
    });

    it('answers with the stored JSON texts verbatim, each one valid JSON', async () => {
      const store = await openStore();
      const tricky = record({
        trace: 7,
        span: 70,
        startMs: 700,
        attributes: {
          text: 'quote " backslash \\ newline \n tab \t nul \u0000 emoji 🦆 astral 𝄞 bidi \u202e ',
          big: '9007199254740993',
          nested: { list: [1, [2, { k: null }]], empty: {} },
        },
      });
      await store.write([tricky, ...sampleTraces()], 1);
      expect(await store.span(traceId(7), spanId(70))).toBe(tricky.json);
      const trace = await store.traceSpans(traceId(7));
      expect(trace).toBe(`[${tricky.json}]`);
      expect(JSON.parse(trace)).toEqual([JSON.parse(tricky.json)]);
      const all = await store.serviceSpans('svc-a', 100);
      expect(() => JSON.parse(all)).not.toThrow();
      expect(JSON.parse(all)).toHaveLength(6);
    });

    it('stores the checkpoint with each batch, also for an empty batch', async () => {
      const store = await openStore();
      await store.write(sampleTraces(), 4096);
      expect(await store.checkpoint()).toBe(4096);
      await store.write([], 8192);
      expect(await store.checkpoint()).toBe(8192);
      expect((await store.stats()).spans).toBe(6);
    });

    it('commits batches issued without waiting, in call order', async () => {
      const store = await openStore();
      const writes = Array.from({ length: 8 }, (_, b) =>
        store.write(
          Array.from({ length: 50 }, (_, i) => record({ trace: b, span: b * 100 + i, startMs: b * 100 + i })),
          (b + 1) * 1000,
        ),
      );
      await Promise.all(writes);
      expect(await store.checkpoint()).toBe(8000);
      expect((await store.stats()).spans).toBe(400);
      expect(JSON.parse(await store.serviceSpans('svc-a', 1000))).toHaveLength(400);
    });

    describe('atomic batches', () => {
      const good = () => sampleTraces();
      const next = () => [40, 41, 42].map((span) => record({ trace: 4, span, startMs: 1000 + span }));

      async function expectUnchanged(store: SpanStore): Promise<void> {
        expect(await store.checkpoint()).toBe(10);
        expect((await store.stats()).spans).toBe(6);
        expect((await store.stats()).statePatches).toBe(0);
        expect(await store.traceSpans(traceId(4))).toBe('[]');
        expect(await store.services()).toBe('["svc-a","svc-b"]');
      }

      it('stores neither rows nor checkpoint when a record in the middle of a large batch is bad', async () => {
        const store = await openStore();
        await store.write(good(), 10);
        // Thousands of good spans (several column chunks) first, a new service, then a span with no service.
        const batch = Array.from({ length: 5000 }, (_, i) =>
          record({ trace: 100 + i, span: 1000 + i, startMs: 2000 + i, service: 'svc-new' }),
        );
        batch.push({
          ...record({ trace: 4, span: 40, startMs: 9000 }),
          serviceName: null as unknown as string,
        });
        batch.push(...next());
        await expect(store.write(batch, 20)).rejects.toThrow();
        await expectUnchanged(store);
      });

      it('stores nothing when the failure comes after the spans, in their state patches', async () => {
        const store = await openStore();
        await store.write(good(), 10);
        const withPatches = next();
        withPatches[2] = record({
          trace: 4,
          span: 42,
          startMs: 1042,
          statePatches: [patch(0, 1043), { ...patch(1, 1044), storeId: null as unknown as string }],
        });
        await expect(store.write(withPatches, 20)).rejects.toThrow();
        await expectUnchanged(store);
      });

      it('stores nothing for a batch with a malformed id', async () => {
        const store = await openStore();
        await store.write(good(), 10);
        const batch = next();
        batch[1] = { ...batch[1]!, spanId: 'XYZ' };
        await expect(store.write(batch, 20)).rejects.toThrow();
        await expect(store.write(next(), 20)).rejects.toThrow(/earlier write failed/);
        await expectUnchanged(store);
      });

      it('refuses the writes queued behind a failed one until the checkpoint is read again', async () => {
        const store = await openStore();
        await store.write(good(), 10);
        const bad = next();
        bad[0] = { ...bad[0]!, serviceName: null as unknown as string };
        const failed = store.write(bad, 20);
        const queued = store.write([record({ trace: 5, span: 50, startMs: 5000 })], 30);
        await expect(failed).rejects.toThrow();
        await expect(queued).rejects.toThrow(/earlier write failed/);
        await expectUnchanged(store);
        // Having read where to resume, the writer carries on.
        await store.write(next(), 20);
        expect(await store.checkpoint()).toBe(20);
        expect(await store.traceSpans(traceId(4))).toBe(body(newestFirst(next())));
      });
    });

    describe('idempotent writes', () => {
      it('stores a batch written twice once', async () => {
        const store = await openStore();
        await store.write(sampleTraces(), 1);
        await store.write(sampleTraces(), 2);
        expect((await store.stats()).spans).toBe(6);
        expect(await store.serviceSpans('svc-a', 100)).toBe(
          body(newestFirst(sampleTraces().filter((r) => r.serviceName === 'svc-a'))),
        );
        expect(await store.traceSpans(traceId(1))).toBe(body(newestFirst(sampleTraces().slice(0, 3))));
        const roots = sampleTraces().filter((r) => r.parentSpanId === null && r.serviceName === 'svc-a');
        expect(await store.rootSpans('svc-a', { hasLlm: false, limit: 100 })).toBe(body(newestFirst(roots)));
        expect(await store.rootSpans('svc-a', { hasLlm: true, limit: 100 })).toBe(body([sampleTraces()[0]!]));
        expect(await store.workflows('svc-a', 100)).toBe(body([sampleTraces()[0]!]));
        expect(await store.checkpoint()).toBe(2);
      });

      it('keeps one copy of a span repeated inside a batch, and of one re-sent among new spans', async () => {
        const store = await openStore();
        const [a, b, c] = sampleTraces();
        await store.write([a!, b!, a!, a!], 1);
        const fresh = record({ trace: 1, span: 14, parent: 10, startMs: 140 });
        // b is re-sent together with spans that are new, and c arrives twice.
        await store.write([c!, fresh, b!, c!], 2);
        expect(await store.traceSpans(traceId(1))).toBe(body(newestFirst([a!, b!, c!, fresh])));
        expect((await store.stats()).spans).toBe(4);
        expect(await store.rootSpans('svc-a', { hasLlm: true, limit: 10 })).toBe(body([a!]));
      });

      it('keeps one copy of a span re-sent long after, in a batch of much newer spans', async () => {
        const store = await openStore();
        const old = sampleTraces();
        await store.write(old, 1);
        for (let b = 0; b < 5; b++) {
          await store.write(
            Array.from({ length: 100 }, (_, i) =>
              record({ trace: 1000 + b, span: 1000 + b * 100 + i, startMs: 3_600_000 * (b + 1) + i }),
            ),
            2 + b,
          );
        }
        await store.write([record({ trace: 9999, span: 9999, startMs: 90_000_000 }), old[3]!, old[0]!], 10);
        expect((await store.stats()).spans).toBe(6 + 500 + 1);
        expect(await store.traceSpans(traceId(1))).toBe(body(newestFirst(old.slice(0, 3))));
        expect(await store.span(traceId(2), spanId(20))).toBe(old[3]!.json);
      });

      it('keeps spans of different traces that share a span id, in one batch and across batches', async () => {
        const store = await openStore();
        const first = record({ trace: 70, span: 7, startMs: 700 });
        const second = record({ trace: 71, span: 7, startMs: 700 });
        const third = record({ trace: 72, span: 7, startMs: 700 });
        await store.write([first, second], 1);
        await store.write([third, first], 2);
        expect((await store.stats()).spans).toBe(3);
        for (const [trace, r] of [
          [70, first],
          [71, second],
          [72, third],
        ] as const) {
          expect(await store.traceSpans(traceId(trace))).toBe(body([r]));
        }
      });
    });

    it('retention deletes only the older spans, with their patches, and services left without spans', async () => {
      const store = await openStore();
      const old = Array.from({ length: 30 }, (_, i) =>
        record({
          trace: i,
          span: i,
          startMs: i,
          service: i % 2 ? 'old-only' : 'svc-a',
          statePatches: [patch(0, i + 1), patch(1, i + 2)],
        }),
      );
      const recent = Array.from({ length: 20 }, (_, i) =>
        record({ trace: 100 + i, span: 100 + i, startMs: 10_000 + i, statePatches: [patch(0, 10_001 + i)] }),
      );
      await store.write([...recent.slice(0, 10), ...old, ...recent.slice(10)], 7);
      expect((await store.stats()).statePatches).toBe(80);

      // A span starting exactly at the cutoff is not older than it.
      const cutoff = T0 + 10_000n * MS;
      expect(await store.deleteOlderThan(cutoff)).toBe(30);
      expect(await store.stats()).toMatchObject({ spans: 20, statePatches: 20 });
      expect(await store.serviceSpans('svc-a', 100)).toBe(body(newestFirst(recent)));
      expect(await store.traceSpans(traceId(0))).toBe('[]');
      expect(await store.services()).toBe('["svc-a"]');
      expect(await store.checkpoint()).toBe(7);
      expect(await store.deleteOlderThan(cutoff)).toBe(0);

      // The store keeps working after retention.
      await store.write([record({ trace: 500, span: 500, startMs: 20_000, service: 'old-only' })], 8);
      expect(await store.services()).toBe('["old-only","svc-a"]');
    });

    it('keeps data and checkpoint across a reopen', async () => {
      const first = await openStore();
      const records = sampleTraces();
      await first.write(records, 123_456_789_012);
      await first.close();
      const second = await openStore();
      expect(await second.checkpoint()).toBe(123_456_789_012);
      expect(await second.traceSpans(traceId(1))).toBe(body(newestFirst(records.slice(0, 3))));
      expect(await second.services()).toBe('["svc-a","svc-b"]');
      // Still deduplicating against what the first instance stored.
      await second.write(records, 123_456_789_013);
      expect((await second.stats()).spans).toBe(6);
      // And counting what it stores itself, call after call.
      const more = [record({ trace: 90, span: 1, startMs: 5 }), record({ trace: 90, span: 2, startMs: 6 })];
      await second.write(more.slice(0, 1), 123_456_789_014);
      expect((await second.stats()).spans).toBe(7);
      await second.write(more.slice(1), 123_456_789_015);
      expect((await second.stats()).spans).toBe(8);
      // The queries prepared before those writes see them too.
      expect(await second.traceSpans(traceId(90))).toBe(body(newestFirst(more)));
      // A partial re-send of the first instance's spans, beside a new span of one of their traces.
      await second.write(
        [record({ trace: 1, span: 15, parent: 10, startMs: 150 }), records[1]!, records[4]!],
        123_456_789_016,
      );
      expect((await second.stats()).spans).toBe(9);
      expect(await second.span(traceId(1), spanId(15))).not.toBeNull();
    });

    it('refuses a second open of the same file while it is open, and any call after close', async () => {
      const store = await openStore();
      await expect(makeStore(file())).rejects.toThrow();
      await store.close();
      await store.close();
      await expect(async () => store.write([], 1)).rejects.toThrow(/closed/);
      await expect(async () => store.services()).rejects.toThrow(/closed/);
    });

    it('rejects a limit below 1', async () => {
      const store = await openStore();
      await expect(store.serviceSpans('svc-a', 0)).rejects.toThrow(RangeError);
      await expect(store.rootSpans('svc-a', { hasLlm: false, limit: -1 })).rejects.toThrow(RangeError);
      await expect(store.workflows('svc-a', 1.5)).rejects.toThrow(RangeError);
    });
  });
}
