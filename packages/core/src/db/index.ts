import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Client, createClient, type ResultSet } from '@libsql/client';
import { sql } from 'drizzle-orm';
import { drizzle, type LibSQLDatabase } from 'drizzle-orm/libsql';
import { migrate as drizzleMigrate } from 'drizzle-orm/libsql/migrator';
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core';
import * as Config from '../config/index.ts';
import { logger } from '../logger/index.ts';
import * as schema from './schema.ts';

export type Database = LibSQLDatabase<typeof schema>;
/** What a transaction body gets: the writer connection inside BEGIN IMMEDIATE, or a drizzle transaction. */
export type Transaction = BaseSQLiteDatabase<'async', ResultSet, typeof schema>;

const SOURCE_MIGRATIONS = new URL('../../migrations', import.meta.url);
/**
 * Committed drizzle-kit migrations; applied before first use in every process. A bundle (Lambda, container
 * image) is not beside the package, so its build copies them beside itself.
 */
export const MIGRATIONS_FOLDER = fileURLToPath(
  existsSync(SOURCE_MIGRATIONS) ? SOURCE_MIGRATIONS : new URL('./migrations', import.meta.url),
);

interface Handle {
  /** Reads. For a file this is its own connection, so reads never see a writer's open transaction. */
  reader: Database;
  /** Writes, one at a time through the write lane; the same client as `reader` for a remote server. */
  writer: Database;
  /** Local file: transactions are BEGIN IMMEDIATE/COMMIT on the writer connection (see `transaction`). */
  isFile: boolean;
  clients: Client[];
  ready: Promise<void>;
}

let handle: Handle | undefined;
let writeQueue: Promise<unknown> = Promise.resolve();

function openHandle(): Handle {
  const { libsql } = Config.get();
  const isFile = libsql.url.startsWith('file:');
  if (isFile) mkdirSync(path.dirname(libsql.url.slice('file:'.length)), { recursive: true });
  const open = () =>
    createClient({ url: libsql.url, authToken: libsql.authToken, timeout: libsql.busyTimeoutMs });
  const readClient = open();
  const writeClient = isFile ? open() : readClient;
  const reader = drizzle(readClient, { schema });
  const writer = isFile ? drizzle(writeClient, { schema }) : reader;
  const ready = (async () => {
    // WAL lets readers (other Lambdas, the ingest key check) proceed while one writer commits.
    if (isFile) await writeClient.execute('PRAGMA journal_mode = WAL');
    await migrateWithRetry(writer);
  })();
  return { reader, writer, isFile, clients: isFile ? [readClient, writeClient] : [readClient], ready };
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
  return (await ready()).reader;
}

async function ready(): Promise<Handle> {
  handle ??= openHandle();
  const current = handle;
  try {
    await current.ready;
  } catch (error) {
    if (handle === current) {
      handle = undefined;
      for (const client of current.clients) client.close();
    }
    throw error;
  }
  return current;
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
  return inWriteLane(async (h) => fn(h.writer));
}

function inWriteLane<T>(fn: (h: Handle) => Promise<T>): Promise<T> {
  const run = writeQueue.then(async () => fn(await ready()));
  writeQueue = run.catch(() => undefined);
  return run;
}

/**
 * A write transaction taken with BEGIN IMMEDIATE, so check-then-insert is atomic across processes too.
 * For a file, the transaction runs on the writer connection, which the write lane gives to one caller at
 * a time. (@libsql/client's own `transaction()` hands its connection to the transaction and never closes
 * it: one leaked connection per transaction, which also holds the file's locks until garbage collection.)
 */
export async function transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
  return inWriteLane(async (h) => {
    if (!h.isFile) return h.writer.transaction(fn, { behavior: 'immediate' });
    await h.writer.run(sql`BEGIN IMMEDIATE`);
    try {
      const result = await fn(h.writer);
      await h.writer.run(sql`COMMIT`);
      return result;
    } catch (error) {
      await h.writer.run(sql`ROLLBACK`).catch(() => undefined);
      throw error;
    }
  });
}

/** Answers when the store answers a trivial query (for GET /health). */
export async function ping(): Promise<void> {
  const db = await get();
  await db.run(sql`SELECT 1`);
}

/**
 * Self-host backups: writes a consistent copy of the libSQL file to `file` (which must not exist) with
 * `VACUUM INTO`, a read transaction, so writers carry on (WAL mode). The embedded driver is synchronous:
 * this holds the event loop for as long as the copy takes (milliseconds for a users database).
 * @returns false, writing nothing, when the database is a libSQL server rather than a file.
 */
export async function copyInto(file: string): Promise<boolean> {
  const current = await ready();
  if (!current.isFile) return false;
  await current.clients[0]!.execute({ sql: 'VACUUM INTO ?', args: [file] });
  return true;
}

/** Closes the client (shutdown, tests). The next `get()` opens a new one. */
export async function close(): Promise<void> {
  const current = handle;
  handle = undefined;
  if (current) {
    await current.ready.catch(() => undefined);
    for (const client of current.clients) client.close();
  }
}
