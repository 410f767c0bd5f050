import path from 'node:path';
import * as ApiKey from '@junjo/core/api-key';
import type { Config } from '@junjo/core/config';
import * as Db from '@junjo/core/db';
import { logger } from '@junjo/core/logger';
import type { BackupResult } from './backup/backup.ts';
import { startBackups } from './backup/schedule.ts';
import { createS3Client } from './backup/upload.ts';
import { Indexer } from './indexer/index.ts';
import { startQueryServer } from './query/server.ts';
import { Backpressure } from './receiver/backpressure.ts';
import { startGrpcReceiver } from './receiver/grpc.ts';
import { startHttpReceiver } from './receiver/http.ts';
import { IngestPipeline } from './receiver/pipeline.ts';
import { SpanStore } from './store/index.ts';
import { Wal } from './wal/index.ts';

export interface RunningIngest {
  grpcPort: number;
  httpPort: number;
  queryPort: number;
  wal: Wal;
  store: SpanStore;
  indexer: Indexer;
  pipeline: IngestPipeline;
  /** Runs the retention pass now (it also runs at start and every JUNJO_RETENTION_EVERY_MINUTES when JUNJO_RETENTION_DAYS is set). */
  applyRetention(): Promise<number>;
  /**
   * Backs up to S3 now, or joins the backup running (they also run every JUNJO_BACKUP_INTERVAL_MINUTES).
   * Rejects when it fails, or when JUNJO_BACKUP_S3_BUCKET is not set.
   */
  backupNow(): Promise<BackupResult>;
  /**
   * Graceful stop: refuse new exports, finish those in flight, close the receivers, index the rest of the
   * backlog, close the query service, the span store and the WAL.
   */
  close(): Promise<void>;
  /**
   * Resolves if the span store's worker thread dies (out of memory, a crash in it): nothing can be indexed
   * or queried any more, and the process should exit so that its supervisor restarts it. Every acknowledged
   * export is in the WAL, and the restarted indexer resumes from the store's checkpoint.
   */
  failed: Promise<Error>;
}

const DAY_MS = 86_400_000;

/** Starts the ingest container: receivers → WAL → indexer → DuckDB span store ← query service. */
export async function startIngest(config: Config): Promise<RunningIngest> {
  const { ingest } = config;
  await Db.migrate();
  const wal = await Wal.open(ingest.walDir, { segmentBytes: ingest.walSegmentBytes });
  // On a worker thread: decoding, converting and writing batches must not hold up the receivers.
  const store = await SpanStore.openInWorker(path.join(config.dataDir, 'spans.duckdb'), {
    memoryLimit: config.duckdbMemoryLimit,
    threads: config.duckdbThreads,
  });
  const indexer = new Indexer(wal, store);
  if (config.indexerEnabled) await indexer.start();
  else logger.warn('JUNJO_INDEXER=off: exports are stored in the WAL but not indexed');
  const backpressure = new Backpressure(() => wal.unreleasedBytes(), {
    maxUnreleasedBytes: ingest.maxUnreleasedWalBytes,
    maxRssBytes: ingest.maxRssBytes,
  });
  const pipeline = new IngestPipeline({
    wal,
    backpressure,
    validateApiKey: (key) => ApiKey.validateApiKey(key),
    maxRequestBytes: ingest.maxRequestBytes,
    onAppended: () => indexer.notify(),
  });
  const receiverOptions = { host: ingest.host, maxRequestBytes: ingest.maxRequestBytes };
  const grpc = await startGrpcReceiver(pipeline, {
    ...receiverOptions,
    port: ingest.grpcPort,
    receiveWindowBytes: ingest.grpcReceiveWindowBytes,
  });
  const http = await startHttpReceiver(pipeline, { ...receiverOptions, port: ingest.otlpHttpPort });

  // Backups to S3 (backup/): scheduled when a bucket is set, and on demand.
  const { backup } = config;
  const backups = backup.s3Bucket
    ? startBackups(
        store,
        {
          client: createS3Client(backup),
          bucket: backup.s3Bucket,
          prefix: backup.s3Prefix,
          keep: backup.keep,
        },
        { intervalMs: backup.intervalMinutes * 60_000, dataDir: config.dataDir },
      )
    : undefined;
  const backupNow = (): Promise<BackupResult> =>
    backups?.backupNow() ?? Promise.reject(new Error('backups are off: JUNJO_BACKUP_S3_BUCKET is not set'));

  const query = await startQueryServer(store, indexer, {
    host: ingest.internalHost,
    port: ingest.internalGrpcPort,
    token: ingest.internalToken,
    backupNow: backups && backupNow,
  });

  /** Deletes spans that started more than JUNJO_RETENTION_DAYS ago, in the store's bounded steps. */
  const applyRetention = async (): Promise<number> => {
    if (!config.retentionDays) return 0;
    const cutoffNs = BigInt(Date.now() - Math.round(config.retentionDays * DAY_MS)) * 1_000_000n;
    const deleted = await store.deleteOlderThan(cutoffNs);
    if (deleted > 0) logger.info('retention: deleted old spans', { deleted, days: config.retentionDays });
    return deleted;
  };
  let closing: Promise<void> | undefined;
  // In the background: once now (a restart must not put it off by a whole interval), then every
  // JUNJO_RETENTION_EVERY_MINUTES. A pass still running when the next is due makes that one a no-op.
  let retentionRunning: Promise<unknown> | undefined;
  const retentionPass = () => {
    retentionRunning ??= applyRetention()
      .catch((error: unknown) => {
        if (!closing) logger.error('retention failed', { error: error as Error });
      })
      .finally(() => {
        retentionRunning = undefined;
      });
  };
  let retention: NodeJS.Timeout | undefined;
  if (config.retentionDays) {
    retention = setInterval(retentionPass, config.retentionEveryMs).unref();
    retentionPass();
  }

  return {
    grpcPort: grpc.port,
    httpPort: http.port,
    queryPort: query.port,
    wal,
    store,
    indexer,
    pipeline,
    failed: store.stopped,
    applyRetention,
    backupNow,
    close() {
      closing ??= (async () => {
        clearInterval(retention);
        // Aborts an upload in progress; a snapshot being taken finishes before the store closes below.
        const backupsStopped = backups?.stop();
        grpc.setServing(false);
        http.setServing(false);
        await pipeline.drain();
        await Promise.all([grpc.close(), http.close()]);
        if (config.indexerEnabled) {
          await indexer.stop();
          // Bounded: a store that cannot take the backlog must not hold the process open. What is left stays
          // in the WAL and is indexed at the next start.
          await indexer.flush().catch((error: unknown) => {
            logger.warn('ingest stopping with part of the WAL not indexed; the next start indexes it', {
              error: error as Error,
            });
          });
        }
        await query.close();
        await backupsStopped;
        await store.close();
        // A retention pass in progress ends at its next step once the store closes.
        await retentionRunning;
        await wal.close();
        await Db.close();
        logger.info('ingest stopped');
      })();
      return closing;
    },
  };
}
