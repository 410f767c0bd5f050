/**
 * `npm run restore -- <snapshot>`: puts a backup (docs/self-host.md, "Backups") back into an empty data dir,
 * JUNJO_DATA_DIR, with the ingest process stopped. `<snapshot>` is a snapshot name in JUNJO_BACKUP_S3_BUCKET
 * (under JUNJO_BACKUP_S3_PREFIX), `latest`, or a local directory holding a snapshot's files.
 * `npm run restore -- --list` lists the snapshots in the bucket. Exits 1, changing nothing, on any problem.
 */
import { existsSync, statSync } from 'node:fs';
import * as Config from '@junjo/core/config';
import { listSnapshots } from './prune.ts';
import {
  assertEmptyTarget,
  bucketSource,
  directorySource,
  RestoreError,
  type RestoreTarget,
  restoreSnapshot,
  type SnapshotSource,
} from './restore.ts';
import { createS3Client } from './upload.ts';

const USAGE = `usage: npm run restore -- <snapshot>     restore into the empty JUNJO_DATA_DIR
       npm run restore -- --list         list the snapshots in the backup bucket

<snapshot> is a snapshot name in JUNJO_BACKUP_S3_BUCKET (e.g. 2026-01-31T02-00-00.000Z), latest for the
newest, or a local directory holding a snapshot's files (manifest.json, spans.duckdb.gz, junjo.db.gz).`;

const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(args: string[]): Promise<void> {
  if (args.length !== 1 || args[0] === '--help' || args[0] === '-h') {
    say(USAGE);
    process.exitCode = args.length === 1 ? 0 : 1;
    return;
  }
  const config = Config.get();
  const { backup } = config;
  const bucket = () => {
    if (!backup.s3Bucket)
      throw new RestoreError('JUNJO_BACKUP_S3_BUCKET is not set: set it, or give a local snapshot directory');
    return { client: createS3Client(backup), bucket: backup.s3Bucket };
  };
  const arg = args[0]!;
  if (arg === '--list') {
    const { client, bucket: name } = bucket();
    const snapshots = await listSnapshots(client, name, backup.s3Prefix);
    say(`snapshots in s3://${name}/${backup.s3Prefix} (oldest first):`);
    for (const s of snapshots) {
      say(`  ${s.name}  ${(s.bytes / 1024 / 1024).toFixed(1)} MiB${s.complete ? '' : '  (incomplete)'}`);
    }
    if (snapshots.length === 0) say('  (none)');
    return;
  }
  const target: RestoreTarget = {
    dataDir: config.dataDir,
    libsqlFile: config.libsql.url.startsWith('file:') ? config.libsql.url.slice('file:'.length) : undefined,
  };
  // Before anything is downloaded.
  assertEmptyTarget(target);
  let source: SnapshotSource;
  if (existsSync(arg) && statSync(arg).isDirectory()) source = directorySource(arg);
  else {
    const { client, bucket: name } = bucket();
    source = await bucketSource(client, name, backup.s3Prefix, arg);
  }
  const result = await restoreSnapshot(source, target, say);
  say(
    `restored snapshot ${result.name} (${result.spans} spans) into ${config.dataDir}; start the server now`,
  );
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof RestoreError || error instanceof Config.ConfigError) {
    process.stderr.write(`restore: ${error.message}\n`);
  } else {
    process.stderr.write(
      `restore failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
  }
  process.exit(1);
});
