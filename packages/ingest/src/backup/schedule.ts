import { rmSync } from 'node:fs';
import path from 'node:path';
import { logger } from '@junjo/core/logger';
import type { SpanStore } from '../store/index.ts';
import { type BackupResult, type BackupTarget, runBackup } from './backup.ts';
import type { RetryOptions } from './upload.ts';

export interface BackupScheduleOptions {
  /** Between scheduled runs; the first runs this long after start. */
  intervalMs: number;
  /** The data dir: snapshots are written under it (`backup-tmp/`) before upload. */
  dataDir: string;
  retry?: RetryOptions;
  partSize?: number;
}

export interface Backups {
  /**
   * Takes and uploads a backup now, or joins the one running; resolves once it is in the bucket. Rejects
   * when it failed (already logged).
   */
  backupNow(): Promise<BackupResult>;
  /** Stops the schedule, aborts an upload in progress and waits for the run to end (a snapshot finishes). */
  stop(): Promise<void>;
}

/** Where a run writes its snapshot, under the data dir. */
export const WORK_DIR = 'backup-tmp';

/**
 * Backs the span store up to S3 every `intervalMs`, and on demand. One backup runs at a time: a trigger
 * while one runs gets that one. A failed backup is logged and the schedule carries on; ingest is never
 * held up (the snapshot is a read, the upload reads local files).
 */
export function startBackups(
  store: SpanStore,
  target: BackupTarget,
  options: BackupScheduleOptions,
): Backups {
  const workDir = path.join(options.dataDir, WORK_DIR);
  // Left by a process that stopped mid-backup.
  rmSync(workDir, { recursive: true, force: true });
  const abort = new AbortController();
  let running: Promise<BackupResult> | undefined;

  const backupNow = (): Promise<BackupResult> => {
    if (abort.signal.aborted) return Promise.reject(new Error('backups stopped'));
    running ??= runBackup(store, target, {
      workDir,
      retry: options.retry,
      partSize: options.partSize,
      signal: abort.signal,
    })
      .catch((error: unknown) => {
        if (abort.signal.aborted) logger.warn('backup: stopped by shutdown before it was uploaded');
        else {
          logger.error('backup failed', {
            bucket: target.bucket,
            prefix: target.prefix,
            error: error as Error,
          });
        }
        throw error;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };

  const timer = setInterval(() => {
    backupNow().catch(() => {
      // Logged above; the next interval tries again.
    });
  }, options.intervalMs);
  timer.unref();
  logger.info('backups scheduled', {
    bucket: target.bucket,
    prefix: target.prefix,
    everyMinutes: options.intervalMs / 60_000,
    keep: target.keep,
  });

  return {
    backupNow,
    async stop() {
      clearInterval(timer);
      abort.abort();
      await running?.catch(() => undefined);
    },
  };
}
