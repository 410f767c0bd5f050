import * as User from '@junjo/core/user';
import { http } from '../middleware/http.ts';
import { json } from '../middleware/response.ts';

export const handler = http('POST /users', { body: User.Credentials }, async ({ body }) => {
  await User.create(body);
  return json(200, { message: 'User created successfully' });
});
