import * as SpanQuery from '@junjo/core/span-query';
import { z } from 'zod';
import { http } from '../middleware/http.ts';
import { rawJson } from '../middleware/response.ts';
import { SpanId, TraceId } from './params.ts';

/** One span, or `null`. */
export const handler = http(
  'GET /api/v1/observability/traces/{trace_id}/spans/{span_id}',
  { path: z.object({ trace_id: TraceId, span_id: SpanId }) },
  async ({ path }) => rawJson(200, await SpanQuery.span(path.trace_id, path.span_id)),
);
