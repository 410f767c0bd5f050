import { index, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { id, timestampMs } from '../db/columns.ts';

/** Server-side session rows: the cookie only names one, so revocation takes effect at once. */
export const sessionTable = sqliteTable(
  'session',
  {
    id: id(),
    userId: text('user_id').notNull(),
    createdAt: timestampMs('created_at').notNull(),
    expiresAt: timestampMs('expires_at').notNull(),
    revokedAt: timestampMs('revoked_at'),
  },
  (t) => [index('session_user_id_idx').on(t.userId)],
);
