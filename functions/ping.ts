import { http } from './middleware/http.ts';

/** Liveness: answers without touching any store. */
export const handler = http('GET /ping', {}, async () => ({
  statusCode: 200,
  headers: { 'content-type': 'text/plain; charset=utf-8' },
  body: 'pong',
}));
