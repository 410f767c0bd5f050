import * as Session from '@junjo/core/session';
import * as User from '@junjo/core/user';
import { sessionCookie } from '../middleware/cookies.ts';
import { http } from '../middleware/http.ts';
import { json } from '../middleware/response.ts';

/** Creates the first user (only while there is none) and signs them in. */
export const handler = http('POST /users/create-first-user', { body: User.Credentials }, async ({ body }) => {
  const user = await User.createFirst(body);
  const { token } = await Session.create(user.id);
  return json(200, { message: 'First user created successfully' }, { cookies: [sessionCookie(token)] });
});
