import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import * as ApiKey from '@junjo/core/api-key';
import * as Db from '@junjo/core/db';
import { afterAll, describe, expect, it } from 'vitest';
import { Indexer } from '../../src/indexer/index.ts';
import { SpanStore } from '../../src/store/index.ts';
import { Wal } from '../../src/wal/index.ts';
import { ingestEnv, REPO_ROOT } from '../support.ts';
import { request, span } from '../wire.ts';

const dataDir = mkdtempSync(path.join(tmpdir(), 'junjo-index-crash-'));
const env = { ...ingestEnv(dataDir), INTERNAL_GRPC_PORT: '0' };
let child: ChildProcess | undefined;

afterAll(async () => {
  child?.kill('SIGKILL');
  await Db.close();
  rmSync(dataDir, { recursive: true, force: true });
});

function startChild(): Promise<number> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(REPO_ROOT, 'packages/ingest/src/main.ts')],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  child = proc;
  return new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const port = /OTLP\/HTTP \S+:(\d+)/.exec(line)?.[1];
      if (port) resolve(Number(port));
    });
    proc.once('exit', (code) => reject(new Error(`ingest exited early with ${code}`)));
  });
}

describe('indexer crash safety', () => {
  // 10 starts of a real ingest process under load: ~40–50 s here; the default 60 s left little margin.
  it('loses and duplicates no acknowledged span when ingest is killed mid-indexing, 10 times', async () => {
    Object.assign(process.env, env);
    const { key } = await ApiKey.create('index crash');
    await Db.close();
    const acknowledged: Array<{ traceId: string; spanId: string }> = [];

    for (let cycle = 0; cycle < 10; cycle++) {
      const port = await startChild();
      let running = true;
      const senders = Array.from({ length: 6 }, async () => {
        while (running) {
          // 50 spans of one fresh trace per export: indexing batches are busy when the kill lands.
          const traceId = randomBytes(16);
          const spans = Array.from({ length: 50 }, () => randomBytes(8));
          try {
            const response = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
              method: 'POST',
              headers: { 'x-junjo-api-key': key, 'content-type': 'application/x-protobuf' },
              body: request(spans.map((spanId) => span([], { traceId, spanId }))),
            });
            if (response.status === 200) {
              for (const spanId of spans)
                acknowledged.push({ traceId: traceId.toString('hex'), spanId: spanId.toString('hex') });
            }
          } catch {
            // killed under this request: not acknowledged
          }
        }
      });
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 700));
      const exited = new Promise((r) => child!.once('exit', r));
      child!.kill('SIGKILL');
      await exited;
      running = false;
      await Promise.all(senders);
    }

    // Recover as the next start would: open the store and the WAL, index the remaining backlog.
    const wal = await Wal.open(path.join(dataDir, 'wal'));
    const store = await SpanStore.open(path.join(dataDir, 'spans.duckdb'));
    const indexer = new Indexer(wal, store);
    await indexer.start();
    await indexer.flush();
    await indexer.stop();
    try {
      expect(acknowledged.length).toBeGreaterThan(1000);
      const byTrace = new Map<string, Set<string>>();
      for (const { traceId, spanId } of acknowledged) {
        if (!byTrace.has(traceId)) byTrace.set(traceId, new Set());
        byTrace.get(traceId)!.add(spanId);
      }
      for (const [traceId, spanIds] of byTrace) {
        const stored = JSON.parse(await store.traceSpans(traceId)) as Array<{ span_id: string }>;
        const ids = stored.map((s) => s.span_id);
        expect(new Set(ids).size, `duplicates in ${traceId}`).toBe(ids.length);
        for (const id of spanIds) expect(ids, `${traceId}/${id}`).toContain(id);
      }
    } finally {
      await store.close();
      await wal.close();
    }
  }, 180_000);
});
