import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, load } from '../src/config/index.ts';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'junjo-config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    load(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

const prodSecret = 'q8Z2mT5vX1nR7bK3wY9cL4pF6hJ0sD2gA5eU8iO1';

describe('config', () => {
  it('runs on embedded defaults in development and keeps a generated secret (0600)', () => {
    const config = load({ JUNJO_DATA_DIR: dir });
    expect(config.environment).toBe('development');
    expect(config.http.port).toBe(1323);
    expect(config.libsql.url).toBe(`file:${path.join(dir, 'junjo.db')}`);
    expect(config.allowOrigins).toEqual(['http://localhost:5151', 'http://localhost:5153']);
    expect(config.urls).toEqual({
      frontend: 'http://localhost:5153',
      backend: 'http://localhost:1323',
      otlp: 'grpc://localhost:50051',
    });
    const file = path.join(dir, 'session-secret');
    expect(config.sessionSecret.length).toBeGreaterThanOrEqual(32);
    expect(readFileSync(file, 'utf8')).toBe(config.sessionSecret);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(load({ JUNJO_DATA_DIR: dir }).sessionSecret).toBe(config.sessionSecret);
  });

  it('names every bad variable on its own line', () => {
    const problems = problemsOf({
      JUNJO_DATA_DIR: dir,
      JUNJO_BACKEND_PORT: 'abc',
      GRPC_PORT: '70000',
      JUNJO_ENV: 'staging',
      JUNJO_ALLOW_ORIGINS: 'localhost:5153',
      JUNJO_LOG_LEVEL: 'loud',
      JUNJO_SESSION_SECRET: 'short-secret-value',
    });
    expect(problems).toHaveLength(6);
    for (const name of [
      'JUNJO_BACKEND_PORT',
      'GRPC_PORT',
      'JUNJO_ENV',
      'JUNJO_ALLOW_ORIGINS',
      'JUNJO_LOG_LEVEL',
      'JUNJO_SESSION_SECRET',
    ]) {
      expect(problems.filter((p) => p.startsWith(`${name}: `))).toHaveLength(1);
    }
    expect(problems.join('\n')).not.toContain('short-secret-value');
    expect(problems.find((p) => p.startsWith('JUNJO_BACKEND_PORT'))).toContain('"abc"');
  });

  it('accepts origins as a comma list or a JSON array', () => {
    const list = load({ JUNJO_DATA_DIR: dir, JUNJO_ALLOW_ORIGINS: 'https://a.example, https://b.example/' });
    expect(list.allowOrigins).toEqual(['https://a.example', 'https://b.example']);
    const array = load({ JUNJO_DATA_DIR: dir, JUNJO_ALLOW_ORIGINS: '["https://c.example"]' });
    expect(array.allowOrigins).toEqual(['https://c.example']);
    expect(problemsOf({ JUNJO_DATA_DIR: dir, JUNJO_ALLOW_ORIGINS: '["https://c.example"' })[0]).toMatch(
      /^JUNJO_ALLOW_ORIGINS: .*JSON/,
    );
  });

  it('refuses to start production without real secrets and http(s) public URLs', () => {
    const missing = problemsOf({ JUNJO_DATA_DIR: dir, JUNJO_ENV: 'production' });
    expect(missing.map((p) => p.split(':')[0])).toEqual([
      'JUNJO_SESSION_SECRET',
      'JUNJO_PROD_FRONTEND_URL',
      'JUNJO_PROD_BACKEND_URL',
      'JUNJO_PROD_INGESTION_URL',
    ]);
    const placeholder = problemsOf({
      JUNJO_DATA_DIR: dir,
      JUNJO_ENV: 'production',
      JUNJO_SESSION_SECRET: 'a'.repeat(40),
      JUNJO_PROD_FRONTEND_URL: 'https://app.example.com',
      JUNJO_PROD_BACKEND_URL: 'https://api.example.com',
      JUNJO_PROD_INGESTION_URL: 'https://ingest.example.com',
    });
    expect(placeholder).toEqual([expect.stringMatching(/^JUNJO_SESSION_SECRET: looks like a placeholder/)]);
    const badUrl = problemsOf({
      JUNJO_DATA_DIR: dir,
      JUNJO_ENV: 'production',
      JUNJO_SESSION_SECRET: prodSecret,
      JUNJO_PROD_FRONTEND_URL: 'app.example.com',
      JUNJO_PROD_BACKEND_URL: 'ftp://api.example.com',
      JUNJO_PROD_INGESTION_URL: 'https://ingest.example.com',
    });
    expect(badUrl).toEqual([
      expect.stringMatching(/^JUNJO_PROD_FRONTEND_URL: must be an http\(s\) URL/),
      expect.stringMatching(/^JUNJO_PROD_BACKEND_URL: must be an http\(s\) URL/),
    ]);
  });

  it('uses the production URLs and frontend origin, and no generated secret, in production', () => {
    const config = load({
      JUNJO_DATA_DIR: dir,
      JUNJO_ENV: 'production',
      JUNJO_SESSION_SECRET: prodSecret,
      JUNJO_PROD_FRONTEND_URL: 'https://app.example.com/',
      JUNJO_PROD_BACKEND_URL: 'https://api.example.com',
      JUNJO_PROD_INGESTION_URL: 'https://ingest.example.com',
    });
    expect(config.isProduction).toBe(true);
    expect(config.sessionSecret).toBe(prodSecret);
    expect(config.allowOrigins).toEqual(['https://app.example.com']);
    expect(config.urls.otlp).toBe('https://ingest.example.com');
    expect(() => statSync(path.join(dir, 'session-secret'))).toThrow();
  });

  it('turns backups on with a bucket, with a prefix that ends in one slash, and bounds the interval', () => {
    expect(load({ JUNJO_DATA_DIR: dir }).backup).toEqual({
      s3Bucket: undefined,
      s3Prefix: 'junjo-backups/',
      s3Endpoint: undefined,
      intervalMinutes: 1440,
      keep: 7,
    });
    const config = load({
      JUNJO_DATA_DIR: dir,
      JUNJO_BACKUP_S3_BUCKET: 'my-backups',
      JUNJO_BACKUP_S3_PREFIX: 'team/junjo//',
      JUNJO_BACKUP_S3_ENDPOINT: 'http://minio:9000/',
      JUNJO_BACKUP_INTERVAL_MINUTES: '60',
      JUNJO_BACKUP_KEEP: '3',
    });
    expect(config.backup).toEqual({
      s3Bucket: 'my-backups',
      s3Prefix: 'team/junjo/',
      s3Endpoint: 'http://minio:9000',
      intervalMinutes: 60,
      keep: 3,
    });
    // The bucket's root.
    expect(load({ JUNJO_DATA_DIR: dir, JUNJO_BACKUP_S3_PREFIX: '' }).backup.s3Prefix).toBe('');
    expect(
      problemsOf({
        JUNJO_DATA_DIR: dir,
        JUNJO_BACKUP_S3_PREFIX: '/abs',
        JUNJO_BACKUP_INTERVAL_MINUTES: '30000',
        JUNJO_BACKUP_KEEP: '0',
        JUNJO_BACKUP_S3_ENDPOINT: 'minio:9000',
      }),
    ).toEqual([
      expect.stringMatching(/^JUNJO_BACKUP_S3_PREFIX: must not start with "\/"/),
      expect.stringMatching(/^JUNJO_BACKUP_S3_ENDPOINT: must be an http\(s\) URL/),
      expect.stringMatching(/^JUNJO_BACKUP_INTERVAL_MINUTES: must be at most 20160/),
      expect.stringMatching(/^JUNJO_BACKUP_KEEP: must be > 0/),
    ]);
  });

  it('reads the retention interval, 10 minutes by default, within what a timer can wait', () => {
    expect(load({ JUNJO_DATA_DIR: dir }).retentionEveryMs).toBe(600_000);
    expect(load({ JUNJO_DATA_DIR: dir, JUNJO_RETENTION_EVERY_MINUTES: '0.5' }).retentionEveryMs).toBe(30_000);
    for (const [value, problem] of [
      ['0', /must be at least 0.001/],
      ['0.0000001', /must be at least 0.001/],
      ['40000', /must be at most 20160/],
      ['often', /must be a number of minutes/],
    ] as const) {
      expect(problemsOf({ JUNJO_DATA_DIR: dir, JUNJO_RETENTION_EVERY_MINUTES: value })).toEqual([
        expect.stringMatching(new RegExp(`^JUNJO_RETENTION_EVERY_MINUTES: ${problem.source}`)),
      ]);
    }
  });

  it('reads the span store thread count, 1 by default', () => {
    expect(load({ JUNJO_DATA_DIR: dir }).duckdbThreads).toBe(1);
    expect(load({ JUNJO_DATA_DIR: dir, JUNJO_DUCKDB_THREADS: '4' }).duckdbThreads).toBe(4);
    expect(problemsOf({ JUNJO_DATA_DIR: dir, JUNJO_DUCKDB_THREADS: '0' })).toEqual([
      expect.stringMatching(/^JUNJO_DUCKDB_THREADS: /),
    ]);
  });

  it('reads the span store memory limit as a DuckDB size, 64MB by default', () => {
    expect(load({ JUNJO_DATA_DIR: dir }).duckdbMemoryLimit).toBe('64MB');
    expect(load({ JUNJO_DATA_DIR: dir, JUNJO_DUCKDB_MEMORY_LIMIT: '1.5GB' }).duckdbMemoryLimit).toBe('1.5GB');
    expect(problemsOf({ JUNJO_DATA_DIR: dir, JUNJO_DUCKDB_MEMORY_LIMIT: 'lots' })).toEqual([
      expect.stringMatching(/^JUNJO_DUCKDB_MEMORY_LIMIT: must be a size such as 128MB or 1GB/),
    ]);
  });
});
