import * as Playground from '@junjo/core/playground';
import { z } from 'zod';
import { http } from '../middleware/http.ts';
import { json } from '../middleware/response.ts';

// Any string: an unknown provider is a 400 from core (the contract's text), not a 422.
const Path = z.object({ provider: z.string() });

/** The provider's chat models, fetched now; the cache is repopulated with them. */
export const handler = http(
  'POST /llm/providers/{provider}/models/refresh',
  { path: Path },
  async ({ path }) => json(200, { models: await Playground.listModels(path.provider, { refresh: true }) }),
);
