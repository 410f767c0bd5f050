import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { type KeyValue, type SpanRecord, toSpanRecord, toSpanRecords } from '@junjo/core/span';
import { describe, expect, it } from 'vitest';
import { convertExports, type ExportPayload } from '../../src/indexer/convert.ts';
import { exportSpans, wireSpans } from '../../src/indexer/wire-spans.ts';
import { traceRequestFromJson } from '../../src/otlp/json.ts';
import {
  decodeSpan,
  decodeTraceRequest,
  encodeTraceRequest,
  type SpanInit,
} from '../../src/otlp/messages.ts';
import { DuckDbSpanStore } from '../../src/store/duckdb-span-store.ts';
import { applySchema, SCHEMA_DIR, schemaFiles } from '../../src/store/schema.ts';
import { inspect, useStoreDir } from '../store/store-dir.ts';
import { FIXTURE_PATH } from '../support.ts';
import { cat, field, request, span, stringAttribute, varint } from '../wire.ts';

const str = (key: string, value: string): KeyValue => ({ key, value: { type: 'string', value } });
const int = (key: string, value: bigint): KeyValue => ({ key, value: { type: 'int', value } });
const T0 = 1_764_331_200_000_000_000n;
let nextId = 1;
const id = (bytes: number) => {
  const out = new Uint8Array(bytes);
  new DataView(out.buffer).setUint32(bytes - 4, nextId++);
  out[0] = 0xab;
  return out;
};

/** Spans of one trace covering each rule the wire reader decides on without the decoder, and the rest. */
function ruleSpans(): SpanInit[] {
  const traceId = id(16);
  const root = id(8);
  const child = (name: string, attributes: KeyValue[], extra: Partial<SpanInit> = {}): SpanInit => ({
    traceId,
    spanId: id(8),
    parentSpanId: root,
    name,
    kind: 1,
    startTimeUnixNano: T0 + BigInt(nextId) * 1000n,
    endTimeUnixNano: T0 + BigInt(nextId) * 1000n + 500n,
    attributes,
    ...extra,
  });
  return [
    { ...child('root', [str('junjo.span_type', 'workflow')]), parentSpanId: new Uint8Array() },
    child('nested workflow', [
      str('junjo.span_type', 'workflow'),
      str('junjo.workflow.state.start', '{"a":1}'),
    ]),
    child('subflow', [str('junjo.span_type', 'subflow'), str('junjo.workflow.store.id', 's1')]),
    child('node', [str('junjo.span_type', 'node'), str('junjo.id', 'n1')]),
    child('span type not a string', [int('junjo.span_type', 3n)]),
    child('workflow then node: the last wins', [
      str('junjo.span_type', 'workflow'),
      str('junjo.span_type', 'node'),
    ]),
    child('node then workflow', [str('junjo.span_type', 'node'), str('junjo.span_type', 'workflow')]),
    child('openinference LLM', [str('openinference.span.kind', 'LLM')]),
    child('openinference chain', [str('openinference.span.kind', 'CHAIN')]),
    child('openinference lowercase llm', [str('openinference.span.kind', 'llm')]),
    child('LLM then CHAIN', [str('openinference.span.kind', 'LLM'), str('openinference.span.kind', 'CHAIN')]),
    child('gen_ai operation', [str('gen_ai.operation.name', 'chat')]),
    child('gen_ai provider', [str('gen_ai.provider.name', 'anthropic')]),
    child('gen_ai provider empty', [str('gen_ai.provider.name', '')]),
    child('gen_ai system', [str('gen_ai.system', 'openai')]),
    child('gen_ai system not a string', [int('gen_ai.system', 1n)]),
    child('set_state events', [str('junjo.span_type', 'node')], {
      events: [
        { name: 'other', timeUnixNano: T0 + 1n, attributes: [str('x', 'y')] },
        {
          name: 'set_state',
          timeUnixNano: T0 + 2n,
          attributes: [
            str('junjo.state_json_patch', '[{"op":"add","path":"/a","value":1}]'),
            str('junjo.store.id', 'store-1'),
            str('junjo.store.name', 'Store'),
            str('junjo.store.action', 'set_a'),
            str('id', 'e1'),
          ],
        },
        { name: 'set_state', timeUnixNano: T0 + 3n, attributes: [int('junjo.store.id', 5n)] },
      ],
    }),
    child('links, status and state', [str('k', 'v')], {
      links: [{ traceId: id(16), spanId: id(8), attributes: [str('l', 'x')] }],
      status: { code: 2, message: 'boom' },
      traceState: 'a=b',
      flags: 0x301,
      kind: 3,
    }),
    child('every value type', [
      { key: 'b', value: { type: 'bool', value: true } },
      { key: 'd', value: { type: 'double', value: 1.5 } },
      { key: 'big', value: { type: 'int', value: 2n ** 60n } },
      { key: 'bytes', value: { type: 'bytes', value: new Uint8Array([1, 2, 255]) } },
      { key: 'arr', value: { type: 'array', value: [{ type: 'string', value: 's' }] } },
      { key: 'kv', value: { type: 'kvlist', value: [str('in', 'side')] } },
      { key: 'empty', value: { type: 'empty' } },
    ]),
  ];
}

function exportsOf(): ExportPayload[] {
  const payloads: Uint8Array[] = [
    traceRequestFromJson(readFileSync(FIXTURE_PATH, 'utf8')),
    encodeTraceRequest({
      resourceSpans: [
        { resource: { attributes: [str('service.name', 'rules')] }, scopeSpans: [{ spans: ruleSpans() }] },
        // No service.name, then one that is not a string: both NO_SERVICE_NAME.
        { scopeSpans: [{ spans: ruleSpans().slice(3, 5) }] },
        {
          resource: { attributes: [int('service.name', 1n)] },
          scopeSpans: [{ spans: ruleSpans().slice(7, 9) }],
        },
      ],
    }),
    // Hand-made: an AnyValue with a string and an int member (decoded the slow way), a KeyValue without a
    // value, unknown span fields (a varint and a group), and a resource given twice (protobufjs keeps the last).
    cat(
      field(
        1,
        cat(
          field(1, field(1, stringAttribute('service.name', 'first'))),
          field(
            2,
            field(
              2,
              cat(
                span([
                  field(4, id(8)),
                  field(
                    9,
                    cat(
                      field(1, 'openinference.span.kind'),
                      field(2, cat(field(1, 'LLM'), varint(3 << 3), varint(7))),
                    ),
                  ),
                  field(9, field(1, 'gen_ai.system')),
                  varint((99 << 3) | 0),
                  varint(5),
                  varint((98 << 3) | 3),
                  varint((1 << 3) | 0),
                  varint(1),
                  varint((98 << 3) | 4),
                ]),
              ),
            ),
          ),
          field(1, field(1, stringAttribute('service.name', 'second'))),
        ),
      ),
    ),
    request([span([field(4, id(8)), field(9, stringAttribute('gen_ai.operation.name', 'embed'))])], 'plain'),
  ];
  return payloads.map((payload, position) => ({ position, payload }));
}

describe('indexer wire reader', () => {
  it('reads each span as the converter does, keeping its OTLP bytes', () => {
    let decodedSlowly = 0;
    for (const { payload } of exportsOf()) {
      const records: SpanRecord[] = toSpanRecords(decodeTraceRequest(payload));
      const spans = exportSpans(payload);
      expect(spans.length).toBe(records.length);
      spans.forEach((wire, i) => {
        const record = records[i]!;
        const listed = record.parentSpanId === null || record.junjoSpanType === 'workflow';
        expect({ ...wire, otlp: undefined }, record.name).toEqual({
          traceId: BigInt(`0x${record.traceId}`),
          spanId: BigInt(`0x${record.spanId}`),
          serviceName: record.serviceName,
          startNs: record.startNs,
          isRoot: record.parentSpanId === null,
          isWorkflow: record.junjoSpanType === 'workflow',
          isLlm: record.isLlm,
          statePatches: record.statePatches,
          json: listed ? record.json : null,
          otlp: undefined,
        });
        // What a query makes of the stored bytes is the record's text.
        expect(toSpanRecord(decodeSpan(wire.otlp), wire.serviceName).json).toBe(record.json);
        if (listed || record.statePatches.length > 0) decodedSlowly++;
      });
    }
    expect(decodedSlowly).toBeGreaterThan(5);
  });

  it('renders invalid UTF-8 as U+FFFD, in the decoder and the wire path alike, as well-formed JSON', () => {
    // The receivers refuse such exports (scan.test.ts); this is what a WAL written otherwise would give.
    // A stray 0xff, a truncated sequence, and an encoded surrogate, between valid characters.
    const bad = Buffer.from([0x61, 0xff, 0x62, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0x63]);
    const expected = bad.toString('utf8');
    expect(expected).toBe('a\uFFFDb\uFFFD(\uFFFD\uFFFD\uFFFDc');
    const payload = request([span([field(5, bad), field(9, stringAttribute('k', bad))])], 'svc');
    const [record] = toSpanRecords(decodeTraceRequest(payload));
    const parsed = JSON.parse(record!.json) as { name: string; attributes_json: Record<string, unknown> };
    expect(parsed.name).toBe(expected);
    expect(parsed.attributes_json).toEqual({ k: expected });
    const [wire] = exportSpans(payload);
    expect(toSpanRecord(decodeSpan(wire!.otlp), wire!.serviceName).json).toBe(record!.json);
  });

  it('names the service of the last resource field, as the decoder does', () => {
    const [, , handMade] = exportsOf();
    expect(exportSpans(handMade!.payload).map((s) => s.serviceName)).toEqual(['second']);
  });

  it('skips an export it cannot read, whole, and keeps the others', () => {
    const good = exportsOf()[3]!;
    const truncated = { position: 7, payload: good.payload.subarray(0, good.payload.length - 3) };
    expect(() => exportSpans(truncated.payload)).toThrow();
    expect([...wireSpans([truncated, good])]).toHaveLength(1);
  });
});

describe('span store fed from the wire', () => {
  const { openStore, dir } = useStoreDir((file) => DuckDbSpanStore.open(file));

  it('answers every query with the same text as the store fed converted records', async () => {
    const exports = exportsOf();
    const fromWire = (await openStore()) as DuckDbSpanStore;
    const fromRecords = (await openStore(path.join(dir(), 'records.duckdb'))) as DuckDbSpanStore;
    expect(await fromWire.writeStream(wireSpans(exports), 1)).toBe(convertExports(exports).length);
    await fromRecords.write(convertExports(exports), 1);
    const records = convertExports(exports);
    const services = JSON.parse(await fromRecords.services()) as string[];
    expect(await fromWire.services()).toBe(await fromRecords.services());
    expect(services.length).toBeGreaterThan(3);
    for (const service of services) {
      for (const limit of [1, 3, 500]) {
        expect(await fromWire.serviceSpans(service, limit)).toBe(
          await fromRecords.serviceSpans(service, limit),
        );
        expect(await fromWire.workflows(service, limit)).toBe(await fromRecords.workflows(service, limit));
        for (const hasLlm of [false, true]) {
          expect(await fromWire.rootSpans(service, { hasLlm, limit })).toBe(
            await fromRecords.rootSpans(service, { hasLlm, limit }),
          );
        }
      }
    }
    for (const record of records) {
      expect(await fromWire.traceSpans(record.traceId)).toBe(await fromRecords.traceSpans(record.traceId));
      const one = await fromWire.span(record.traceId, record.spanId);
      expect(one).toBe(record.json);
    }
    const [wireStats, recordStats] = [await fromWire.stats(), await fromRecords.stats()];
    expect(wireStats.spans).toBe(recordStats.spans);
    expect(wireStats.statePatches).toBe(recordStats.statePatches);
    expect(wireStats.statePatches).toBeGreaterThan(0);
  });

  it('skips spans already stored, whichever path stored them', async () => {
    const exports = exportsOf();
    const store = (await openStore()) as DuckDbSpanStore;
    await store.write(convertExports(exports.slice(0, 2)), 1);
    await store.writeStream(wireSpans(exports), 2);
    await store.writeStream(wireSpans(exports), 3);
    expect((await store.stats()).spans).toBe(convertExports(exports).length);
    const first = convertExports(exports)[0]!;
    expect(JSON.parse(await store.traceSpans(first.traceId))).toHaveLength(
      convertExports(exports).filter((r) => r.traceId === first.traceId).length,
    );
  });
});

/**
 * Small spans of `traces` traces of 20 in one export, starting a millisecond apart from `startNs`: enough
 * rows (4,000 by default) for DuckDB to compress the `otlp` column.
 */
function manySpans(traces = 200, startNs = T0): ExportPayload {
  const spans: SpanInit[] = [];
  for (let t = 0; t < traces; t++) {
    const traceId = id(16);
    for (let s = 0; s < 20; s++) {
      const at = startNs + BigInt(t * 20 + s) * 1_000_000n;
      spans.push({
        traceId,
        spanId: id(8),
        name: `step ${s}`,
        kind: 1,
        startTimeUnixNano: at,
        endTimeUnixNano: at + 500_000n,
        attributes: [str('junjo.span_type', 'node'), str('junjo.id', `node-${s}`)],
      });
    }
  }
  const payload = encodeTraceRequest({
    resourceSpans: [{ resource: { attributes: [str('service.name', 'many')] }, scopeSpans: [{ spans }] }],
  });
  return { position: 0, payload };
}

/** The compressions DuckDB used for the `otlp` column of a closed store's file (closing checkpoints it). */
async function otlpCompressions(file: string): Promise<string[]> {
  const rows = await inspect<string>(
    file,
    "SELECT DISTINCT compression FROM pragma_storage_info('spans') WHERE column_name = 'otlp' ORDER BY 1",
  );
  return rows.flat();
}

describe('span store file format', () => {
  const { openStore, file } = useStoreDir((at) => DuckDbSpanStore.open(at));

  it('creates new files at storage version v1.2.0 and keeps span bytes as ZSTD', async () => {
    const store = (await openStore()) as DuckDbSpanStore;
    await store.writeStream(wireSpans([manySpans()]), 1);
    await store.close();
    expect(
      await inspect(
        file(),
        "SELECT map_extract_value(tags, 'storage_version') FROM duckdb_databases() WHERE NOT internal",
      ),
    ).toEqual([['v1.2.0+']]);
    expect(await otlpCompressions(file())).toContain('ZSTD');
  });

  it('reuses the blocks retention frees, span bytes ZSTD-compressed', async () => {
    const store = (await openStore()) as DuckDbSpanStore;
    const sizes: number[] = [];
    const roundNs = 1_000_000_000_000n;
    for (let round = 0; round < 8; round++) {
      // 20,000 spans a round, then keep the last two rounds only.
      await store.writeStream(wireSpans([manySpans(1_000, T0 + BigInt(round) * roundNs)]), round + 1);
      await store.deleteOlderThan(T0 + BigInt(round - 1) * roundNs - 1n);
      sizes.push((await store.stats()).fileBytes);
    }
    expect((await store.stats()).spans).toBe(40_000);
    await store.close();
    expect(await otlpCompressions(file())).toContain('ZSTD');
    // The file stops growing once retention keeps pace.
    expect(sizes.at(-1)!).toBeLessThanOrEqual(Math.max(...sizes.slice(2, 4)) * 1.25);
  }, 120_000);
});

describe('span store written before spans were kept as OTLP bytes', () => {
  const { openStore, dir, file } = useStoreDir((at) => DuckDbSpanStore.open(at));

  it('keeps answering its JSON rows after 0003, beside the rows the wire path adds', async () => {
    // A store as the build before 0003_span_otlp.sql left it: schema files 1-2, one converted span.
    const oldSchema = path.join(dir(), 'old-sql');
    mkdirSync(oldSchema);
    for (const name of ['0001_spans.sql', '0002_trace_times.sql']) {
      copyFileSync(path.join(SCHEMA_DIR, name), path.join(oldSchema, name));
    }
    const [old] = convertExports([exportsOf()[3]!]);
    const instance = await DuckDBInstance.create(file());
    const conn = await instance.connect();
    await applySchema(conn, schemaFiles(oldSchema));
    const id = `'${BigInt(`0x${old!.traceId}`)}'::UHUGEINT`;
    await conn.run(
      `INSERT INTO spans VALUES (${id}, ${BigInt(`0x${old!.spanId}`)}, '${old!.serviceName}', ${old!.startNs}, $1)`,
      [old!.json],
    );
    await conn.run(`INSERT INTO trace_times VALUES (${id}, ${old!.startNs}, ${old!.startNs})`);
    await conn.run(`INSERT INTO services VALUES ('${old!.serviceName}')`);
    conn.closeSync();
    instance.closeSync();

    const store = (await openStore()) as DuckDbSpanStore;
    const fixture = exportsOf().slice(0, 1);
    await store.writeStream(wireSpans(fixture), 1);
    expect(await store.traceSpans(old!.traceId)).toBe(`[${old!.json}]`);
    expect(await store.span(old!.traceId, old!.spanId)).toBe(old!.json);
    for (const record of convertExports(fixture)) {
      expect(await store.span(record.traceId, record.spanId)).toBe(record.json);
    }
    expect((await store.stats()).spans).toBe(convertExports(fixture).length + 1);
  });
});
