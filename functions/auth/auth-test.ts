import { http } from '../middleware/http.ts';
import { json } from '../middleware/response.ts';

export const handler = http('GET /auth-test', {}, async ({ auth }) =>
  json(200, { user_email: auth.user.email }),
);
