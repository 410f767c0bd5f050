import { toApiTimestamp } from '@junjo/core/time';
import * as User from '@junjo/core/user';
import { http } from '../middleware/http.ts';
import { json } from '../middleware/response.ts';

export const handler = http('GET /users', {}, async () => {
  const users = await User.list();
  return json(
    200,
    users.map((u) => ({
      id: u.id,
      email: u.email,
      is_active: u.isActive,
      created_at: toApiTimestamp(u.createdAt),
      updated_at: toApiTimestamp(u.updatedAt),
    })),
  );
});
