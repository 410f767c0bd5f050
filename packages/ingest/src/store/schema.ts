import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DuckDBConnection } from '@duckdb/node-api';

/** Where the numbered schema files live: `NNNN_name.sql`, applied in version order. */
export const SCHEMA_DIR = fileURLToPath(new URL('./sql/', import.meta.url));

const FILE_NAME = /^(\d{4})_[a-z0-9_]+\.sql$/;

export interface SchemaFile {
  version: number;
  name: string;
  sql: string;
}

/** The schema files in `dir`, by version; refuses gaps and duplicate versions, which would hide a mistake. */
export function schemaFiles(dir = SCHEMA_DIR): SchemaFile[] {
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.sql'))
    .map((name) => {
      const match = FILE_NAME.exec(name);
      if (!match) throw new Error(`span store schema: bad file name ${name} (want NNNN_name.sql)`);
      return { version: Number(match[1]), name, sql: readFileSync(`${dir}/${name}`, 'utf8') };
    })
    .sort((a, b) => a.version - b.version);
  files.forEach((file, i) => {
    if (file.version !== i + 1)
      throw new Error(`span store schema: expected version ${i + 1}, found ${file.name}`);
  });
  return files;
}

/**
 * Columns declared `USING COMPRESSION zstd` need a file of storage version v1.2.0 or later, which is what
 * `DuckDbSpanStore.open` creates; on a file created with DuckDB's older default (v1.0.0), DuckDB would store
 * such a column uncompressed, so there the clause is dropped and DuckDB chooses as it does for any column.
 */
const ZSTD_CLAUSE = /\s+USING\s+COMPRESSION\s+zstd\b/gi;

/** Whether the database `conn` uses can store ZSTD-compressed columns (its storage version is v1.2.0+). */
async function storesZstd(conn: DuckDBConnection): Promise<boolean> {
  const [version] =
    (
      await conn.runAndReadAll(
        "SELECT map_extract_value(tags, 'storage_version') FROM duckdb_databases() WHERE database_name = current_database()",
      )
    ).getRows()[0] ?? [];
  const match = /^v(\d+)\.(\d+)\./.exec(String(version));
  return match !== null && (Number(match[1]) > 1 || (Number(match[1]) === 1 && Number(match[2]) >= 2));
}

/**
 * Applies the schema files the database has not recorded yet, each in its own transaction together with its
 * row in `schema_migrations`, so a crash leaves every file either applied and recorded or neither. Returns
 * the versions applied now. Refuses a database recording a version this build does not have (written by a
 * newer build), rather than running against a schema it does not know.
 */
export async function applySchema(conn: DuckDBConnection, files = schemaFiles()): Promise<number[]> {
  await conn.run(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name VARCHAR NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
  )`);
  const rows = (await conn.runAndReadAll('SELECT version FROM schema_migrations')).getRows();
  const applied = new Set(rows.map(([version]) => Number(version)));
  const newest = files.at(-1)?.version ?? 0;
  const unknown = [...applied].filter((version) => version > newest);
  if (unknown.length > 0) {
    throw new Error(
      `span store schema: the database has version ${Math.max(...unknown)}, newer than this build`,
    );
  }
  const appliedNow: number[] = [];
  const zstd = await storesZstd(conn);
  for (const file of files) {
    if (applied.has(file.version)) continue;
    await conn.run('BEGIN TRANSACTION');
    try {
      await conn.run(zstd ? file.sql : file.sql.replace(ZSTD_CLAUSE, ''));
      await conn.run('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
        file.version,
        file.name,
      ]);
      await conn.run('COMMIT');
    } catch (error) {
      await conn.run('ROLLBACK');
      throw new Error(`span store schema: ${file.name} failed`, { cause: error });
    }
    appliedNow.push(file.version);
  }
  return appliedNow;
}
