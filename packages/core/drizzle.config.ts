import { defineConfig } from 'drizzle-kit';

// Used only by `npm run db:generate` to write migrations; they are committed and applied at start-up.
export default defineConfig({
  dialect: 'sqlite',
  schema: './packages/core/src/db/schema.ts',
  out: './packages/core/migrations',
});
