/**
 * Backups of the span store to S3 (packages/ingest/src/backup, docs/deploy-aws.md "Backups"): a private
 * bucket that the ingest service is linked to, which lets its task role read, write and delete in it, and
 * whose name the service gets as JUNJO_BACKUP_S3_BUCKET. The schedule and how many snapshots are kept come
 * from the deploy environment, under the configuration's own names. Users, sessions and API keys live in
 * the libSQL server, which has backups of its own.
 */
export function backupStorage() {
  const bucket = new sst.aws.Bucket('Backups');
  return {
    bucket,
    /** The ingest service's backup settings (infra/ingest.ts); empty values are left unset. */
    environment: {
      JUNJO_BACKUP_S3_BUCKET: bucket.name,
      JUNJO_BACKUP_INTERVAL_MINUTES: process.env.JUNJO_BACKUP_INTERVAL_MINUTES ?? '',
      JUNJO_BACKUP_KEEP: process.env.JUNJO_BACKUP_KEEP ?? '',
    },
  };
}

export type BackupStorage = ReturnType<typeof backupStorage>;
