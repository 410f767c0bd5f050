/**
 * `npm run backup`: asks the running ingest process, through its query service (JUNJO_QUERY_URL, with
 * JUNJO_INTERNAL_GRPC_TOKEN), to back up to S3 now, and waits until the snapshot is uploaded. Prints the
 * snapshot's name (what `npm run restore` takes); exits 1 when there is none.
 */
import * as Config from '@junjo/core/config';
import * as SpanQuery from '@junjo/core/span-query';

async function main(): Promise<void> {
  const config = Config.get();
  process.stdout.write(`asking the ingest process at ${config.queryUrl} to back up now…\n`);
  try {
    const reply = await SpanQuery.backup();
    if (reply.error) {
      process.stderr.write(`backup: ${reply.error}\n`);
      process.exitCode = 1;
      return;
    }
    process.stdout.write(`backup ${reply.snapshot} uploaded to ${reply.location}\n`);
  } catch (error) {
    const cause = (error as Error).cause as { details?: string } | undefined;
    process.stderr.write(
      `backup: cannot reach the ingest process's query service at ${config.queryUrl}` +
        `${cause?.details ? ` (${cause.details})` : ''}\n`,
    );
    process.exitCode = 1;
  } finally {
    SpanQuery.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`backup: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
