import * as ApiKey from '@junjo/core/api-key';
import type { Config } from '@junjo/core/config';
import * as Db from '@junjo/core/db';
import { logger } from '@junjo/core/logger';
import { Backpressure } from './receiver/backpressure.ts';
import { startGrpcReceiver } from './receiver/grpc.ts';
import { startHttpReceiver } from './receiver/http.ts';
import { IngestPipeline } from './receiver/pipeline.ts';
import { Wal } from './wal/index.ts';

export interface RunningIngest {
  grpcPort: number;
  httpPort: number;
  wal: Wal;
  pipeline: IngestPipeline;
  /** Graceful stop: refuse new exports, finish those in flight, close the servers and the WAL. */
  close(): Promise<void>;
}

/** Starts the ingest container's receivers over one WAL, per the config. */
export async function startIngest(config: Config): Promise<RunningIngest> {
  const { ingest } = config;
  await Db.migrate();
  const wal = await Wal.open(ingest.walDir, { segmentBytes: ingest.walSegmentBytes });
  const backpressure = new Backpressure(() => wal.unreleasedBytes(), {
    maxUnreleasedBytes: ingest.maxUnreleasedWalBytes,
    maxRssBytes: ingest.maxRssBytes,
  });
  const pipeline = new IngestPipeline({
    wal,
    backpressure,
    validateApiKey: (key) => ApiKey.validateApiKey(key),
    maxRequestBytes: ingest.maxRequestBytes,
  });
  const receiverOptions = { host: ingest.host, maxRequestBytes: ingest.maxRequestBytes };
  const grpc = await startGrpcReceiver(pipeline, { ...receiverOptions, port: ingest.grpcPort });
  const http = await startHttpReceiver(pipeline, { ...receiverOptions, port: ingest.otlpHttpPort }).catch(
    async (error: unknown) => {
      await grpc.close(0);
      throw error;
    },
  );

  let closing: Promise<void> | undefined;
  return {
    grpcPort: grpc.port,
    httpPort: http.port,
    wal,
    pipeline,
    close() {
      closing ??= (async () => {
        grpc.setServing(false);
        http.setServing(false);
        await pipeline.drain();
        await Promise.all([grpc.close(), http.close()]);
        await wal.close();
        await Db.close();
        logger.info('ingest stopped');
      })();
      return closing;
    },
  };
}
