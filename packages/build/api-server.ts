/**
 * The HTTP API container (packages/local/Dockerfile, the `api` service of docker-compose.yml): the self-host
 * adapter serving every route of functions/routes.ts, without the ingest process, which runs in its own
 * container and is reached at JUNJO_QUERY_URL. `npm run build` bundles this with every handler imported
 * statically and passed to {@link serve}. Prints one `api listening: <url>` line once it accepts requests.
 */
import * as Config from '@junjo/core/config';
import * as Db from '@junjo/core/db';
import { logger } from '@junjo/core/logger';
import { routes } from '@junjo/functions/routes';
import { createApp, type Handler, listen } from '@junjo/local/server';

/** Applies the migrations, serves `handlers` (route module path → handler) and stops cleanly on SIGTERM. */
export async function serve(handlers: Readonly<Record<string, Handler>>): Promise<void> {
  const config = Config.getOrExit();
  const missing = routes.filter((r) => !handlers[r.handler]).map((r) => r.handler);
  if (missing.length > 0) throw new Error(`the bundle lacks handlers for: ${missing.join(', ')}`);

  await Db.migrate();
  const app = createApp({
    routes,
    loadHandler: async (modulePath) => handlers[modulePath]!,
    maxBodyBytes: config.http.maxBodyBytes,
  });
  const http = await listen(app, { port: config.http.port, host: config.http.host });
  process.stdout.write(`api listening: ${http.url}\n`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('api stopping', { signal });
    http
      .close()
      .then(() => Db.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error('api stopped uncleanly', { error: error as Error });
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
