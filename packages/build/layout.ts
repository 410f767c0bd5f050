/**
 * What each deployable carries besides its bundle. Files the bundled code reads at run time sit in the
 * repository when run from source; a bundle looks for them beside itself (core/db, core/span-query,
 * ingest/otlp/messages, ingest/store/schema), so every build copies them there: `from` is relative to the
 * repository root, `to` to the bundle's directory. Also SST's `copyFiles` for each Lambda (infra/api.ts), so
 * a deployed function has the same layout.
 */
export interface Asset {
  from: string;
  to: string;
}

export const PROTO: Asset = { from: 'proto', to: 'proto' };
export const MIGRATIONS: Asset = { from: 'packages/core/migrations', to: 'migrations' };
export const SPAN_STORE_SCHEMA: Asset = { from: 'packages/ingest/src/store/sql', to: 'sql' };

/** Beside every Lambda handler: the span query client's proto and the libSQL migrations. */
export const FUNCTION_ASSETS: readonly Asset[] = [PROTO, MIGRATIONS];
/** Beside the ingest process: the OTLP protos, the libSQL migrations (API keys) and the span store schema. */
export const INGEST_ASSETS: readonly Asset[] = [PROTO, MIGRATIONS, SPAN_STORE_SCHEMA];
/** Beside the HTTP API container: the same as a Lambda. */
export const API_ASSETS: readonly Asset[] = FUNCTION_ASSETS;

/**
 * Packages that are not bundled but installed beside the bundle, in its node_modules: native addons (DuckDB,
 * libSQL), and `long`, which protobufjs looks up by name at run time where no bundler can see it (without
 * it 64-bit fields would be lossy, and the ingest process refuses to decode). SST's `nodejs.install` does the
 * same for the Lambdas, for Lambda's platform.
 */
export const FUNCTION_EXTERNALS: readonly string[] = ['@libsql/client', 'long'];
export const INGEST_EXTERNALS: readonly string[] = ['@duckdb/node-api', '@libsql/client', 'long'];
export const API_EXTERNALS: readonly string[] = FUNCTION_EXTERNALS;

/** The bundle file name of a functions/routes.ts handler module: `users/db-has-users` → `users-db-has-users`. */
export function functionBundleName(handlerModule: string): string {
  return handlerModule.replaceAll('/', '-');
}
