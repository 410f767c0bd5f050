import { asc, count, eq } from 'drizzle-orm';
import { z } from 'zod';
import * as Db from '../db/index.ts';
import { conflict, invalid, notFound } from '../errors/index.ts';
import { newId } from '../id/index.ts';
import * as Password from '../password/index.ts';
import { sessionTable } from '../session/session.sql.ts';
import { userTable } from './user.sql.ts';

export { userTable };

/** Emails are trimmed and lower-cased before validation, so comparisons are case-insensitive. */
export const Email = z
  .string({ error: 'Input should be a valid string' })
  .trim()
  .toLowerCase()
  .max(254, 'value is not a valid email address: too long')
  .pipe(z.email({ error: 'value is not a valid email address' }));

export const PlainPassword = z
  .string({ error: 'Input should be a valid string' })
  .min(8, 'String should have at least 8 characters')
  .max(256, 'String should have at most 256 characters');

/** `{email, password}`: the body of create-first-user, create-user and sign-in. */
export const Credentials = z.object({ email: Email, password: PlainPassword });
export type Credentials = z.infer<typeof Credentials>;

export type User = typeof userTable.$inferSelect;
/** A user as the API may show it: never any password field. */
export type PublicUser = Omit<User, 'passwordHash'>;

const publicColumns = {
  id: userTable.id,
  email: userTable.email,
  isActive: userTable.isActive,
  createdAt: userTable.createdAt,
  updatedAt: userTable.updatedAt,
};

export async function exists(): Promise<boolean> {
  const db = await Db.get();
  const [row] = await db.select({ n: count() }).from(userTable);
  return (row?.n ?? 0) > 0;
}

/**
 * Creates the first user. The emptiness check and the insert share one BEGIN IMMEDIATE transaction,
 * so of any number of concurrent calls, in any number of processes, exactly one succeeds.
 * @throws AppError invalid `users_exist` once any user exists.
 */
export async function createFirst(input: Credentials): Promise<PublicUser> {
  const credentials = Credentials.parse(input);
  const passwordHash = await Password.hash(credentials.password);
  return Db.transaction(async (tx) => {
    const [row] = await tx.select({ n: count() }).from(userTable);
    if ((row?.n ?? 0) > 0) throw invalid('users_exist', 'Users already exist, cannot create first user');
    return insert(tx, credentials.email, passwordHash);
  });
}

/** @throws AppError conflict `email_taken` when the email (any case) is already used. */
export async function create(input: Credentials): Promise<PublicUser> {
  const credentials = Credentials.parse(input);
  const passwordHash = await Password.hash(credentials.password);
  return Db.transaction(async (tx) => {
    const [taken] = await tx
      .select({ id: userTable.id })
      .from(userTable)
      .where(eq(userTable.email, credentials.email));
    if (taken) throw conflict('email_taken', 'A user with this email already exists');
    return insert(tx, credentials.email, passwordHash);
  });
}

async function insert(tx: Db.Transaction, email: string, passwordHash: string): Promise<PublicUser> {
  const now = new Date();
  const user = { id: newId(), email, isActive: true, createdAt: now, updatedAt: now };
  await tx.insert(userTable).values({ ...user, passwordHash });
  return user;
}

/** Every user, oldest first, without password hashes. */
export async function list(): Promise<PublicUser[]> {
  const db = await Db.get();
  return db.select(publicColumns).from(userTable).orderBy(asc(userTable.createdAt), asc(userTable.id));
}

/** The user with this (already normalised) email, including the hash, for sign-in only. */
export async function findByEmail(email: string): Promise<User | undefined> {
  const db = await Db.get();
  const [user] = await db.select().from(userTable).where(eq(userTable.email, email));
  return user;
}

/**
 * Deletes a user and revokes all of their sessions in the same transaction, so their cookies stop
 * working at once. @throws AppError not_found `user_not_found`.
 */
export async function remove(id: string): Promise<void> {
  await Db.transaction(async (tx) => {
    const deleted = await tx.delete(userTable).where(eq(userTable.id, id)).returning({ id: userTable.id });
    if (deleted.length === 0) throw notFound('user_not_found', 'User not found');
    await tx.update(sessionTable).set({ revokedAt: new Date() }).where(eq(sessionTable.userId, id));
  });
}
