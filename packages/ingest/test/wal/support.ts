import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach } from 'vitest';
import type { Wal, WalRecord } from '../../src/wal/index.ts';

export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

/** A fresh directory per test, removed afterwards together with the WALs opened through `track`. */
export function useWalDir(): { dir: () => string; track: (wal: Wal) => Wal } {
  let dir = '';
  const opened: Wal[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'junjo-wal-'));
  });
  afterEach(async () => {
    for (const wal of opened.splice(0)) await wal.close();
    await rm(dir, { recursive: true, force: true });
  });
  return {
    dir: () => dir,
    track: (wal) => {
      opened.push(wal);
      return wal;
    },
  };
}

/** Every durable record from `from` on, following `next` page by page. */
export async function readAll(wal: Wal, from = 0, maxBytes?: number): Promise<WalRecord[]> {
  const records: WalRecord[] = [];
  let position = from;
  for (;;) {
    const page = await wal.read(position, maxBytes);
    if (page.records.length === 0) return records;
    records.push(...page.records);
    position = page.next;
  }
}

/** Index of the first record whose payload is not `expected(index)`, or -1 when all match. */
export function firstMismatch(records: WalRecord[], expected: (index: number) => Uint8Array): number {
  return records.findIndex((record, i) => !sameBytes(record.payload, expected(i)));
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}
