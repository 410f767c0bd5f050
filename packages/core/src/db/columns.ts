import { integer, text } from 'drizzle-orm/sqlite-core';

/** Shared column helpers: ids are nanoid text, times are integer epoch milliseconds. */
export const id = () => text('id').primaryKey();
export const timestampMs = (name: string) => integer(name, { mode: 'timestamp_ms' });
export const timestamps = {
  createdAt: timestampMs('created_at').notNull(),
  updatedAt: timestampMs('updated_at').notNull(),
};
