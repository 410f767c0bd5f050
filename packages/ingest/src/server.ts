import path from 'node:path';
import * as ApiKey from '@junjo/core/api-key';
import type { Config } from '@junjo/core/config';
import * as Db from '@junjo/core/db';
import { logger } from '@junjo/core/logger';
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
  /** Runs the retention pass now (it also runs every 10 minutes when JUNJO_RETENTION_DAYS is set). */
  applyRetention(): Promise<number>;
  /**
   * Graceful stop: refuse new exports, finish those in flight, close the receivers, index the rest of the
   * backlog, close the query service, the span store and the WAL.
   */
  close(): Promise<void>;
}

const DAY_MS = 86_400_000;
const RETENTION_EVERY_MS = 10 * 60 * 1000;

/** Starts the ingest container: receivers → WAL → indexer → DuckDB span store ← query service. */
export async function startIngest(config: Config): Promise<RunningIngest> {
  const { ingest } = config;
  await Db.migrate();
  const wal = await Wal.open(ingest.walDir, { segmentBytes: ingest.walSegmentBytes });
  const store = await SpanStore.open(path.join(config.dataDir, 'spans.duckdb'));
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
  const query = await startQueryServer(store, indexer, {
    host: ingest.internalHost,
    port: ingest.internalGrpcPort,
    token: ingest.internalToken,
  });

  /** Deletes spans that started more than JUNJO_RETENTION_DAYS ago, in the store's bounded steps. */
  const applyRetention = async (): Promise<number> => {
    if (!config.retentionDays) return 0;
    const cutoffNs = BigInt(Date.now() - Math.round(config.retentionDays * DAY_MS)) * 1_000_000n;
    const deleted = await store.deleteOlderThan(cutoffNs);
    if (deleted > 0) logger.info('retention: deleted old spans', { deleted, days: config.retentionDays });
    return deleted;
  };
  const retention = config.retentionDays
    ? setInterval(() => {
        applyRetention().catch((error: unknown) =>
          logger.error('retention failed', { error: error as Error }),
        );
      }, RETENTION_EVERY_MS)
    : undefined;
  retention?.unref();

  let closing: Promise<void> | undefined;
  return {
    grpcPort: grpc.port,
    httpPort: http.port,
    queryPort: query.port,
    wal,
    store,
    indexer,
    pipeline,
    applyRetention,
    close() {
      closing ??= (async () => {
        clearInterval(retention);
        grpc.setServing(false);
        http.setServing(false);
        await pipeline.drain();
        await Promise.all([grpc.close(), http.close()]);
        if (config.indexerEnabled) {
          await indexer.stop();
          await indexer.flush();
        }
        await query.close();
        await store.close();
        await wal.close();
        await Db.close();
        logger.info('ingest stopped');
      })();
      return closing;
    },
  };
}
