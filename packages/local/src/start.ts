/**
 * `npm start`: the whole self-hosted server on embedded defaults. Loads the config (generating the
 * development session secret on first start), applies migrations, starts the ingest process (OTLP
 * receivers), serves every route of functions/routes.ts on JUNJO_BACKEND_PORT, and stops both cleanly on
 * SIGINT/SIGTERM.
 */
import * as Config from '@junjo/core/config';
import * as Db from '@junjo/core/db';
import { logger } from '@junjo/core/logger';
import * as User from '@junjo/core/user';
import { routes } from '@junjo/functions/routes';
import { spawnIngest } from './ingest-process.ts';
import { createApp, defaultLoadHandler, listen } from './server.ts';

async function main(): Promise<void> {
  const config = Config.getOrExit();

  await Db.migrate();
  // Load every handler now: an import error surfaces at start, and first requests are not slowed.
  await Promise.all(routes.map((r) => defaultLoadHandler(r.handler)));

  const ingest = await spawnIngest();
  // The handlers reach the span query service where the ingest process actually bound it.
  Config.update({ queryUrl: ingest.query.replace(/^0\.0\.0\.0:/, '127.0.0.1:') });
  const app = createApp({ routes, loadHandler: defaultLoadHandler, maxBodyBytes: config.http.maxBodyBytes });
  const http = await listen(app, { port: config.http.port, host: config.http.host }).catch(
    async (error: unknown) => {
      await ingest.stop();
      throw error;
    },
  );
  const shown = http.url;
  const local = (bound: string) => bound.replace(/^(0\.0\.0\.0|\[::\]|::):/, 'localhost:');

  const out = (line = '') => process.stdout.write(`${line}\n`);
  out(`Junjo Server ${config.version} (${config.environment})`);
  out(`  HTTP API:   ${shown}`);
  out(`  OTLP/gRPC:  ${local(ingest.grpc)}`);
  out(`  OTLP/HTTP:  http://${local(ingest.http)}/v1/traces`);
  out(`  data dir:   ${config.dataDir}`);
  if (!(await User.exists())) {
    out();
    out('No user exists yet. Create the first one in the Junjo web UI, or with:');
    out(`  curl -X POST ${shown}/users/create-first-user -H 'content-type: application/json' \\`);
    out(`    -d '{"email":"you@example.com","password":"a long password"}'`);
  }
  out();
  out('Press Ctrl+C to stop.');

  let stopping = false;
  let stoppingSince = 0;
  const stop = async (signal: string) => {
    if (stopping) {
      // Ctrl+C reaches this process twice (from the terminal and relayed by tsx): only a later one forces.
      if (Date.now() - stoppingSince < 1000) return;
      out(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    stoppingSince = Date.now();
    out(`${signal}: stopping…`);
    try {
      await Promise.all([http.close(), ingest.stop()]);
      await Db.close();
      out('stopped');
      process.exit(0);
    } catch (error) {
      logger.error('unclean shutdown', { error: error as Error });
      process.exit(1);
    }
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  // The ingest process ending on its own (a crash) takes the server down: a supervisor restarts both.
  void ingest.exited.then((code) => {
    if (stopping) return;
    logger.error('the ingest process exited unexpectedly; stopping', { code });
    void http.close().finally(() => process.exit(1));
  });
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((error) => {
  logger.error('start-up failed', { error: error as Error });
  process.exit(1);
});
