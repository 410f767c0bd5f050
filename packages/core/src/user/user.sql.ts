import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { id, timestamps } from '../db/columns.ts';

export const userTable = sqliteTable('user', {
  id: id(),
  /** Stored lower-cased, so the unique index makes emails case-insensitive. */
  email: text('email').notNull().unique(),
  passwordHash: text('password_hash').notNull(),
  isActive: integer('is_active', { mode: 'boolean' }).notNull().default(true),
  ...timestamps,
});
