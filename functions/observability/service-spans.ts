import * as SpanQuery from '@junjo/core/span-query';
import { http } from '../middleware/http.ts';
import { rawJson } from '../middleware/response.ts';
import { LimitQuery, ServicePath } from './params.ts';

/** A service's spans, newest first. */
export const handler = http(
  'GET /api/v1/observability/services/{service}/spans',
  { path: ServicePath, query: LimitQuery },
  async ({ path, query }) => rawJson(200, await SpanQuery.serviceSpans(path.service, query.limit)),
);
