import { closeSync, mkdtempSync, openSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  BIGINT,
  BOOLEAN,
  type DuckDBConnection,
  DuckDBDataChunk,
  DuckDBInstance,
  type DuckDBType,
  UBIGINT,
  UHUGEINT,
  VARCHAR,
} from '@duckdb/node-api';
import type { SpanRecordInput } from '@junjo/ingest/store/index';
import { generateSpanRecords } from './store-records.ts';

const records = generateSpanRecords({
  traces: 10000,
  spansPerTrace: 20,
  services: 20,
  startNs: 1_700_000_000_000_000_000n,
});
const mode = process.argv[2] ?? 'chunk';
const BATCH = Number(process.env.BATCH ?? 20000);
const dir = mkdtempSync(path.join(process.env.PROBE_DIR ?? tmpdir(), 'probe-'));
const instance = await DuckDBInstance.create(path.join(dir, 'x.duckdb'));
const conn = await instance.connect();
if (process.env.SKIP) await conn.run(`SET auto_checkpoint_skip_wal_threshold = ${process.env.SKIP}`);
if (process.env.CKPT) await conn.run(`SET checkpoint_threshold = '${process.env.CKPT}'`);
await conn.run(
  `CREATE TABLE spans (trace_id UHUGEINT, span_id UBIGINT, parent_span_id UBIGINT, service_name VARCHAR, start_ns BIGINT, end_ns BIGINT, junjo_span_type VARCHAR, is_llm BOOLEAN, json VARCHAR ${process.env.COMP ? `USING COMPRESSION ${process.env.COMP}` : ''})`,
);
await conn.run(
  `CREATE TEMP TABLE staging (trace_id UHUGEINT, span_id UBIGINT, parent_span_id UBIGINT, service_name VARCHAR, start_ns BIGINT, end_ns BIGINT, junjo_span_type VARCHAR, is_llm BOOLEAN)`,
);
const hexBig = (h: string) => BigInt(`0x${h}`);
type V = string | bigint | boolean | null;
async function chunks(
  table: string,
  batch: readonly SpanRecordInput[],
  types: DuckDBType[],
  cols: ((r: SpanRecordInput) => V)[],
) {
  const app = await conn.createAppender(table);
  for (let o = 0; o < batch.length; o += 2048) {
    const n = Math.min(2048, batch.length - o);
    const chunk = DuckDBDataChunk.create(types, n);
    for (let c = 0; c < types.length; c++) {
      const v = chunk.getColumnVector(c);
      const f = cols[c]!;
      for (let i = 0; i < n; i++) v.setItem(i, f(batch[o + i]!) as never);
      v.flush();
    }
    app.appendDataChunk(chunk);
  }
  app.closeSync();
}
const types8 = [UHUGEINT, UBIGINT, UBIGINT, VARCHAR, BIGINT, BIGINT, VARCHAR, BOOLEAN];
const cols8: ((r: SpanRecordInput) => V)[] = [
  (r) => hexBig(r.traceId),
  (r) => hexBig(r.spanId),
  (r) => (r.parentSpanId === null ? null : hexBig(r.parentSpanId)),
  (r) => r.serviceName,
  (r) => r.startNs,
  (r) => r.endNs,
  (r) => r.junjoSpanType,
  (r) => r.isLlm,
];
const loaders: Record<string, (b: readonly SpanRecordInput[]) => Promise<void>> = {
  chunk: (b) => chunks('spans', b, [...types8, VARCHAR], [...cols8, (r) => r.json]),
  bigstring: async (b) => {
    await conn.run('DELETE FROM staging');
    await chunks('staging', b, types8, cols8);
    await conn.run(
      `INSERT INTO spans SELECT s.*, j.json FROM staging s POSITIONAL JOIN (SELECT unnest(string_split($1, chr(1))) AS json) j`,
      [b.map((r) => r.json).join('\x01')],
    );
  },
  csv: async (b) => {
    const file = path.join(dir, 'batch.csv');
    const fd = openSync(file, 'w');
    let lines: string[] = [];
    for (const r of b) {
      lines.push(
        `${r.traceId}\x01${r.spanId}\x01${r.parentSpanId ?? ''}\x01${r.serviceName}\x01${r.startNs}\x01${r.endNs}\x01${r.junjoSpanType}\x01${r.isLlm}\x01${r.json}\n`,
      );
      if (lines.length === 4096) {
        writeSync(fd, lines.join(''));
        lines = [];
      }
    }
    writeSync(fd, lines.join(''));
    closeSync(fd);
    await conn.run(`INSERT INTO spans SELECT
      (('0x' || t[1:16])::UBIGINT::UHUGEINT << 64) | ('0x' || t[17:32])::UBIGINT, ('0x' || s)::UBIGINT, CASE WHEN p = '' THEN NULL ELSE ('0x' || p)::UBIGINT END,
      svc, st, en, ty, llm, j
      FROM read_csv('${file}', delim = '\x01', quote = '', escape = '', header = false, auto_detect = false, nullstr = '\x02',
       columns = {'t': 'VARCHAR', 's': 'VARCHAR', 'p': 'VARCHAR', 'svc': 'VARCHAR', 'st': 'BIGINT', 'en': 'BIGINT', 'ty': 'VARCHAR', 'llm': 'BOOLEAN', 'j': 'VARCHAR'})`);
  },
};
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let commitMs = 0;
for (let off = 0; off < records.length; off += BATCH) {
  await conn.run('BEGIN');
  await loaders[mode]!(records.slice(off, off + BATCH));
  const c0 = performance.now();
  await conn.run('COMMIT');
  commitMs += performance.now() - c0;
}
const w0 = performance.now();
await conn.run('CHECKPOINT');
const ckptMs = performance.now() - w0;
const wall = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const size = (
  await conn.runAndReadAll('select total_blocks*block_size from pragma_database_size()')
).getRows()[0]![0];
const check = (
  await conn.runAndReadAll(`select count(*), count(distinct trace_id), sum(length(json)) from spans`)
).getRows();
console.log(
  mode,
  `batch=${BATCH} ckpt=${process.env.CKPT ?? 'default'} skip=${process.env.SKIP ?? '-'} comp=${process.env.COMP ?? '-'}`,
  'rows/s',
  Math.round((records.length / wall) * 1000),
  'cpu µs/row',
  ((cpu.user + cpu.system) / records.length).toFixed(1),
  'commit ms',
  Math.round(commitMs),
  'final ckpt ms',
  Math.round(ckptMs),
  check[0]!.map(String).join('/'),
  'B/span',
  Math.round(Number(size) / records.length),
);
