import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SpanStore } from '../../src/store/index.ts';
import { batchSize, crashRecord, patchesBefore } from './crash-records.ts';
import { useStoreDir } from './store-dir.ts';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const script = fileURLToPath(new URL('./crash-writer.ts', import.meta.url));
const CYCLES = 8;

/**
 * Starts the crash writer and SIGKILLs it `killAfterMs` after it is ready (or after the spawn, to hit the
 * open and its recovery too); resolves with the checkpoints it acknowledged. The writer never idles, so a
 * kill after `ready` lands inside a write: preparing, appending or committing.
 */
async function runAndKill(
  file: string,
  killAfterMs: number,
  afterReady: boolean,
): Promise<{ committed: number[]; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, file], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const committed: number[] = [];
  let stderr = '';
  let pending = '';
  let markReady = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (line === 'ready') markReady();
      const match = /^committed (\d+)$/.exec(line);
      if (match) committed.push(Number(match[1]));
    }
  });
  const closed = once(child, 'close');
  if (afterReady) await Promise.race([ready, closed]);
  await sleep(killAfterMs);
  child.kill('SIGKILL');
  await closed;
  return { committed, stderr };
}

/** The checkpoints a writer starting at `from` issues, up to `limit`. */
function boundaries(from: number, limit: number): Set<number> {
  const all = new Set<number>([from]);
  for (let at = from; at <= limit; ) {
    at += batchSize(at);
    all.add(at);
  }
  return all;
}

describe('DuckDB span store under SIGKILL', () => {
  const { file } = useStoreDir((at) => SpanStore.open(at));

  it(`keeps exactly the committed batches through ${CYCLES} kills mid-write`, async () => {
    let stored = 0;
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const afterReady = cycle % 4 !== 3;
      const { committed, stderr } = await runAndKill(
        file(),
        (afterReady ? 300 : 0) + Math.random() * 900,
        afterReady,
      );
      expect(stderr).toBe('');
      const store = await SpanStore.open(file());
      try {
        const checkpoint = (await store.checkpoint()) ?? 0;
        // At least every acknowledged batch, and a batch boundary: never part of a batch.
        expect(checkpoint).toBeGreaterThanOrEqual(Math.max(stored, ...committed));
        expect(boundaries(stored, checkpoint).has(checkpoint), `checkpoint ${checkpoint} is a boundary`).toBe(
          true,
        );
        // Records 0 .. checkpoint-1 each exactly once, despite the re-sent overlap after every restart.
        const stats = await store.stats();
        expect(stats.spans).toBe(checkpoint);
        expect(stats.statePatches).toBe(patchesBefore(checkpoint));
        const last = crashRecord(checkpoint - 1);
        expect(await store.span(last.traceId, last.spanId)).toBe(last.json);
        const next = crashRecord(checkpoint);
        expect(await store.span(next.traceId, next.spanId)).toBeNull();
        const services = JSON.parse(await store.services()) as string[];
        expect(services).toEqual(['svc-0', 'svc-1', 'svc-2']);
        stored = checkpoint;
      } finally {
        await store.close();
      }
    }
    // The writer got well past its first batches: the kills hit it while it was writing.
    expect(stored).toBeGreaterThan(5 * batchSize(0));
  }, 240_000);
});
