import * as SignIn from '@junjo/core/sign-in';
import * as User from '@junjo/core/user';
import { sessionCookie } from '../middleware/cookies.ts';
import { http } from '../middleware/http.ts';
import { json } from '../middleware/response.ts';

export const handler = http('POST /sign-in', { body: User.Credentials }, async ({ body }) => {
  const { token } = await SignIn.signIn(body);
  return json(200, { message: 'signed in' }, { cookies: [sessionCookie(token)] });
});
