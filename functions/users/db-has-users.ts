import * as User from '@junjo/core/user';
import { http } from '../middleware/http.ts';
import { json } from '../middleware/response.ts';

export const handler = http('GET /users/db-has-users', {}, async () =>
  json(200, { users_exist: await User.exists() }),
);
