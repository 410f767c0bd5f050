import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { handler as authTest } from '../auth/auth-test.ts';
import { handler as createUser } from '../users/create.ts';
import { handler as createFirstUser } from '../users/create-first-user.ts';
import { handler as dbHasUsers } from '../users/db-has-users.ts';
import { handler as deleteUser } from '../users/delete.ts';
import { handler as listUsers } from '../users/list.ts';
import { apiEvent, invoke, sessionFrom, useTempDataDir } from './support.ts';

useTempDataDir();

const Timestamp = z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
/** The response schema of GET /users (CONTRACT §3): exactly these keys, never a password field. */
const UserRow = z.strictObject({
  id: z.string().length(21),
  email: z.string(),
  is_active: z.boolean(),
  created_at: Timestamp,
  updated_at: Timestamp,
});

const first = { email: 'Admin@Example.com', password: 'correct horse battery' };
const racer = (i: number) =>
  i === 0 ? first : { email: `racer${i}@example.com`, password: 'racer password' };
/** The session of whichever racer won the first-user race. */
let adminCookie = '';

describe('first user', () => {
  it('reports no users on a fresh database', async () => {
    const reply = await invoke(dbHasUsers, apiEvent('GET /users/db-has-users', '/users/db-has-users'));
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ users_exist: false });
  });

  it('rejects bad bodies with FastAPI-shaped 422s and creates nothing', async () => {
    const cases: [unknown, string, (string | number)[]][] = [
      [{ email: 'not-an-email', password: 'longenough' }, 'value_error', ['body', 'email']],
      [{ email: 'a@b.co', password: 'short' }, 'string_too_short', ['body', 'password']],
      [{ email: 'a@b.co', password: 'x'.repeat(257) }, 'string_too_long', ['body', 'password']],
      [{ password: 'longenough' }, 'missing', ['body', 'email']],
      [{ email: 42, password: 'longenough' }, 'string_type', ['body', 'email']],
      [[1, 2], 'model_attributes_type', ['body']],
    ];
    for (const [body, type, loc] of cases) {
      const reply = await invoke(
        createFirstUser,
        apiEvent('POST /users/create-first-user', '/users/create-first-user', { body }),
      );
      expect(reply.status, JSON.stringify(body)).toBe(422);
      expect(reply.body.detail).toContainEqual(expect.objectContaining({ type, loc }));
      for (const d of reply.body.detail) expect(typeof d.msg).toBe('string');
    }
    const missing = await invoke(
      createFirstUser,
      apiEvent('POST /users/create-first-user', '/users/create-first-user'),
    );
    expect(missing.status).toBe(422);
    expect(missing.body.detail[0]).toMatchObject({ type: 'missing', loc: ['body'], msg: 'Field required' });

    const malformed = await invoke(
      createFirstUser,
      apiEvent('POST /users/create-first-user', '/users/create-first-user', { body: '{"email": "a@b.co",' }),
    );
    expect(malformed.status).toBe(422);
    expect(malformed.body.detail[0]).toMatchObject({ type: 'json_invalid', msg: 'JSON decode error' });
    expect(malformed.body.detail[0].loc[0]).toBe('body');

    const still = await invoke(dbHasUsers, apiEvent('GET /users/db-has-users', '/users/db-has-users'));
    expect(still.body).toEqual({ users_exist: false });
  });

  it('never echoes a password back in a 422', async () => {
    const reply = await invoke(
      createFirstUser,
      apiEvent('POST /users/create-first-user', '/users/create-first-user', {
        body: { email: 'bad', password: 'secret1' },
      }),
    );
    expect(reply.status).toBe(422);
    expect(reply.text).not.toContain('secret1');
  });

  it('of 10 concurrent calls exactly one succeeds and the rest get 400', async () => {
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        invoke(
          createFirstUser,
          apiEvent('POST /users/create-first-user', '/users/create-first-user', {
            body: racer(i),
          }),
        ),
      ),
    );
    const ok = replies.filter((r) => r.status === 200);
    const refused = replies.filter((r) => r.status === 400);
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(9);
    for (const r of refused)
      expect(r.body).toEqual({ detail: 'Users already exist, cannot create first user' });
    expect(ok[0]!.body).toEqual({ message: 'First user created successfully' });
    const winner = racer(replies.indexOf(ok[0]!));
    adminCookie = sessionFrom(ok[0]!);

    const me = await invoke(authTest, apiEvent('GET /auth-test', '/auth-test', { cookies: [adminCookie] }));
    expect(me.body).toEqual({ user_email: winner.email.toLowerCase() });
    const users = await invoke(listUsers, apiEvent('GET /users', '/users', { cookies: [adminCookie] }));
    expect(users.body).toHaveLength(1);
    const has = await invoke(dbHasUsers, apiEvent('GET /users/db-has-users', '/users/db-has-users'));
    expect(has.body).toEqual({ users_exist: true });

    // The session cookie carries the contract's flags (development: no Secure).
    const setCookie = ok[0]!.cookies.find((c) => c.startsWith('session='))!;
    const attributes = setCookie.split('; ').slice(1);
    expect(attributes).toEqual(
      expect.arrayContaining(['HttpOnly', 'SameSite=Strict', 'Path=/', 'Max-Age=2592000']),
    );
    expect(attributes).not.toContain('Secure');
  });
});

describe('users', () => {
  it('needs a session for every users route, even with an invalid body', async () => {
    const noSession = [
      await invoke(listUsers, apiEvent('GET /users', '/users')),
      await invoke(createUser, apiEvent('POST /users', '/users', { body: '{not json' })),
      await invoke(createUser, apiEvent('POST /users', '/users', { body: { email: 1 } })),
      await invoke(deleteUser, apiEvent('DELETE /users/{id}', '/users/x', { pathParameters: { id: 'x' } })),
      await invoke(authTest, apiEvent('GET /auth-test', '/auth-test')),
    ];
    for (const reply of noSession) {
      expect(reply.status).toBe(401);
      expect(reply.body).toEqual({ detail: 'Unauthorized: No valid session' });
    }
  });

  it('creates, lists (never with a password field) and deletes users', async () => {
    const created = await invoke(
      createUser,
      apiEvent('POST /users', '/users', {
        cookies: [adminCookie],
        body: { email: 'Second@Example.com', password: 'second password' },
      }),
    );
    expect(created.status).toBe(200);
    expect(created.body).toEqual({ message: 'User created successfully' });

    const dup = await invoke(
      createUser,
      apiEvent('POST /users', '/users', {
        cookies: [adminCookie],
        body: { email: 'SECOND@example.COM', password: 'other password' },
      }),
    );
    expect(dup.status).toBe(409);
    expect(dup.body).toEqual({ detail: 'A user with this email already exists' });

    const list = await invoke(listUsers, apiEvent('GET /users', '/users', { cookies: [adminCookie] }));
    expect(list.status).toBe(200);
    const rows = z.array(UserRow).parse(list.body);
    expect(rows.map((r) => r.email)).toContain('second@example.com');
    expect(list.text).not.toMatch(/password|\$2[aby]\$/i);

    const second = rows.find((r) => r.email === 'second@example.com')!;
    const gone = await invoke(
      deleteUser,
      apiEvent('DELETE /users/{id}', `/users/${second.id}`, {
        cookies: [adminCookie],
        pathParameters: { id: second.id },
      }),
    );
    expect(gone.status).toBe(200);
    expect(gone.body).toEqual({ message: 'User deleted successfully' });

    const again = await invoke(
      deleteUser,
      apiEvent('DELETE /users/{id}', `/users/${second.id}`, {
        cookies: [adminCookie],
        pathParameters: { id: second.id },
      }),
    );
    expect(again.status).toBe(404);
    expect(again.body).toEqual({ detail: 'User not found' });

    const after = await invoke(listUsers, apiEvent('GET /users', '/users', { cookies: [adminCookie] }));
    expect(after.body.map((r: { email: string }) => r.email)).not.toContain('second@example.com');
  });

  it('revokes a deleted user’s sessions at once', async () => {
    const { handler: signIn } = await import('../auth/sign-in.ts');
    const creds = { email: 'doomed@example.com', password: 'doomed password' };
    await invoke(createUser, apiEvent('POST /users', '/users', { cookies: [adminCookie], body: creds }));
    const signedIn = await invoke(signIn, apiEvent('POST /sign-in', '/sign-in', { body: creds }));
    expect(signedIn.status).toBe(200);
    const doomedCookie = sessionFrom(signedIn);
    expect(
      (await invoke(authTest, apiEvent('GET /auth-test', '/auth-test', { cookies: [doomedCookie] }))).status,
    ).toBe(200);

    const list = await invoke(listUsers, apiEvent('GET /users', '/users', { cookies: [adminCookie] }));
    const doomed = list.body.find((r: { email: string }) => r.email === creds.email);
    const deleted = await invoke(
      deleteUser,
      apiEvent('DELETE /users/{id}', `/users/${doomed.id}`, {
        cookies: [adminCookie],
        pathParameters: { id: doomed.id },
      }),
    );
    expect(deleted.status).toBe(200);
    const reuse = await invoke(
      authTest,
      apiEvent('GET /auth-test', '/auth-test', { cookies: [doomedCookie] }),
    );
    expect(reuse.status).toBe(401);
  });
});
