import * as SpanQuery from '@junjo/core/span-query';
import { http } from '../middleware/http.ts';
import { rawJson } from '../middleware/response.ts';
import { LimitQuery, ServicePath } from './params.ts';

/** A service's workflow spans (junjo.span_type = workflow), newest first. */
export const handler = http(
  'GET /api/v1/observability/services/{service}/workflows',
  { path: ServicePath, query: LimitQuery },
  async ({ path, query }) => rawJson(200, await SpanQuery.workflows(path.service, query.limit)),
);
