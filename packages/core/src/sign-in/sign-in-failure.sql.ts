import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { timestampMs } from '../db/columns.ts';

/** Failed sign-ins per email, kept in libSQL so the rate limit holds across Lambdas and restarts. */
export const signInFailureTable = sqliteTable(
  'sign_in_failure',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    email: text('email').notNull(),
    failedAt: timestampMs('failed_at').notNull(),
  },
  (t) => [index('sign_in_failure_email_failed_at_idx').on(t.email, t.failedAt)],
);
