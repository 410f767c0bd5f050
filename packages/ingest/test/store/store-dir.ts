import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterEach, beforeEach } from 'vitest';
import type { SpanStore } from '../../src/store/index.ts';

/**
 * A fresh temp directory per test, and a way to open stores in it that closes them afterwards (also when the
 * test fails, so the next test's files are free).
 */
export function useStoreDir(open: (file: string) => Promise<SpanStore>): {
  dir: () => string;
  file: () => string;
  openStore: (file?: string) => Promise<SpanStore>;
} {
  let dir = '';
  const opened: SpanStore[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'junjo-store-'));
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const file = () => path.join(dir, 'spans.duckdb');
  return {
    dir: () => dir,
    file,
    openStore: async (at = file()) => {
      const store = await open(at);
      opened.push(store);
      return store;
    },
  };
}

/** Reads the closed store's file directly, to check what the store's API does not expose. */
export async function inspect<T>(file: string, sql: string): Promise<T[][]> {
  const instance = await DuckDBInstance.create(file);
  try {
    const conn = await instance.connect();
    const rows = (await conn.runAndReadAll(sql)).getRowsJS() as T[][];
    conn.closeSync();
    return rows;
  } finally {
    instance.closeSync();
  }
}
