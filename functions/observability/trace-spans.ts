import * as SpanQuery from '@junjo/core/span-query';
import { z } from 'zod';
import { http } from '../middleware/http.ts';
import { rawJson } from '../middleware/response.ts';
import { TraceId } from './params.ts';

/** Every span of a trace, newest first; `[]` for an unknown trace. */
export const handler = http(
  'GET /api/v1/observability/traces/{trace_id}/spans',
  { path: z.object({ trace_id: TraceId }) },
  async ({ path }) => rawJson(200, await SpanQuery.traceSpans(path.trace_id)),
);
