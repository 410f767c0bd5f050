import { DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { isSnapshotName, MANIFEST_FILE } from './manifest.ts';

export interface StoredSnapshot {
  name: string;
  /** Its manifest is there: every file was uploaded. */
  complete: boolean;
  keys: string[];
  bytes: number;
}

/** DeleteObjects takes at most this many keys per call. */
const DELETE_BATCH = 1000;

/**
 * The snapshots under `prefix` in `bucket`, oldest first. Only keys shaped `<prefix><snapshot name>/<file>`
 * count; anything else under the prefix is not ours and is left alone.
 */
export async function listSnapshots(
  client: S3Client,
  bucket: string,
  prefix: string,
): Promise<StoredSnapshot[]> {
  const byName = new Map<string, StoredSnapshot>();
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) {
      const key = object.Key ?? '';
      const [name, file, ...rest] = key.slice(prefix.length).split('/');
      if (!name || !file || rest.length > 0 || !isSnapshotName(name)) continue;
      let snapshot = byName.get(name);
      if (!snapshot) {
        snapshot = { name, complete: false, keys: [], bytes: 0 };
        byName.set(name, snapshot);
      }
      snapshot.keys.push(key);
      snapshot.bytes += object.Size ?? 0;
      if (file === MANIFEST_FILE) snapshot.complete = true;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Keeps the newest `keep` complete snapshots and deletes the older ones, together with incomplete snapshots
 * (the leftovers of failed backups) older than `current`, the snapshot just written (default: the newest
 * complete one). One backup runs at a time, so nothing older than `current` is still being written.
 * @returns the names of the snapshots deleted, oldest first.
 */
export async function pruneSnapshots(
  client: S3Client,
  options: { bucket: string; prefix: string; keep: number; current?: string },
): Promise<string[]> {
  if (!(options.keep >= 1)) throw new RangeError(`keep must be at least 1, got ${options.keep}`);
  const snapshots = await listSnapshots(client, options.bucket, options.prefix);
  const complete = snapshots.filter((s) => s.complete);
  const kept = new Set(complete.slice(-options.keep).map((s) => s.name));
  const cutoff = options.current ?? complete.at(-1)?.name ?? '';
  const doomed = snapshots.filter((s) => (s.complete ? !kept.has(s.name) : s.name < cutoff));
  const keys = doomed.flatMap((s) => s.keys);
  for (let i = 0; i < keys.length; i += DELETE_BATCH) {
    const result = await client.send(
      new DeleteObjectsCommand({
        Bucket: options.bucket,
        Delete: { Objects: keys.slice(i, i + DELETE_BATCH).map((Key) => ({ Key })), Quiet: true },
      }),
    );
    const failed = result.Errors ?? [];
    if (failed.length > 0) {
      throw new Error(
        `could not delete ${failed.length} old backup object(s), e.g. ${failed[0]?.Key}: ${failed[0]?.Message}`,
      );
    }
  }
  return doomed.map((s) => s.name);
}
