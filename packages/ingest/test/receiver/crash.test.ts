import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import * as ApiKey from '@junjo/core/api-key';
import * as Db from '@junjo/core/db';
import { afterAll, describe, expect, it } from 'vitest';
import { Wal } from '../../src/wal/index.ts';
import { ingestEnv, REPO_ROOT, spansInWal } from '../support.ts';
import { request, span } from '../wire.ts';

const dataDir = mkdtempSync(path.join(tmpdir(), 'junjo-crash-'));
const env = ingestEnv(dataDir);
const MAIN = path.join(REPO_ROOT, 'packages/ingest/src/main.ts');
let child: ChildProcess | undefined;

afterAll(async () => {
  child?.kill('SIGKILL');
  await Db.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Starts the real ingest process and resolves with its OTLP/HTTP port. */
function startChild(): Promise<number> {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child = proc;
  return new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const port = /OTLP\/HTTP \S+:(\d+)/.exec(line)?.[1];
      if (port) resolve(Number(port));
    });
    proc.once('exit', (code) => reject(new Error(`ingest exited early with ${code}`)));
  });
}

describe('crash safety', () => {
  // 20 starts of a real ingest process (tsx, the store worker, DuckDB) take ~55 s on a quiet 2-core machine
  // and more on a busy one; the default 60 s left no margin.
  it('keeps every acknowledged export exactly once across 20 SIGKILLs, and recovers a torn tail', async () => {
    Object.assign(process.env, env);
    const { key } = await ApiKey.create('crash test');
    await Db.close();
    /** span id (hex) → acknowledged? Each export carries one unique span. */
    const acknowledged = new Set<string>();
    let sent = 0;

    for (let cycle = 0; cycle < 20; cycle++) {
      const port = await startChild();
      let running = true;
      const workers = Array.from({ length: 8 }, async () => {
        while (running) {
          const spanId = randomBytes(8);
          sent++;
          try {
            const response = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
              method: 'POST',
              headers: { 'x-junjo-api-key': key, 'content-type': 'application/x-protobuf' },
              body: request([span([], { spanId })]),
            });
            if (response.status === 200) acknowledged.add(spanId.toString('hex'));
          } catch {
            // The process died under this request: not acknowledged, may or may not be in the WAL.
          }
        }
      });
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 300));
      const exited = new Promise((r) => child!.once('exit', r));
      child!.kill('SIGKILL');
      await exited;
      running = false;
      await Promise.all(workers);
      if (cycle === 10) {
        // A torn record by hand: half a header at the end of the newest segment.
        const walDir = path.join(dataDir, 'wal');
        const newest = readdirSync(walDir)
          .filter((f) => /^\d+/.test(f))
          .sort()
          .at(-1)!;
        appendFileSync(path.join(walDir, newest), Buffer.from([0x10, 0x00, 0x00]));
      }
    }

    expect(acknowledged.size).toBeGreaterThan(100);
    const wal = await Wal.open(path.join(dataDir, 'wal'));
    const stored = await spansInWal(wal);
    await wal.close();
    const counts = new Map<string, number>();
    for (const s of stored) counts.set(s.spanId, (counts.get(s.spanId) ?? 0) + 1);
    for (const spanId of acknowledged) expect(counts.get(spanId), spanId).toBe(1);
    for (const n of counts.values()) expect(n).toBe(1);
    expect(stored.length).toBeLessThanOrEqual(sent);
  }, 180_000);
});
