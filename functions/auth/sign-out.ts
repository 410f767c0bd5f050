import * as Session from '@junjo/core/session';
import { expiredSessionCookie, readSessionCookie } from '../middleware/cookies.ts';
import { http } from '../middleware/http.ts';
import { json } from '../middleware/response.ts';

/** Revokes the session server-side (the old cookie value stops working) and expires the cookie. */
export const handler = http('POST /sign-out', {}, async ({ event }) => {
  await Session.revoke(readSessionCookie(event));
  return json(200, { message: 'signed out' }, { cookies: [expiredSessionCookie()] });
});
