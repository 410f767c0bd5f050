import * as ApiKey from '@junjo/core/api-key';
import { toApiTimestamp } from '@junjo/core/time';
import { z } from 'zod';
import { http } from '../middleware/http.ts';
import { json } from '../middleware/response.ts';

const Body = z.object({ name: ApiKey.Name });

/** 201 with the full key: the only time it is ever shown. */
export const handler = http('POST /api_keys', { body: Body }, async ({ body }) => {
  const key = await ApiKey.create(body.name);
  return json(201, { id: key.id, key: key.key, name: key.name, created_at: toApiTimestamp(key.createdAt) });
});
