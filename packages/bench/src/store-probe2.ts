import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SpanStore } from '@junjo/ingest/store/index';
import { generateSpanRecords } from './store-records.ts';

const gen = (firstTrace: number, traces: number) =>
  generateSpanRecords({
    traces,
    spansPerTrace: 20,
    services: 20,
    startNs: 1_700_000_000_000_000_000n,
    firstTrace,
  });
const dir = mkdtempSync(path.join(tmpdir(), 'probe2-'));
const store = await SpanStore.open(path.join(dir, 's.duckdb'));
let n = 0;
for (let f = 0; f < 5000; f += 2500) {
  const b = gen(f, 2500);
  n += b.length;
  await store.write(b, n);
}
let writing = true;
const bg = (async () => {
  for (let f = 5000; writing; f += 1250) {
    const b = gen(f, 1250);
    n += b.length;
    await store.write(b, n);
  }
})();
let bad = 0;
for (let i = 0; i < 300; i++) {
  const r = await store.rootSpans('service-03', { hasLlm: false, limit: 500 });
  const s = await store.serviceSpans('service-03', 500);
  const st = await store.stats();
  if (r === '[]' || s === '[]') {
    bad++;
    console.log(i, 'roots', r.length, 'spans', s.length, st);
  }
}
writing = false;
await bg;
console.log('bad', bad, await store.stats());
await store.close();
