import * as SpanQuery from '@junjo/core/span-query';
import { z } from 'zod';
import { http } from '../middleware/http.ts';
import { rawJson } from '../middleware/response.ts';
import { Bool, Limit, ServicePath } from './params.ts';

const Query = z.object({ limit: Limit, has_llm: Bool });

/** A service's root spans, newest first; `has_llm=true` keeps only traces with an LLM span. */
export const handler = http(
  'GET /api/v1/observability/services/{service}/spans/root',
  { path: ServicePath, query: Query },
  async ({ path, query }) =>
    rawJson(200, await SpanQuery.rootSpans(path.service, query.limit, query.has_llm)),
);
