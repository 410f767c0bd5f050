import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BIGINT, DuckDBDataChunk, DuckDBInstance, VARCHAR } from '@duckdb/node-api';

const dir = mkdtempSync(path.join(tmpdir(), 'probe3-'));
const inst = await DuckDBInstance.create(path.join(dir, 'x.duckdb'), {
  memory_limit: process.env.MEM ?? '256MB',
});
const w = await inst.connect();
const r = await inst.connect();
if (process.env.CKPT) await w.run(`SET checkpoint_threshold = '${process.env.CKPT}'`);
if (process.env.SKIP) await w.run(`SET auto_checkpoint_skip_wal_threshold = ${process.env.SKIP}`);
await w.run('CREATE TABLE t (svc VARCHAR, ts BIGINT, payload VARCHAR)');
let ts = 0n;
async function batch(n: number) {
  await w.run('BEGIN');
  const app = await w.createAppender('t');
  for (let o = 0; o < n; o += 2048) {
    const c = Math.min(2048, n - o);
    const ch = DuckDBDataChunk.create([VARCHAR, BIGINT, VARCHAR], c);
    const v0 = ch.getColumnVector(0),
      v1 = ch.getColumnVector(1),
      v2 = ch.getColumnVector(2);
    for (let i = 0; i < c; i++) {
      v0.setItem(i, `service-${String((o + i) % 20).padStart(2, '0')}`);
      v1.setItem(i, ts++);
      v2.setItem(i, 'x'.repeat(600) + ts);
    }
    v0.flush();
    v1.flush();
    v2.flush();
    app.appendDataChunk(ch);
  }
  app.closeSync();
  await w.run('COMMIT');
}
for (let i = 0; i < 5; i++) await batch(20000);
let writing = true;
const bg = (async () => {
  while (writing) await batch(25000);
})();
if (process.env.DIS) await r.run(`SET disabled_optimizers = '${process.env.DIS}'`);
const Q =
  process.env.Q ?? 'SELECT count(*) FROM (SELECT payload FROM t WHERE svc = $1 ORDER BY ts DESC LIMIT 500)';
const prepared = await r.prepare(Q);
let bad = 0;
for (let i = 0; i < 300; i++) {
  let got: unknown;
  if (process.env.PREP) {
    prepared.bind(['service-03']);
    got = (await prepared.runAndReadAll()).getRows()[0]![0];
  } else got = (await r.runAndReadAll(Q, ['service-03'])).getRows()[0]![0];
  if (Number(got) < 500) {
    bad++;
    const total = (
      await r.runAndReadAll("SELECT count(*), count(*) FILTER (WHERE svc = 'service-03') FROM t")
    ).getRows()[0];
    console.log(i, got, total);
  }
}
writing = false;
await bg;
console.log('bad', bad);
