import * as ApiKey from '@junjo/core/api-key';
import { toApiTimestamp } from '@junjo/core/time';
import { http } from '../middleware/http.ts';
import { json } from '../middleware/response.ts';

/** Keys newest first; `key` is only a masked preview, the full key was shown once at creation. */
export const handler = http('GET /api_keys', {}, async () => {
  const keys = await ApiKey.list();
  return json(
    200,
    keys.map((k) => ({
      id: k.id,
      key: `${k.preview}…`,
      name: k.name,
      created_at: toApiTimestamp(k.createdAt),
    })),
  );
});
