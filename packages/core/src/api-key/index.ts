import { createHash } from 'node:crypto';
import { desc, eq } from 'drizzle-orm';
import { customAlphabet } from 'nanoid';
import { z } from 'zod';
import * as Config from '../config/index.ts';
import * as Db from '../db/index.ts';
import { notFound } from '../errors/index.ts';
import { newId } from '../id/index.ts';
import { logger } from '../logger/index.ts';
import { apiKeyTable } from './api-key.sql.ts';

export { apiKeyTable };

export const KEY_LENGTH = 64;
export const PREVIEW_LENGTH = 8;
const KEY_FORMAT = /^[0-9A-Za-z]{64}$/;
/** nanoid's generator: CSPRNG bytes with rejection sampling, so every character is uniform. */
const generateKey = customAlphabet(
  '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
  KEY_LENGTH,
);

/** A key's name: 1..100 characters, not blank (surrounding whitespace is trimmed). */
export const Name = z
  .string({ error: 'Input should be a valid string' })
  .trim()
  .min(1, 'String should have at least 1 character')
  .max(100, 'String should have at most 100 characters');

export interface ApiKey {
  id: string;
  name: string;
  preview: string;
  createdAt: Date;
}

function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Creates a key. The returned `key` is the only copy of the plaintext anywhere: show it once. */
export async function create(name: string): Promise<ApiKey & { key: string }> {
  const trimmed = Name.parse(name);
  const key = generateKey();
  const row = { id: newId(), name: trimmed, preview: key.slice(0, PREVIEW_LENGTH), createdAt: new Date() };
  const keyHash = hashKey(key);
  await Db.write((db) => db.insert(apiKeyTable).values({ ...row, keyHash }));
  cache.delete(keyHash);
  return { ...row, key };
}

/** Every key, newest first, without hashes. */
export async function list(): Promise<ApiKey[]> {
  const db = await Db.get();
  return db
    .select({
      id: apiKeyTable.id,
      name: apiKeyTable.name,
      preview: apiKeyTable.preview,
      createdAt: apiKeyTable.createdAt,
    })
    .from(apiKeyTable)
    .orderBy(desc(apiKeyTable.createdAt), desc(apiKeyTable.id));
}

/** Deletes a key; this process stops accepting it at once, others within the cache TTL. @throws not_found */
export async function remove(id: string): Promise<void> {
  const deleted = await Db.write((db) =>
    db.delete(apiKeyTable).where(eq(apiKeyTable.id, id)).returning({ keyHash: apiKeyTable.keyHash }),
  );
  if (deleted.length === 0) throw notFound('api_key_not_found', 'API key not found');
  for (const { keyHash } of deleted) cache.delete(keyHash);
}

interface CacheEntry {
  valid: boolean;
  expiresAt: number;
}

/** Hash → verdict. Bounded: a flood of distinct well-formed bad keys evicts the oldest entries. */
const cache = new Map<string, CacheEntry>();
const MAX_CACHE_ENTRIES = 10_000;
/** Concurrent checks of one key share one database lookup. */
const inFlight = new Map<string, Promise<boolean>>();
/** hits/misses: cache verdicts; lookups: database queries actually made (concurrent misses share one). */
const stats = { hits: 0, misses: 0, lookups: 0, errors: 0 };
let failing = false;

export interface ValidateOptions {
  /** How long a valid key is trusted without asking the database (default JUNJO_API_KEY_CACHE_TTL_MS). */
  validTtlMs?: number;
  /** How long an unknown key is remembered as unknown (default JUNJO_API_KEY_NEGATIVE_TTL_MS). */
  invalidTtlMs?: number;
}

/**
 * The ingest receiver's key check: hash, then look up, with an in-process cache. Never throws: malformed
 * input is false without a lookup, and a database error is false (fail closed), logged once per outage.
 * A key deleted elsewhere is refused once its cache entry expires (the TTL, default 10 s).
 */
export async function validateApiKey(key: unknown, options: ValidateOptions = {}): Promise<boolean> {
  if (typeof key !== 'string' || !KEY_FORMAT.test(key)) return false;
  const keyHash = hashKey(key);
  const cached = cache.get(keyHash);
  if (cached && cached.expiresAt > Date.now()) {
    stats.hits++;
    return cached.valid;
  }
  stats.misses++;
  let pending = inFlight.get(keyHash);
  if (!pending) {
    pending = lookup(keyHash, options).finally(() => inFlight.delete(keyHash));
    inFlight.set(keyHash, pending);
  }
  return pending;
}

async function lookup(keyHash: string, options: ValidateOptions): Promise<boolean> {
  const { apiKeyCache } = Config.get();
  stats.lookups++;
  try {
    const db = await Db.get();
    const [row] = await db
      .select({ id: apiKeyTable.id })
      .from(apiKeyTable)
      .where(eq(apiKeyTable.keyHash, keyHash));
    const valid = row !== undefined;
    if (failing) logger.info('API key store reachable again');
    failing = false;
    const ttl = valid
      ? (options.validTtlMs ?? apiKeyCache.validTtlMs)
      : (options.invalidTtlMs ?? apiKeyCache.invalidTtlMs);
    cache.delete(keyHash);
    if (cache.size >= MAX_CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
    cache.set(keyHash, { valid, expiresAt: Date.now() + ttl });
    return valid;
  } catch (error) {
    stats.errors++;
    if (!failing)
      logger.error('API key check failed; refusing keys until the store answers', { error: error as Error });
    failing = true;
    return false;
  }
}

/** Cache counters for benchmarks and diagnostics. */
export function cacheStats(): {
  hits: number;
  misses: number;
  lookups: number;
  errors: number;
  size: number;
} {
  return { ...stats, size: cache.size };
}

/** Forgets every cached verdict (tests, or after restoring a backup). */
export function clearCache(): void {
  cache.clear();
}
