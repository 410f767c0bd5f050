import * as Config from '@junjo/core/config';
import * as Db from '@junjo/core/db';
import { logger } from '@junjo/core/logger';
import { http } from './middleware/http.ts';
import { json } from './middleware/response.ts';

/** Readiness: 200 when the user store answers, 503 `degraded` when it does not. */
export const handler = http('GET /health', {}, async () => {
  const { version } = Config.get();
  try {
    await Db.ping();
    return json(200, { status: 'ok', version, app_name: 'Junjo Server' });
  } catch (error) {
    logger.warn('health check: user store unavailable', { error: error as Error });
    return json(503, {
      status: 'degraded',
      version,
      app_name: 'Junjo Server',
      checks: { user_store: 'unavailable' },
    });
  }
});
