import * as SpanQuery from '@junjo/core/span-query';
import { http } from '../middleware/http.ts';
import { rawJson } from '../middleware/response.ts';

/** Service names that have spans, sorted. */
export const handler = http('GET /api/v1/observability/services', {}, async () =>
  rawJson(200, await SpanQuery.services()),
);
