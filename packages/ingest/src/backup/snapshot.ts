import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { version as duckdbVersion } from '@duckdb/node-api';
import { VERSION } from '@junjo/core/config';
import * as Db from '@junjo/core/db';
import { logger } from '@junjo/core/logger';
import type { SpanStore } from '../store/index.ts';
import {
  GZIP_SUFFIX,
  LIBSQL_FILE,
  MANIFEST_FILE,
  type Manifest,
  type ManifestFile,
  SPANS_FILE,
  snapshotName,
} from './manifest.ts';

/** A snapshot on local disk: the compressed files and manifest.json in `dir`, laid out as in the bucket. */
export interface LocalSnapshot {
  dir: string;
  manifest: Manifest;
}

/**
 * Takes a snapshot into `<parentDir>/<name>` (see manifest.ts): the span store as of one committed
 * transaction (`SpanStore.snapshot`, which does not hold up the indexer or queries) and, when users live in
 * a libSQL file, a consistent copy of it (`VACUUM INTO`). Each is gzip-compressed (off the event loop) with
 * its size and SHA-256 noted, and manifest.json is written last. The caller removes the directory; on
 * failure it is removed here.
 */
export async function takeSnapshot(
  store: SpanStore,
  parentDir: string,
  at = new Date(),
): Promise<LocalSnapshot> {
  const name = snapshotName(at);
  const dir = path.join(parentDir, name);
  await mkdir(dir, { recursive: true });
  try {
    return { dir, manifest: await writeSnapshot(store, dir, name, at) };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function writeSnapshot(store: SpanStore, dir: string, name: string, at: Date): Promise<Manifest> {
  const { checkpoint } = await store.snapshot(path.join(dir, SPANS_FILE));
  const raw = [SPANS_FILE];
  if (await Db.copyInto(path.join(dir, LIBSQL_FILE))) raw.push(LIBSQL_FILE);
  else
    logger.info('backup: users live in a libSQL server, whose own backups cover them; not in the snapshot');
  const files: ManifestFile[] = [];
  for (const file of raw) files.push(await compress(dir, file));
  const manifest: Manifest = {
    format: 1,
    name,
    createdAt: at.toISOString(),
    walCheckpoint: checkpoint ?? null,
    junjoVersion: VERSION,
    duckdbVersion: duckdbVersion(),
    files,
  };
  await writeFile(path.join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** Replaces `dir/name` by `dir/name.gz`, hashing the original on the way. */
async function compress(dir: string, name: string): Promise<ManifestFile> {
  const source = path.join(dir, name);
  const stored = name + GZIP_SUFFIX;
  const hash = createHash('sha256');
  let bytes = 0;
  await pipeline(
    createReadStream(source),
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        hash.update(chunk);
        bytes += chunk.length;
        yield chunk;
      }
    },
    // Fast: DuckDB already compresses its columns, so harder levels buy little for their CPU.
    createGzip({ level: 3 }),
    createWriteStream(path.join(dir, stored)),
  );
  await rm(source);
  const { size } = await stat(path.join(dir, stored));
  return { name, stored, bytes, sha256: hash.digest('hex'), storedBytes: size };
}
