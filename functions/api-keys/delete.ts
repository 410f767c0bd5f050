import * as ApiKey from '@junjo/core/api-key';
import { z } from 'zod';
import { http } from '../middleware/http.ts';
import { empty } from '../middleware/response.ts';

const Path = z.object({ id: z.string().min(1).max(64) });

export const handler = http('DELETE /api_keys/{id}', { path: Path }, async ({ path }) => {
  await ApiKey.remove(path.id);
  return empty(204);
});
