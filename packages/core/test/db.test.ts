import { readdirSync, readlinkSync } from 'node:fs';
import { count } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import * as Db from '../src/db/index.ts';
import { signInFailureTable } from '../src/sign-in/sign-in-failure.sql.ts';
import { useTempDataDir } from './support.ts';

const data = useTempDataDir();

/** Open descriptors of this process on the data dir's database files. */
function openDbFiles(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith(data.dir());
    } catch {
      return false;
    }
  }).length;
}

describe('db', () => {
  it('applies the committed migrations and runs in WAL mode', async () => {
    const db = await Db.get();
    const tables = await db.all<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
    );
    expect(tables.map((t) => t.name)).toEqual(
      expect.arrayContaining(['user', 'session', 'sign_in_failure', 'api_key', '__drizzle_migrations']),
    );
    const [mode] = await db.all<{ journal_mode: string }>('PRAGMA journal_mode');
    expect(mode?.journal_mode).toBe('wal');
  });

  it('runs many transactions without leaking connections', async () => {
    await Db.transaction(async (tx) => tx.select({ n: count() }).from(signInFailureTable));
    const before = openDbFiles();
    for (let i = 0; i < 100; i++) {
      await Db.transaction((tx) =>
        tx.insert(signInFailureTable).values({ email: `t${i}@example.com`, failedAt: new Date() }),
      );
    }
    expect(openDbFiles()).toBe(before);
    const db = await Db.get();
    const [row] = await db.select({ n: count() }).from(signInFailureTable);
    expect(row?.n).toBe(100);
  });

  it('rolls a failed transaction back and keeps serving', async () => {
    await expect(
      Db.transaction(async (tx) => {
        await tx.insert(signInFailureTable).values({ email: 'rolled@example.com', failedAt: new Date() });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const db = await Db.get();
    const rows = await db.select().from(signInFailureTable);
    expect(rows.some((r) => r.email === 'rolled@example.com')).toBe(false);
    await Db.transaction((tx) =>
      tx.insert(signInFailureTable).values({ email: 'after@example.com', failedAt: new Date() }),
    );
    expect((await db.select().from(signInFailureTable)).some((r) => r.email === 'after@example.com')).toBe(
      true,
    );
  });

  it('reopens after close', async () => {
    await Db.close();
    await Db.ping();
  });
});
