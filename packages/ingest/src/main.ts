/**
 * The ingest container's entry point: OTLP/gRPC and OTLP/HTTP receivers over a durable WAL. Prints one
 * `ingest listening` line with the bound ports (the self-host launcher reads it), and stops gracefully on
 * SIGTERM/SIGINT: no new exports, in-flight ones acknowledged, WAL closed. SIGUSR2 takes a backup now.
 */
import * as Config from '@junjo/core/config';
import { logger } from '@junjo/core/logger';
import { startIngest } from './server.ts';

async function main(): Promise<void> {
  const config = Config.getOrExit();
  const ingest = await startIngest(config);
  const { host, internalHost } = config.ingest;
  process.stdout.write(
    `ingest listening: OTLP/gRPC ${host}:${ingest.grpcPort}, OTLP/HTTP ${host}:${ingest.httpPort}, query ${internalHost}:${ingest.queryPort}\n`,
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('ingest stopping', { signal });
    ingest.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error('ingest stopped uncleanly', { error: error as Error });
        process.exit(1);
      },
    );
  };
  // The span store's thread died: exit for the supervisor (Docker, ECS) to restart the process. Nothing
  // acknowledged is lost; the WAL holds it and the indexer resumes from the store's checkpoint.
  ingest.failed.then((error) => {
    logger.error('span store worker died; exiting so that ingest restarts and resumes from its WAL', {
      error,
    });
    process.exit(1);
  });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // On-demand backup (docs/self-host.md, "Backups"); its outcome goes to the log.
  process.on('SIGUSR2', () => {
    logger.info('SIGUSR2: backing up now');
    ingest.backupNow().catch((error: unknown) => {
      // A failed backup has logged itself; this is the "backups are off" case.
      if (!config.backup.s3Bucket) logger.warn('SIGUSR2 ignored', { reason: (error as Error).message });
    });
  });
}

main().catch((error: unknown) => {
  logger.error('ingest failed to start', { error: error as Error });
  process.exit(1);
});
