import * as User from '@junjo/core/user';
import { z } from 'zod';
import { http } from '../middleware/http.ts';
import { json } from '../middleware/response.ts';

const Path = z.object({ id: z.string().min(1).max(64) });

/** Deletes a user; their sessions are revoked in the same transaction. */
export const handler = http('DELETE /users/{id}', { path: Path }, async ({ path }) => {
  await User.remove(path.id);
  return json(200, { message: 'User deleted successfully' });
});
