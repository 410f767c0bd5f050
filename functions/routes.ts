/**
 * The one route table. Plain data: `infra/api.ts` makes one API Gateway route (one Lambda) per entry and
 * packages/local mounts every entry in one HTTP server, so the two cannot drift. `handler` is the module
 * path under functions/ (without `.ts`) that exports `handler`; the handler looks its own entry up here.
 */
export type Auth = 'public' | 'session';
export type Method = 'GET' | 'POST' | 'DELETE';

export interface Route {
  method: Method;
  /** API Gateway path syntax: `{name}` is one path segment. */
  path: string;
  handler: string;
  auth: Auth;
}

export const routes = [
  { method: 'GET', path: '/ping', handler: 'ping', auth: 'public' },
  { method: 'GET', path: '/health', handler: 'health', auth: 'public' },
  { method: 'GET', path: '/api/config', handler: 'config/get', auth: 'public' },
  { method: 'GET', path: '/users/db-has-users', handler: 'users/db-has-users', auth: 'public' },
  { method: 'POST', path: '/users/create-first-user', handler: 'users/create-first-user', auth: 'public' },
  { method: 'POST', path: '/sign-in', handler: 'auth/sign-in', auth: 'public' },
  { method: 'POST', path: '/sign-out', handler: 'auth/sign-out', auth: 'public' },
  { method: 'GET', path: '/auth-test', handler: 'auth/auth-test', auth: 'session' },
  { method: 'GET', path: '/users', handler: 'users/list', auth: 'session' },
  { method: 'POST', path: '/users', handler: 'users/create', auth: 'session' },
  { method: 'DELETE', path: '/users/{id}', handler: 'users/delete', auth: 'session' },
  { method: 'GET', path: '/api_keys', handler: 'api-keys/list', auth: 'session' },
  { method: 'POST', path: '/api_keys', handler: 'api-keys/create', auth: 'session' },
  { method: 'DELETE', path: '/api_keys/{id}', handler: 'api-keys/delete', auth: 'session' },
  {
    method: 'GET',
    path: '/api/v1/observability/services',
    handler: 'observability/services',
    auth: 'session',
  },
  {
    method: 'GET',
    path: '/api/v1/observability/services/{service}/spans',
    handler: 'observability/service-spans',
    auth: 'session',
  },
  {
    method: 'GET',
    path: '/api/v1/observability/services/{service}/spans/root',
    handler: 'observability/root-spans',
    auth: 'session',
  },
  {
    method: 'GET',
    path: '/api/v1/observability/services/{service}/workflows',
    handler: 'observability/workflows',
    auth: 'session',
  },
  {
    method: 'GET',
    path: '/api/v1/observability/traces/{trace_id}/spans',
    handler: 'observability/trace-spans',
    auth: 'session',
  },
  {
    method: 'GET',
    path: '/api/v1/observability/traces/{trace_id}/spans/{span_id}',
    handler: 'observability/span',
    auth: 'session',
  },
  { method: 'POST', path: '/api/admin/flush-wal', handler: 'admin/flush-wal', auth: 'session' },
  { method: 'POST', path: '/llm/generate', handler: 'llm/generate', auth: 'session' },
  { method: 'GET', path: '/llm/providers/{provider}/models', handler: 'llm/models', auth: 'session' },
  {
    method: 'POST',
    path: '/llm/providers/{provider}/models/refresh',
    handler: 'llm/refresh-models',
    auth: 'session',
  },
] as const satisfies readonly Route[];

type KeyOf<R> = R extends { method: infer M extends string; path: infer P extends string }
  ? `${M} ${P}`
  : never;
export type RouteKey = KeyOf<(typeof routes)[number]>;

/** The entry for `"METHOD /path"`; throws at import time for a key that is not in the table. */
export function route(key: RouteKey): Route {
  const found = routes.find((r) => `${r.method} ${r.path}` === key);
  if (!found) throw new Error(`No route ${key} in functions/routes.ts`);
  return found;
}
