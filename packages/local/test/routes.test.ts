import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as Config from '@junjo/core/config';
import * as Db from '@junjo/core/db';
import { routes } from '@junjo/functions/routes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, defaultLoadHandler, listen, type RunningServer } from '../src/server.ts';

let dir = '';
let server: RunningServer;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'junjo-local-'));
  Object.assign(process.env, { JUNJO_DATA_DIR: dir, JUNJO_LOG_LEVEL: 'silent' });
  delete process.env.JUNJO_LIBSQL_URL;
  const app = createApp({
    routes,
    loadHandler: defaultLoadHandler,
    maxBodyBytes: Config.get().http.maxBodyBytes,
  });
  server = await listen(app, { port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await server.close();
  await Db.close();
  rmSync(dir, { recursive: true, force: true });
});

const url = (p: string) => `${server.url}${p}`;
// biome-ignore lint/suspicious/noExplicitAny: replies are checked field by field below
const body = async (response: Response): Promise<any> => response.json();

describe('packages/local mounts functions/routes.ts', () => {
  it('reaches every route’s real handler (answers carry the stack’s x-request-id, not an adapter 404/405)', async () => {
    for (const r of routes) {
      const requestId = `route-${r.handler.replaceAll('/', '-')}`;
      const response = await fetch(url(r.path.replace(/\{\w+\}/g, 'some-id')), {
        method: r.method,
        headers: { 'x-request-id': requestId, 'content-type': 'application/json' },
        body: r.method === 'POST' ? '{}' : undefined,
      });
      // Only the handler stack echoes x-request-id; the adapter's own 404/405 answers carry none.
      expect(response.headers.get('x-request-id'), `${r.method} ${r.path}`).toBe(requestId);
      if (r.auth === 'session') expect(response.status, `${r.method} ${r.path}`).toBe(401);
    }
  });

  it('drives first user → sign-in → users → API key → sign-out over real HTTP with cookies', async () => {
    const creds = { email: 'flow@example.com', password: 'flow password 1' };
    const json = { 'content-type': 'application/json' };
    expect(await body(await fetch(url('/users/db-has-users')))).toEqual({ users_exist: false });

    const first = await fetch(url('/users/create-first-user'), {
      method: 'POST',
      headers: json,
      body: JSON.stringify(creds),
    });
    expect(first.status).toBe(200);
    expect(first.headers.getSetCookie()[0]).toMatch(
      /^session=[^;]+; Max-Age=2592000; Path=\/; HttpOnly; SameSite=Strict$/,
    );

    const signIn = await fetch(url('/sign-in'), {
      method: 'POST',
      headers: json,
      body: JSON.stringify(creds),
    });
    expect(signIn.status).toBe(200);
    const cookie = signIn.headers.getSetCookie()[0]!.split(';')[0]!;

    const users = await fetch(url('/users'), { headers: { cookie: `other=1; ${cookie}` } });
    expect(users.status).toBe(200);
    expect((await body(users)).map((u: { email: string }) => u.email)).toEqual([creds.email]);

    const created = await fetch(url('/api_keys'), {
      method: 'POST',
      headers: { ...json, cookie },
      body: '{"name":"from curl"}',
    });
    expect(created.status).toBe(201);
    const { key, id } = await body(created);
    const listed = await body(await fetch(url('/api_keys'), { headers: { cookie } }));
    expect(listed).toEqual([expect.objectContaining({ id, key: `${key.slice(0, 8)}…` })]);
    const deleted = await fetch(url(`/api_keys/${encodeURIComponent(id)}`), {
      method: 'DELETE',
      headers: { cookie },
    });
    expect(deleted.status).toBe(204);

    const out = await fetch(url('/sign-out'), { method: 'POST', headers: { cookie } });
    expect(out.status).toBe(200);
    expect(out.headers.getSetCookie()[0]).toMatch(/^session=; Max-Age=0;/);
    expect((await fetch(url('/users'), { headers: { cookie } })).status).toBe(401);
  });

  it('answers malformed JSON with 422 json_invalid and preflight with CORS headers through HTTP', async () => {
    const bad = await fetch(url('/sign-in'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"email":',
    });
    expect(bad.status).toBe(422);
    expect((await body(bad)).detail[0].type).toBe('json_invalid');
    const preflight = await fetch(url('/users/some-id'), {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5153', 'access-control-request-method': 'DELETE' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://localhost:5153');
    expect(preflight.headers.get('access-control-allow-credentials')).toBe('true');
  });
});
