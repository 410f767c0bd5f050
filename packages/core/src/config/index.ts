import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/** Every bad variable, one line each, so start-up can print them all at once. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const port = (fallback: number) =>
  z.coerce
    .number({ error: 'must be a port number' })
    .int('must be a whole number')
    .min(0, 'must be 0..65535')
    .max(65535, 'must be 0..65535')
    .default(fallback);

const httpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
  .transform((u) => u.replace(/\/+$/, ''));

const originList = z.string().transform((raw, ctx) => {
  const text = raw.trim();
  let items: unknown;
  if (text.startsWith('[')) {
    try {
      items = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is not a valid JSON array' });
      return z.NEVER;
    }
  } else {
    items = text.split(',');
  }
  if (!Array.isArray(items) || items.some((o) => typeof o !== 'string')) {
    ctx.addIssue({ code: 'custom', message: 'must be a comma list or JSON array of origins' });
    return z.NEVER;
  }
  const origins = (items as string[]).map((o) => o.trim().replace(/\/+$/, '')).filter(Boolean);
  for (const origin of origins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      ctx.addIssue({ code: 'custom', message: `"${origin}" is not an origin like http://host:port` });
      return z.NEVER;
    }
  }
  return origins;
});

const positiveInt = (fallback: number) =>
  z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .positive('must be > 0')
    .default(fallback);

/** The environment we read, every variable with why it exists. Unknown variables are ignored. */
const EnvSchema = z.object({
  /** `production` turns on Secure cookies and requires real secrets and public URLs. */
  JUNJO_ENV: z
    .enum(['development', 'production'], { error: 'must be development or production' })
    .default('development'),
  /** Self-host data: the libSQL file, the WAL and the DuckDB file, the generated dev session secret. */
  JUNJO_DATA_DIR: z.string().min(1, 'must not be empty').default('./.data'),
  /** Encrypts session cookies (JWE). Generated and kept in the data dir in development. */
  JUNJO_SESSION_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Users, sessions, API keys: a file in self-host, a libSQL server (Turso) in the cloud. */
  JUNJO_LIBSQL_URL: z.string().min(1).optional(),
  JUNJO_LIBSQL_AUTH_TOKEN: z.string().optional(),
  /** How long a libSQL file connection waits on a lock held by another process before failing. */
  JUNJO_LIBSQL_BUSY_TIMEOUT_MS: positiveInt(5000),
  /**
   * Browsers allowed to call the API with credentials; also the Origin check for unsafe methods.
   * Default: the Junjo UI's dev ports, or JUNJO_PROD_FRONTEND_URL in production.
   */
  JUNJO_ALLOW_ORIGINS: originList.optional(),
  /** The HTTP API (packages/local in self-host). */
  JUNJO_BACKEND_PORT: port(1323),
  JUNJO_BACKEND_HOST: z.string().min(1).default('0.0.0.0'),
  /** Largest request body the self-host HTTP server accepts (API Gateway has its own limit). */
  JUNJO_MAX_BODY_BYTES: positiveInt(1024 * 1024),
  /** Ingest ports (packages/ingest). */
  GRPC_PORT: port(50051),
  OTLP_HTTP_PORT: port(4318),
  INTERNAL_GRPC_PORT: port(50052),
  /** Where the OTLP receivers listen; the query service binds loopback unless told otherwise. */
  JUNJO_INGEST_HOST: z.string().min(1).default('0.0.0.0'),
  JUNJO_INTERNAL_GRPC_HOST: z.string().min(1).default('127.0.0.1'),
  /** Shared token the query service requires when it is not bound to loopback. */
  JUNJO_INTERNAL_GRPC_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Largest OTLP request accepted (gRPC RESOURCE_EXHAUSTED / HTTP 413 above it). */
  JUNJO_INGEST_MAX_REQUEST_BYTES: positiveInt(16 * 1024 * 1024),
  /** Backpressure: above this much un-indexed WAL, or this process RSS, exports get UNAVAILABLE / 503. */
  JUNJO_WAL_MAX_UNRELEASED_BYTES: positiveInt(1024 * 1024 * 1024),
  JUNJO_INGEST_MAX_RSS_BYTES: positiveInt(1536 * 1024 * 1024),
  /** HTTP/2 receive window of OTLP/gRPC connections; 0 keeps grpc-js's 64 KiB (see receiver/grpc.ts). */
  JUNJO_GRPC_RECEIVE_WINDOW_BYTES: z.coerce
    .number({ error: 'must be a number' })
    .int()
    .min(0)
    .default(8 * 1024 * 1024),
  /** WAL segment size: segments are deleted whole once indexed. */
  JUNJO_WAL_SEGMENT_BYTES: positiveInt(64 * 1024 * 1024),
  /** How long ingest trusts a valid API key without asking libSQL; a deleted key is refused within this. */
  JUNJO_API_KEY_CACHE_TTL_MS: positiveInt(10_000),
  /** How long an unknown API key is remembered, so a flood of bad keys does not reach the database. */
  JUNJO_API_KEY_NEGATIVE_TTL_MS: positiveInt(2_000),
  /** Where HTTP handlers reach the span query service, and how long they wait for it (then 503). */
  JUNJO_QUERY_URL: z.string().min(1).default('127.0.0.1:50052'),
  JUNJO_QUERY_TIMEOUT_MS: positiveInt(5_000),
  /** How long POST /api/admin/flush-wal waits for the indexer to drain the backlog. */
  JUNJO_FLUSH_TIMEOUT_MS: positiveInt(120_000),
  /** `off` runs the OTLP receivers and WAL without indexing (benchmarks of the receivers alone). */
  JUNJO_INDEXER: z.enum(['on', 'off'], { error: 'must be on or off' }).default('on'),
  /**
   * DuckDB's memory limit for the span store (its buffer cache and query memory), e.g. `128MB` or `1GB`.
   * Queries stay fast with little: the file's pages also sit in the OS page cache. 64MB by default, which
   * keeps the ingest process under 512 MB RSS while it indexes and answers queries (docs/benchmarks.md).
   */
  JUNJO_DUCKDB_MEMORY_LIMIT: z
    .string()
    .regex(/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, 'must be a size such as 128MB or 1GB')
    .default('64MB'),
  /**
   * Threads DuckDB runs the span store's queries, commits and checkpoints on (besides the threads that call
   * it). 1 by default: on the 2-core reference machine a second DuckDB thread made query tails longer while
   * ingest ran, and indexing no faster (docs/benchmarks.md). Raise it on a machine with cores to spare.
   */
  JUNJO_DUCKDB_THREADS: positiveInt(1),
  /** Delete spans older than this many days (off when unset). */
  JUNJO_RETENTION_DAYS: z.coerce
    .number({ error: 'must be a number of days' })
    .positive('must be > 0')
    .optional(),
  /**
   * How often the retention pass runs, in minutes (it also runs once at start). Bounded: Node runs a timer
   * longer than 2^31 - 1 ms (~24.8 days) after 1 ms instead, and one under 1 ms rounds to 0.
   */
  JUNJO_RETENTION_EVERY_MINUTES: z.coerce
    .number({ error: 'must be a number of minutes' })
    .min(0.001, 'must be at least 0.001 (60 ms)')
    .max(20_160, 'must be at most 20160 (14 days)')
    .default(10),
  /**
   * Backups of the span store (and a libSQL file) to this S3 bucket, by the ingest process; off when unset.
   * Region and credentials come from the AWS SDK's usual chain (AWS_REGION, AWS_PROFILE, the task role…).
   */
  JUNJO_BACKUP_S3_BUCKET: z.string().min(1, 'must not be empty').optional(),
  /** Key prefix of the snapshots in the bucket, so one bucket can hold several installations. */
  JUNJO_BACKUP_S3_PREFIX: z
    .string()
    .regex(/^(?!\/)[^\s]*$/, 'must not start with "/" or contain spaces')
    // Snapshots are "folders" under it: anything but the bucket's root ends with exactly one "/".
    .transform((prefix) => prefix.replace(/\/+$/, ''))
    .transform((prefix) => (prefix ? `${prefix}/` : ''))
    .default('junjo-backups/'),
  /** An S3-compatible store instead of AWS (MinIO, R2…): its URL; path-style addressing is used. */
  JUNJO_BACKUP_S3_ENDPOINT: httpUrl.optional(),
  /** Minutes between scheduled backups (the first one runs this long after start); timers cap it. */
  JUNJO_BACKUP_INTERVAL_MINUTES: z.coerce
    .number({ error: 'must be a number of minutes' })
    .int('must be a whole number')
    .positive('must be > 0')
    .max(20_160, 'must be at most 20160 (14 days)')
    .default(1440),
  /** Snapshots kept in the bucket; older ones are deleted after each successful backup. */
  JUNJO_BACKUP_KEEP: positiveInt(7),
  /** Public URLs, required in production; shown by GET /api/config. */
  JUNJO_PROD_FRONTEND_URL: httpUrl.optional(),
  JUNJO_PROD_BACKEND_URL: httpUrl.optional(),
  JUNJO_PROD_INGESTION_URL: httpUrl.optional(),
  /** Playground providers; optional, each endpoint answers 503 without its key. */
  OPENAI_API_KEY: z.string().min(1).optional(),
  ANTHROPIC_API_KEY: z.string().min(1).optional(),
  GEMINI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: httpUrl.optional(),
  ANTHROPIC_BASE_URL: httpUrl.optional(),
  GEMINI_BASE_URL: httpUrl.optional(),
  /** Playground: provider call timeout (504 after it). */
  JUNJO_LLM_TIMEOUT_MS: positiveInt(120_000),
  /** Playground runs are traced to this OTLP/HTTP endpoint with this key; tracing is off without a key. */
  JUNJO_PLAYGROUND_OTLP_URL: httpUrl.optional(),
  JUNJO_PLAYGROUND_API_KEY: z.string().min(1).optional(),
  /** JSON log level. */
  JUNJO_LOG_LEVEL: z
    .enum(['debug', 'info', 'warn', 'error', 'silent'], {
      error: 'must be debug, info, warn, error or silent',
    })
    .default('info'),
});

export type Environment = 'development' | 'production';

export interface Config {
  environment: Environment;
  isProduction: boolean;
  dataDir: string;
  sessionSecret: string;
  libsql: { url: string; authToken?: string; busyTimeoutMs: number };
  allowOrigins: string[];
  http: { port: number; host: string; maxBodyBytes: number };
  ingest: {
    grpcPort: number;
    otlpHttpPort: number;
    internalGrpcPort: number;
    host: string;
    internalHost: string;
    internalToken?: string;
    maxRequestBytes: number;
    maxUnreleasedWalBytes: number;
    maxRssBytes: number;
    walSegmentBytes: number;
    walDir: string;
    grpcReceiveWindowBytes: number;
  };
  apiKeyCache: { validTtlMs: number; invalidTtlMs: number };
  queryUrl: string;
  queryTimeoutMs: number;
  flushTimeoutMs: number;
  retentionDays?: number;
  retentionEveryMs: number;
  indexerEnabled: boolean;
  /** DuckDB memory_limit of the span store. */
  duckdbMemoryLimit: string;
  /** DuckDB threads of the span store. */
  duckdbThreads: number;
  backup: {
    /** Backups are off without a bucket. */
    s3Bucket?: string;
    /** Empty, or ends with `/`. */
    s3Prefix: string;
    s3Endpoint?: string;
    intervalMinutes: number;
    keep: number;
  };
  urls: { frontend: string; backend: string; otlp: string };
  providers: {
    openai: { apiKey?: string; baseUrl?: string };
    anthropic: { apiKey?: string; baseUrl?: string };
    gemini: { apiKey?: string; baseUrl?: string };
  };
  playground: { timeoutMs: number; otlpUrl: string; apiKey?: string };
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  version: string;
}

export const VERSION = '0.1.0';
const SECRET_FILE = 'session-secret';

/**
 * Parses an environment into a Config. Pure except for the development session secret, which is
 * generated once and kept in the data dir (mode 0600) so sessions survive restarts.
 * @throws ConfigError naming every bad variable.
 */
export function load(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? 'environment');
        const raw = env[name];
        const shown = raw === undefined || /SECRET|KEY|TOKEN/.test(name) ? '' : ` (got "${raw}")`;
        return `${name}: ${issue.message}${shown}`;
      }),
    );
  }
  const e = parsed.data;
  const isProduction = e.JUNJO_ENV === 'production';
  const problems: string[] = [];
  if (isProduction) {
    if (!e.JUNJO_SESSION_SECRET)
      problems.push('JUNJO_SESSION_SECRET: required in production (at least 32 characters)');
    else if (new Set(e.JUNJO_SESSION_SECRET).size < 10)
      problems.push(
        'JUNJO_SESSION_SECRET: looks like a placeholder; use a random value (openssl rand -base64 48)',
      );
    for (const name of [
      'JUNJO_PROD_FRONTEND_URL',
      'JUNJO_PROD_BACKEND_URL',
      'JUNJO_PROD_INGESTION_URL',
    ] as const) {
      if (!e[name]) problems.push(`${name}: required in production (an http(s) URL)`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const dataDir = path.resolve(e.JUNJO_DATA_DIR);
  return {
    environment: e.JUNJO_ENV,
    isProduction,
    dataDir,
    sessionSecret: e.JUNJO_SESSION_SECRET ?? developmentSecret(dataDir),
    libsql: {
      url: e.JUNJO_LIBSQL_URL ?? `file:${path.join(dataDir, 'junjo.db')}`,
      authToken: e.JUNJO_LIBSQL_AUTH_TOKEN,
      busyTimeoutMs: e.JUNJO_LIBSQL_BUSY_TIMEOUT_MS,
    },
    allowOrigins:
      e.JUNJO_ALLOW_ORIGINS ??
      (isProduction ? [e.JUNJO_PROD_FRONTEND_URL!] : ['http://localhost:5151', 'http://localhost:5153']),
    http: { port: e.JUNJO_BACKEND_PORT, host: e.JUNJO_BACKEND_HOST, maxBodyBytes: e.JUNJO_MAX_BODY_BYTES },
    ingest: {
      grpcPort: e.GRPC_PORT,
      otlpHttpPort: e.OTLP_HTTP_PORT,
      internalGrpcPort: e.INTERNAL_GRPC_PORT,
      host: e.JUNJO_INGEST_HOST,
      internalHost: e.JUNJO_INTERNAL_GRPC_HOST,
      internalToken: e.JUNJO_INTERNAL_GRPC_TOKEN,
      maxRequestBytes: e.JUNJO_INGEST_MAX_REQUEST_BYTES,
      maxUnreleasedWalBytes: e.JUNJO_WAL_MAX_UNRELEASED_BYTES,
      maxRssBytes: e.JUNJO_INGEST_MAX_RSS_BYTES,
      walSegmentBytes: e.JUNJO_WAL_SEGMENT_BYTES,
      walDir: path.join(dataDir, 'wal'),
      grpcReceiveWindowBytes: e.JUNJO_GRPC_RECEIVE_WINDOW_BYTES,
    },
    apiKeyCache: { validTtlMs: e.JUNJO_API_KEY_CACHE_TTL_MS, invalidTtlMs: e.JUNJO_API_KEY_NEGATIVE_TTL_MS },
    queryUrl: e.JUNJO_QUERY_URL,
    queryTimeoutMs: e.JUNJO_QUERY_TIMEOUT_MS,
    flushTimeoutMs: e.JUNJO_FLUSH_TIMEOUT_MS,
    retentionDays: e.JUNJO_RETENTION_DAYS,
    retentionEveryMs: Math.round(e.JUNJO_RETENTION_EVERY_MINUTES * 60_000),
    indexerEnabled: e.JUNJO_INDEXER === 'on',
    duckdbMemoryLimit: e.JUNJO_DUCKDB_MEMORY_LIMIT,
    duckdbThreads: e.JUNJO_DUCKDB_THREADS,
    backup: {
      s3Bucket: e.JUNJO_BACKUP_S3_BUCKET,
      s3Prefix: e.JUNJO_BACKUP_S3_PREFIX,
      s3Endpoint: e.JUNJO_BACKUP_S3_ENDPOINT,
      intervalMinutes: e.JUNJO_BACKUP_INTERVAL_MINUTES,
      keep: e.JUNJO_BACKUP_KEEP,
    },
    urls: {
      frontend: e.JUNJO_PROD_FRONTEND_URL ?? 'http://localhost:5153',
      backend: e.JUNJO_PROD_BACKEND_URL ?? `http://localhost:${e.JUNJO_BACKEND_PORT}`,
      otlp: e.JUNJO_PROD_INGESTION_URL ?? `grpc://localhost:${e.GRPC_PORT}`,
    },
    providers: {
      openai: { apiKey: e.OPENAI_API_KEY, baseUrl: e.OPENAI_BASE_URL },
      anthropic: { apiKey: e.ANTHROPIC_API_KEY, baseUrl: e.ANTHROPIC_BASE_URL },
      gemini: { apiKey: e.GEMINI_API_KEY, baseUrl: e.GEMINI_BASE_URL },
    },
    playground: {
      timeoutMs: e.JUNJO_LLM_TIMEOUT_MS,
      otlpUrl: e.JUNJO_PLAYGROUND_OTLP_URL ?? `http://127.0.0.1:${e.OTLP_HTTP_PORT}/v1/traces`,
      apiKey: e.JUNJO_PLAYGROUND_API_KEY,
    },
    logLevel: e.JUNJO_LOG_LEVEL,
    version: VERSION,
  };
}

/**
 * Reads the kept development secret, or creates it. The file is written aside and hard-linked into place,
 * so two processes starting at once agree on one secret and neither reads a half-written file.
 */
function developmentSecret(dataDir: string): string {
  const file = path.join(dataDir, SECRET_FILE);
  mkdirSync(dataDir, { recursive: true });
  const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(draft, randomBytes(48).toString('base64url'), { mode: 0o600 });
  try {
    linkSync(draft, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(draft);
  }
  const secret = readFileSync(file, 'utf8').trim();
  if (secret.length < 32) {
    throw new ConfigError([
      `JUNJO_SESSION_SECRET: the kept secret in ${file} is shorter than 32 characters; delete it`,
    ]);
  }
  return secret;
}

let current: Config | undefined;
const listeners: Array<(config: Config) => void> = [];

/** The process's configuration, parsed from process.env on first use and kept. */
export function get(): Config {
  if (!current) {
    current = load(process.env);
    for (const listener of listeners) listener(current);
  }
  return current;
}

/**
 * `get()` for a process's entry point: a bad configuration prints its one-line-per-variable message to
 * stderr and exits 1, instead of a stack trace.
 */
export function getOrExit(): Config {
  try {
    return get();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

/**
 * Replaces parts of the loaded config. Only for the self-host launcher, which learns the span query
 * service's address at run time (port 0 in tests) after it has loaded the config.
 */
export function update(patch: Partial<Config>): Config {
  current = { ...get(), ...patch };
  return current;
}

/** Runs `listener` with the config once it is loaded (now, if it already is). */
export function onLoad(listener: (config: Config) => void): void {
  listeners.push(listener);
  if (current) listener(current);
}
