import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['functions/test/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'infra/test/**/*.test.ts'],
    // bcrypt at cost 12 is ~0.4 s a hash on this machine; a few tests hash dozens of times.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file gets fresh modules, so each gets its own config, data dir and database.
    isolate: true,
  },
});
