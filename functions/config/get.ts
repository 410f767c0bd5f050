import * as Config from '@junjo/core/config';
import { http } from '../middleware/http.ts';
import { json } from '../middleware/response.ts';

/** Public URLs the web UI needs to show (where to send OTLP, where the API is). */
export const handler = http('GET /api/config', {}, async () => {
  const { environment, urls } = Config.get();
  return json(200, {
    environment,
    otlp_endpoint: urls.otlp,
    frontend_url: urls.frontend,
    backend_url: urls.backend,
  });
});
