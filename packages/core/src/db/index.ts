import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Client, createClient } from '@libsql/client';
import { drizzle, type LibSQLDatabase } from 'drizzle-orm/libsql';
import { migrate as drizzleMigrate } from 'drizzle-orm/libsql/migrator';
import * as Config from '../config/index.ts';
import { logger } from '../logger/index.ts';
import * as schema from './schema.ts';

export type Database = LibSQLDatabase<typeof schema>;
export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];

/** Committed drizzle-kit migrations; applied before first use in every process. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../migrations', import.meta.url));

interface Handle {
  client: Client;
  db: Database;
  ready: Promise<void>;
}

let handle: Handle | undefined;
let writeQueue: Promise<unknown> = Promise.resolve();

function openHandle(): Handle {
  const { libsql } = Config.get();
  const isFile = libsql.url.startsWith('file:');
  if (isFile) mkdirSync(path.dirname(libsql.url.slice('file:'.length)), { recursive: true });
  const client = createClient({
    url: libsql.url,
    authToken: libsql.authToken,
    timeout: libsql.busyTimeoutMs,
  });
  const db = drizzle(client, { schema });
  const ready = (async () => {
    // WAL lets readers (other Lambdas, the ingest key check) proceed while one writer commits.
    if (isFile) await client.execute('PRAGMA journal_mode = WAL');
    await migrateWithRetry(db);
  })();
  return { client, db, ready };
}

/** Two processes starting at once may race on the same migration; the loser re-reads and finds it applied. */
async function migrateWithRetry(db: Database): Promise<void> {
  try {
    await drizzleMigrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
  } catch (error) {
    logger.warn('migration attempt failed, retrying once', { error: (error as Error).message });
    await drizzleMigrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
  }
}

/**
 * The process's database, opened lazily and migrated before first use. If opening or migrating fails
 * the handle is dropped, so the next call tries again (the store may come back).
 */
export async function get(): Promise<Database> {
  handle ??= openHandle();
  const current = handle;
  try {
    await current.ready;
  } catch (error) {
    if (handle === current) {
      handle = undefined;
      current.client.close();
    }
    throw error;
  }
  return current.db;
}

/** Applies pending migrations now (start-up); the same as the first `get()`. */
export async function migrate(): Promise<void> {
  await get();
}

/**
 * Runs a write in this process's single write lane. The embedded driver is synchronous and a second
 * concurrent writer would only spin on SQLITE_BUSY; queueing here keeps writers orderly.
 */
export async function write<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  const run = writeQueue.then(async () => fn(await get()));
  writeQueue = run.catch(() => undefined);
  return run;
}

/** A write transaction taken with BEGIN IMMEDIATE, so check-then-insert is atomic across processes too. */
export async function transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
  return write((db) => db.transaction(fn, { behavior: 'immediate' }));
}

/** Answers when the store answers a trivial query (for GET /health). */
export async function ping(): Promise<void> {
  const db = await get();
  await db.run('SELECT 1');
}

/** Closes the client (shutdown, tests). The next `get()` opens a new one. */
export async function close(): Promise<void> {
  const current = handle;
  handle = undefined;
  if (current) {
    await current.ready.catch(() => undefined);
    current.client.close();
  }
}
