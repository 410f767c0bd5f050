import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import * as Db from '../src/db/index.ts';

/** A fresh data dir (libSQL file, generated secret) for this test file's process. */
export function useTempDataDir(extraEnv: Record<string, string> = {}): { dir: () => string } {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'junjo-core-'));
    delete process.env.JUNJO_LIBSQL_URL;
    delete process.env.JUNJO_SESSION_SECRET;
    Object.assign(process.env, { JUNJO_DATA_DIR: dir, JUNJO_LOG_LEVEL: 'silent', ...extraEnv });
  });
  afterAll(async () => {
    await Db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir: () => dir };
}
