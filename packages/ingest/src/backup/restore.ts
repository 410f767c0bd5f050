import { createHash } from 'node:crypto';
import { constants, createReadStream, createWriteStream, existsSync } from 'node:fs';
import { copyFile, link, mkdir, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  isSnapshotName,
  LIBSQL_FILE,
  MANIFEST_FILE,
  type Manifest,
  type ManifestFile,
  parseManifest,
  SPANS_FILE,
} from './manifest.ts';
import { listSnapshots } from './prune.ts';

/** A problem the person restoring can act on; the CLI prints its message alone. */
export class RestoreError extends Error {
  override name = 'RestoreError';
}

/** Where a snapshot's files are read from: a bucket, or a local directory laid out the same way. */
export interface SnapshotSource {
  /** For messages: the directory, or `s3://bucket/prefix/name/`. */
  location: string;
  read(file: string): Promise<Readable>;
}

export interface RestoreTarget {
  dataDir: string;
  /** The libSQL file to restore users into; undefined when the libSQL database is a server. */
  libsqlFile?: string;
}

export interface RestoreResult {
  name: string;
  /** Spans in the restored store. */
  spans: number;
  /** Files put into place. */
  restored: string[];
}

/** A snapshot directory on local disk (a downloaded one, or one a test wrote). */
export function directorySource(dir: string): SnapshotSource {
  const root = path.resolve(dir);
  return {
    location: root,
    read: async (file) => createReadStream(path.join(root, file)),
  };
}

/**
 * A snapshot in the bucket: `snapshot` is its name (as `npm run restore -- --list` shows), its key prefix
 * or `s3://` URL, or `latest` for the newest complete one.
 */
export async function bucketSource(
  client: S3Client,
  bucket: string,
  prefix: string,
  snapshot: string,
): Promise<SnapshotSource> {
  const where = `s3://${bucket}/${prefix}`;
  const complete = (await listSnapshots(client, bucket, prefix)).filter((s) => s.complete);
  let name = snapshot
    .replace(/^s3:\/\/[^/]+\//, '')
    .replace(/\/+$/, '')
    .split('/')
    .at(-1)!;
  if (snapshot === 'latest') {
    const newest = complete.at(-1);
    if (!newest) throw new RestoreError(`no complete snapshot in ${where}`);
    name = newest.name;
  } else if (!isSnapshotName(name)) {
    throw new RestoreError(`"${snapshot}" is not a snapshot name (like 2026-01-31T02-00-00.000Z) nor latest`);
  } else if (!complete.some((s) => s.name === name)) {
    const newest = complete.at(-1)?.name;
    const hint = newest ? `the newest is ${newest}` : 'there is none';
    throw new RestoreError(
      `no complete snapshot ${name} in ${where} (${hint}; see npm run restore -- --list)`,
    );
  }
  const base = `${prefix}${name}/`;
  return {
    location: `s3://${bucket}/${base}`,
    read: async (file) => {
      const { Body } = await client.send(new GetObjectCommand({ Bucket: bucket, Key: base + file }));
      if (!Body) throw new Error(`s3://${bucket}/${base}${file} has no body`);
      return Body as Readable;
    },
  };
}

/** Files a restore would overwrite: refusing on any of them keeps a live installation safe. */
export function occupiedFiles(target: RestoreTarget): string[] {
  const spans = path.join(target.dataDir, SPANS_FILE);
  const candidates = [spans, `${spans}.wal`];
  if (target.libsqlFile) candidates.push(target.libsqlFile, `${target.libsqlFile}-wal`);
  return candidates.filter((file) => existsSync(file));
}

/** Throws a RestoreError naming the files that are in the way, if any. */
export function assertEmptyTarget(target: RestoreTarget): void {
  const occupied = occupiedFiles(target);
  if (occupied.length > 0) {
    throw new RestoreError(
      `refusing to restore into ${target.dataDir}: it already holds ${occupied.join(', ')}. ` +
        'Restore into an empty data dir (stop the ingest process, move these files away, or point ' +
        'JUNJO_DATA_DIR elsewhere).',
    );
  }
}

/**
 * Restores a snapshot into an empty data dir: downloads and decompresses each file beside it, checks its
 * size and SHA-256 against the manifest, clears the span store's WAL checkpoint (it is a position in the old
 * installation's WAL, while this data dir starts a new one; replayed spans are skipped as duplicates), and
 * only then moves the files into place. Nothing in the data dir changes if any step fails.
 */
export async function restoreSnapshot(
  source: SnapshotSource,
  target: RestoreTarget,
  log: (line: string) => void,
): Promise<RestoreResult> {
  assertEmptyTarget(target);
  log(`reading ${source.location}${MANIFEST_FILE}`);
  const manifest = await readManifest(source);
  const files = manifest.files.filter((file) => {
    if (file.name !== LIBSQL_FILE || target.libsqlFile) return true;
    log(`skipping ${LIBSQL_FILE}: JUNJO_LIBSQL_URL is a libSQL server here, not a file`);
    return false;
  });
  if (target.libsqlFile && !manifest.files.some((f) => f.name === LIBSQL_FILE)) {
    log(
      `the snapshot has no ${LIBSQL_FILE} (users lived in a libSQL server): only the span store is restored`,
    );
  }
  const workDir = path.join(target.dataDir, `restore-tmp-${manifest.name}`);
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  try {
    for (const file of files) await download(source, file, workDir, log);
    const spans = await resetCheckpoint(path.join(workDir, SPANS_FILE));
    log(`${SPANS_FILE}: ${spans} spans; WAL checkpoint ${manifest.walCheckpoint ?? 'none'} cleared`);
    assertEmptyTarget(target);
    const restored: string[] = [];
    for (const file of files) {
      const destination =
        file.name === LIBSQL_FILE ? target.libsqlFile! : path.join(target.dataDir, SPANS_FILE);
      await moveNoClobber(path.join(workDir, file.name), destination);
      log(`restored ${destination}`);
      restored.push(destination);
    }
    return { name: manifest.name, spans, restored };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function readManifest(source: SnapshotSource): Promise<Manifest> {
  let text: string;
  try {
    const stream = await source.read(MANIFEST_FILE);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
    text = Buffer.concat(chunks).toString('utf8');
  } catch (error) {
    throw new RestoreError(
      `cannot read ${source.location}${MANIFEST_FILE}: ${(error as Error).message}` +
        ' (a snapshot without its manifest is incomplete)',
    );
  }
  try {
    return parseManifest(text);
  } catch (error) {
    throw new RestoreError((error as Error).message);
  }
}

async function download(
  source: SnapshotSource,
  file: ManifestFile,
  workDir: string,
  log: (line: string) => void,
): Promise<void> {
  log(`downloading ${file.stored} (${mib(file.storedBytes)}, ${mib(file.bytes)} uncompressed)`);
  const hash = createHash('sha256');
  let bytes = 0;
  await pipeline(
    await source.read(file.stored),
    createGunzip(),
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        hash.update(chunk);
        bytes += chunk.length;
        yield chunk;
      }
    },
    createWriteStream(path.join(workDir, file.name), { flags: 'wx' }),
  );
  const sha256 = hash.digest('hex');
  if (bytes !== file.bytes || sha256 !== file.sha256) {
    throw new RestoreError(
      `${file.stored} does not match the manifest (${bytes} bytes, sha256 ${sha256}; expected ` +
        `${file.bytes} bytes, ${file.sha256}): the snapshot is damaged`,
    );
  }
  log(`${file.name}: ${mib(bytes)}, sha256 verified`);
}

/** Clears the WAL checkpoint in a restored span store file; returns its span count. */
async function resetCheckpoint(file: string): Promise<number> {
  const instance = await DuckDBInstance.create(file);
  try {
    const conn = await instance.connect();
    try {
      await conn.run('DELETE FROM ingest_checkpoint');
      const [count] = (await conn.runAndReadAll('SELECT count(*) FROM spans')).getRows()[0] ?? [];
      return Number(count);
    } finally {
      conn.closeSync();
    }
  } finally {
    // Closing checkpoints the change into the file itself, leaving no .wal beside it.
    instance.closeSync();
  }
}

/** Moves `from` to `to` unless `to` exists (then throws), also across file systems. */
async function moveNoClobber(from: string, to: string): Promise<void> {
  await mkdir(path.dirname(to), { recursive: true });
  try {
    await link(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await copyFile(from, to, constants.COPYFILE_EXCL);
  }
  await unlink(from);
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
