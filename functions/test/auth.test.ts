import { createHash } from 'node:crypto';
import { EncryptJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { handler as authTest } from '../auth/auth-test.ts';
import { handler as signIn } from '../auth/sign-in.ts';
import { handler as signOut } from '../auth/sign-out.ts';
import { routes } from '../routes.ts';
import { handler as createFirstUser } from '../users/create-first-user.ts';
import { apiEvent, invoke, sessionFrom, useTempDataDir } from './support.ts';

useTempDataDir();

const admin = { email: 'owner@example.com', password: 'owner password 1' };

async function loadHandler(module: string) {
  return (
    (await import(/* @vite-ignore */ `@junjo/functions/${module}`)) as {
      handler: Parameters<typeof invoke>[0];
    }
  ).handler;
}

async function signInAs(creds: { email: string; password: string }) {
  return invoke(signIn, apiEvent('POST /sign-in', '/sign-in', { body: creds }));
}

describe('sign-in, sign-out and sessions', () => {
  it('creates the owner', async () => {
    const reply = await invoke(
      createFirstUser,
      apiEvent('POST /users/create-first-user', '/users/create-first-user', { body: admin }),
    );
    expect(reply.status).toBe(200);
  });

  it('signs in with any email case and answers auth-test', async () => {
    const reply = await signInAs({ email: 'OWNER@Example.COM', password: admin.password });
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ message: 'signed in' });
    const me = await invoke(
      authTest,
      apiEvent('GET /auth-test', '/auth-test', { cookies: [sessionFrom(reply)] }),
    );
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ user_email: admin.email });
  });

  it('answers unknown email and wrong password with the same text and similar time', async () => {
    const time = async (creds: { email: string; password: string }) => {
      const started = performance.now();
      const reply = await signInAs(creds);
      expect(reply.status).toBe(401);
      expect(reply.body).toEqual({ detail: 'Invalid credentials' });
      return performance.now() - started;
    };
    const wrong: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 3; i++) {
      wrong.push(await time({ email: admin.email, password: `wrong password ${i}` }));
      unknown.push(await time({ email: `nobody${i}@example.com`, password: 'some password' }));
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[1]!;
    const ratio = median(unknown) / median(wrong);
    // Both run one cost-12 bcrypt comparison (~0.4 s); a skipped comparison would make this ~0.01.
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  });

  it('refuses SQL-injection strings as the email with 401 or 422, never 500', async () => {
    const attempts = [
      "' OR '1'='1",
      "owner@example.com' --",
      'owner@example.com"; DROP TABLE user; --',
      "x' UNION SELECT password_hash FROM user --@example.com",
      'a@b.co\u0000',
      "o'brien@example.com",
    ];
    for (const email of attempts) {
      const reply = await signInAs({ email, password: 'whatever password' });
      expect([401, 422], email).toContain(reply.status);
    }
    expect((await signInAs(admin)).status).toBe(200);
  });

  it('revokes the session server-side at sign-out', async () => {
    const cookie = sessionFrom(await signInAs(admin));
    expect(
      (await invoke(authTest, apiEvent('GET /auth-test', '/auth-test', { cookies: [cookie] }))).status,
    ).toBe(200);
    const out = await invoke(signOut, apiEvent('POST /sign-out', '/sign-out', { cookies: [cookie] }));
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ message: 'signed out' });
    expect(out.cookies[0]).toMatch(/^session=; Max-Age=0;/);
    const reuse = await invoke(authTest, apiEvent('GET /auth-test', '/auth-test', { cookies: [cookie] }));
    expect(reuse.status).toBe(401);
    expect(reuse.body).toEqual({ detail: 'Unauthorized: No valid session' });
    // Signing out without a session is harmless.
    expect((await invoke(signOut, apiEvent('POST /sign-out', '/sign-out'))).status).toBe(200);
  });

  it('expires sessions after 30 days', async () => {
    const cookie = sessionFrom(await signInAs(admin));
    const Db = await import('@junjo/core/db');
    const { sessionTable } = await import('@junjo/core/session');
    const db = await Db.get();
    await db.update(sessionTable).set({ expiresAt: new Date(Date.now() - 1000) });
    const reply = await invoke(authTest, apiEvent('GET /auth-test', '/auth-test', { cookies: [cookie] }));
    expect(reply.status).toBe(401);
  });

  it('answers every bad cookie with a plain 401', async () => {
    const good = sessionFrom(await signInAs(admin)).slice('session='.length);
    const flipped = good.slice(0, 40) + (good[40] === 'A' ? 'B' : 'A') + good.slice(41);
    const foreignKey = new Uint8Array(
      createHash('sha256').update('another secret entirely, 32+ chars').digest(),
    );
    const foreign = await new EncryptJWT({ sid: 'x'.repeat(21) })
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .setIssuer('junjo-server')
      .setExpirationTime('1h')
      .encrypt(foreignKey);
    const values = [
      '',
      flipped,
      good.slice(0, -5),
      foreign,
      'invalid',
      'a'.repeat(1000),
      ';;;;',
      '<script>alert(1)</script>',
      '../../../etc/passwd',
    ];
    for (const value of values) {
      const reply = await invoke(
        authTest,
        apiEvent('GET /auth-test', '/auth-test', { cookies: [`session=${value}`] }),
      );
      expect(reply.status, value).toBe(401);
      expect(reply.body).toEqual({ detail: 'Unauthorized: No valid session' });
    }
    const noCookie = await invoke(authTest, apiEvent('GET /auth-test', '/auth-test'));
    expect(noCookie.status).toBe(401);
    const rawHeader = await invoke(
      authTest,
      apiEvent('GET /auth-test', '/auth-test', { headers: { cookie: `session=${flipped}` } }),
    );
    expect(rawHeader.status).toBe(401);
    // The real cookie still works through a raw Cookie header too.
    const viaHeader = await invoke(
      authTest,
      apiEvent('GET /auth-test', '/auth-test', { headers: { cookie: `a=b; session=${good}` } }),
    );
    expect(viaHeader.status).toBe(200);
  });

  it('rate-limits the 11th failed sign-in for one email with 429 and Retry-After', async () => {
    const victim = { email: 'OWNER@example.com', password: 'not the password' };
    for (let i = 0; i < 10; i++) expect((await signInAs(victim)).status).toBe(401);
    const limited = await signInAs(victim);
    expect(limited.status).toBe(429);
    expect(limited.body.detail).toMatch(/too many/i);
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    // Even the right password waits; another email is unaffected.
    expect((await signInAs(admin)).status).toBe(429);
    expect((await signInAs({ email: 'someone@example.com', password: 'some password' })).status).toBe(401);
  });
});

describe('the handler stack', () => {
  it('guards every session route before validating the body', async () => {
    const protectedRoutes = routes.filter((r) => r.auth === 'session');
    expect(protectedRoutes.length).toBeGreaterThan(0);
    for (const r of protectedRoutes) {
      const handler = await loadHandler(r.handler);
      const rawPath = r.path.replace(/\{(\w+)\}/g, 'x');
      const pathParameters = Object.fromEntries([...r.path.matchAll(/\{(\w+)\}/g)].map((m) => [m[1]!, 'x']));
      const reply = await invoke(
        handler,
        apiEvent(`${r.method} ${r.path}`, rawPath, {
          pathParameters,
          body: r.method === 'GET' ? undefined : '{"broken":',
        }),
      );
      expect(reply.status, `${r.method} ${r.path}`).toBe(401);
      expect(reply.body).toEqual({ detail: 'Unauthorized: No valid session' });
    }
  });

  it('answers preflight OPTIONS for every route with CORS headers for allowed origins', async () => {
    for (const r of routes) {
      const handler = await loadHandler(r.handler);
      const reply = await invoke(
        handler,
        apiEvent(`OPTIONS ${r.path}`, r.path, {
          headers: { origin: 'http://localhost:5153', 'access-control-request-method': r.method },
        }),
      );
      expect(reply.status, r.path).toBe(204);
      expect(reply.headers['access-control-allow-origin']).toBe('http://localhost:5153');
      expect(reply.headers['access-control-allow-credentials']).toBe('true');
      expect(reply.headers['access-control-allow-methods']).toContain(r.method);
    }
    const foreign = await invoke(
      authTest,
      apiEvent('OPTIONS /auth-test', '/auth-test', { headers: { origin: 'https://evil.example' } }),
    );
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('refuses unsafe methods from a foreign Origin with 403 and allows the configured ones', async () => {
    const foreign = await invoke(
      signIn,
      apiEvent('POST /sign-in', '/sign-in', { headers: { origin: 'https://evil.example' }, body: admin }),
    );
    expect(foreign.status).toBe(403);
    expect(foreign.body).toEqual({ detail: 'Origin not allowed' });
    const allowed = await invoke(
      signOut,
      apiEvent('POST /sign-out', '/sign-out', { headers: { origin: 'http://localhost:5151' } }),
    );
    expect(allowed.status).toBe(200);
    expect(allowed.headers['access-control-allow-origin']).toBe('http://localhost:5151');
  });

  it('echoes a sane x-request-id and makes one up otherwise', async () => {
    const given = await invoke(
      authTest,
      apiEvent('GET /auth-test', '/auth-test', { headers: { 'x-request-id': 'req-123' } }),
    );
    expect(given.headers['x-request-id']).toBe('req-123');
    const made = await invoke(
      authTest,
      apiEvent('GET /auth-test', '/auth-test', { headers: { 'x-request-id': 'bad id with spaces\n' } }),
    );
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});
