import { and, asc, eq, gt, lte } from 'drizzle-orm';
import * as Db from '../db/index.ts';
import { rateLimited, unauthorized } from '../errors/index.ts';
import * as Password from '../password/index.ts';
import * as Session from '../session/index.ts';
import * as User from '../user/index.ts';
import { signInFailureTable } from './sign-in-failure.sql.ts';

export { signInFailureTable };

/** After this many failures for one email within the window, further attempts get 429. */
export const MAX_FAILURES = 10;
export const FAILURE_WINDOW_MS = 15 * 60 * 1000;

/**
 * Signs in by email and password and opens a session. Unknown emails spend the same bcrypt time as a
 * wrong password and get the same error, so neither text nor timing tells which emails exist.
 * @throws AppError rate_limited `too_many_attempts` (with retryAfterSeconds), unauthorized `invalid_credentials`.
 */
export async function signIn(input: User.Credentials): Promise<{ token: string; user: User.PublicUser }> {
  const { email, password } = User.Credentials.parse(input);
  await assertNotRateLimited(email);
  const user = await User.findByEmail(email);
  const ok = user?.isActive
    ? await Password.verify(password, user.passwordHash)
    : await Password.verifyDecoy(password);
  if (!user || !ok) {
    await recordFailure(email);
    throw unauthorized('invalid_credentials', 'Invalid credentials');
  }
  await Db.write((db) => db.delete(signInFailureTable).where(eq(signInFailureTable.email, email)));
  const { token } = await Session.create(user.id);
  const { passwordHash: _, ...publicUser } = user;
  return { token, user: publicUser };
}

async function assertNotRateLimited(email: string): Promise<void> {
  const now = Date.now();
  const db = await Db.get();
  const failures = await db
    .select({ failedAt: signInFailureTable.failedAt })
    .from(signInFailureTable)
    .where(
      and(
        eq(signInFailureTable.email, email),
        gt(signInFailureTable.failedAt, new Date(now - FAILURE_WINDOW_MS)),
      ),
    )
    .orderBy(asc(signInFailureTable.failedAt));
  if (failures.length < MAX_FAILURES) return;
  // Attempts resume once enough failures age out of the window to fall below the limit.
  const releasing = failures[failures.length - MAX_FAILURES]!.failedAt.getTime();
  const retryAfterSeconds = Math.max(1, Math.ceil((releasing + FAILURE_WINDOW_MS - now) / 1000));
  throw rateLimited(
    'too_many_attempts',
    'Too many failed sign-in attempts. Try again later.',
    retryAfterSeconds,
  );
}

async function recordFailure(email: string): Promise<void> {
  const now = new Date();
  await Db.write(async (db) => {
    await db
      .delete(signInFailureTable)
      .where(
        and(
          eq(signInFailureTable.email, email),
          lte(signInFailureTable.failedAt, new Date(now.getTime() - FAILURE_WINDOW_MS)),
        ),
      );
    await db.insert(signInFailureTable).values({ email, failedAt: now });
  });
}
