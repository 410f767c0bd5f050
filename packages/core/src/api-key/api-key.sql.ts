import { index, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { id, timestampMs } from '../db/columns.ts';

/** API keys for OTLP ingest. Only the SHA-256 of a key is stored, plus 8 characters to recognise it by. */
export const apiKeyTable = sqliteTable(
  'api_key',
  {
    id: id(),
    name: text('name').notNull(),
    /** Lowercase hex SHA-256 of the full key; the plaintext exists only in the create response. */
    keyHash: text('key_hash').notNull().unique(),
    preview: text('preview').notNull(),
    createdAt: timestampMs('created_at').notNull(),
  },
  (t) => [index('api_key_created_at_idx').on(t.createdAt)],
);
