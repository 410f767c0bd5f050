import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { logger } from '@junjo/core/logger';
import type { SpanStore } from '../store/index.ts';
import { MANIFEST_FILE, type ManifestFile } from './manifest.ts';
import { pruneSnapshots } from './prune.ts';
import { takeSnapshot } from './snapshot.ts';
import { type RetryOptions, uploadFile } from './upload.ts';

export interface BackupTarget {
  client: S3Client;
  bucket: string;
  /** Empty, or ends with `/`. */
  prefix: string;
  /** Complete snapshots kept. */
  keep: number;
}

export interface BackupOptions {
  /** Where the snapshot is written before upload (under the data dir); removed afterwards. */
  workDir: string;
  retry?: RetryOptions;
  partSize?: number;
  signal?: AbortSignal;
}

export interface BackupResult {
  /** The snapshot's name, which `npm run restore -- <name>` takes. */
  name: string;
  /** `s3://<bucket>/<prefix><name>/` */
  location: string;
  walCheckpoint: number | null;
  files: ManifestFile[];
  /** Older snapshots deleted afterwards. */
  pruned: string[];
}

/**
 * One backup: a snapshot (span store, and the libSQL file in self-host) into the work dir, its files
 * uploaded (each retried on failure), then manifest.json, which makes it complete; then snapshots beyond
 * `keep` are pruned. The local files are removed whatever happens. Rejects if a file cannot be uploaded;
 * a failed prune is only logged, since the backup itself is safe.
 */
export async function runBackup(
  store: SpanStore,
  target: BackupTarget,
  options: BackupOptions,
): Promise<BackupResult> {
  const startedAt = Date.now();
  const snapshot = await takeSnapshot(store, options.workDir);
  const { manifest } = snapshot;
  const base = `${target.prefix}${manifest.name}/`;
  const location = `s3://${target.bucket}/${base}`;
  try {
    logger.info('backup: snapshot taken; uploading', {
      location,
      files: manifest.files.map((f) => ({ name: f.name, bytes: f.bytes, storedBytes: f.storedBytes })),
      walCheckpoint: manifest.walCheckpoint,
    });
    const upload = (file: string, contentType: string) =>
      uploadFile(target.client, {
        bucket: target.bucket,
        key: base + file,
        file: path.join(snapshot.dir, file),
        contentType,
        partSize: options.partSize,
        retry: options.retry,
        signal: options.signal,
      });
    for (const file of manifest.files) await upload(file.stored, 'application/gzip');
    await upload(MANIFEST_FILE, 'application/json');
  } finally {
    await rm(snapshot.dir, { recursive: true, force: true });
  }
  let pruned: string[] = [];
  try {
    pruned = await pruneSnapshots(target.client, {
      bucket: target.bucket,
      prefix: target.prefix,
      keep: target.keep,
      current: manifest.name,
    });
  } catch (error) {
    logger.warn('backup: pruning old snapshots failed; the next backup tries again', {
      error: error as Error,
    });
  }
  logger.info('backup: done', {
    location,
    seconds: Math.round((Date.now() - startedAt) / 100) / 10,
    pruned,
  });
  return {
    name: manifest.name,
    location,
    walCheckpoint: manifest.walCheckpoint,
    files: manifest.files,
    pruned,
  };
}
