import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createClient } from '@libsql/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as ApiKey from '../src/api-key/index.ts';
import * as Db from '../src/db/index.ts';
import { logger } from '../src/logger/index.ts';
import { useTempDataDir } from './support.ts';

const data = useTempDataDir();
afterEach(() => vi.restoreAllMocks());

const wellFormedUnknown = 'A'.repeat(64);

describe('API keys in core', () => {
  it('creates 64-character [0-9A-Za-z] keys with 21-character ids and stores no plaintext', async () => {
    const created = await ApiKey.create('exporter');
    expect(created.key).toMatch(/^[0-9A-Za-z]{64}$/);
    expect(created.id).toMatch(/^[\w-]{21}$/);
    expect(created.preview).toBe(created.key.slice(0, 8));
    const db = await Db.get();
    const rows = await db.all<Record<string, unknown>>('SELECT * FROM api_key');
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain(created.key);
    expect(dump).not.toContain(created.key.slice(8));
  });

  it('uses every character of the alphabet, roughly uniformly', async () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      for (const ch of (await ApiKey.create(`k${i}`)).key) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    }
    expect(counts.size).toBe(62);
    // 12,800 characters over 62 symbols: ~206 each; a biased generator would push some far off.
    for (const n of counts.values()) {
      expect(n).toBeGreaterThan(130);
      expect(n).toBeLessThan(290);
    }
  });
});

describe('validateApiKey', () => {
  it('accepts a valid key and refuses a wrong one', async () => {
    const { key } = await ApiKey.create('valid');
    expect(await ApiKey.validateApiKey(key)).toBe(true);
    expect(await ApiKey.validateApiKey(wellFormedUnknown)).toBe(false);
    expect(await ApiKey.validateApiKey(`${key.slice(0, 63)}${key[63] === 'a' ? 'b' : 'a'}`)).toBe(false);
  });

  it('refuses empty, huge, non-ASCII and non-string keys without a lookup or an error', async () => {
    const before = ApiKey.cacheStats().lookups;
    const bad: unknown[] = [
      '',
      'x'.repeat(1024 * 1024),
      'é'.repeat(64),
      `${'A'.repeat(63)}\u0000`,
      '🔑'.repeat(32),
      null,
      42,
      {},
    ];
    for (const key of bad) expect(await ApiKey.validateApiKey(key)).toBe(false);
    expect(ApiKey.cacheStats().lookups).toBe(before);
  });

  it('serves repeats from the cache and shares one lookup between concurrent checks', async () => {
    const { key } = await ApiKey.create('cached');
    const before = ApiKey.cacheStats();
    const verdicts = await Promise.all(Array.from({ length: 50 }, () => ApiKey.validateApiKey(key)));
    expect(verdicts.every(Boolean)).toBe(true);
    const after = ApiKey.cacheStats();
    expect(after.lookups - before.lookups).toBe(1);
    for (let i = 0; i < 100; i++) await ApiKey.validateApiKey(wellFormedUnknown);
    expect(ApiKey.cacheStats().lookups - after.lookups).toBeLessThanOrEqual(1);
    expect(ApiKey.cacheStats().hits - after.hits).toBeGreaterThanOrEqual(99);
  });

  it('refuses a key deleted in this process at once', async () => {
    const { id, key } = await ApiKey.create('deleted here');
    expect(await ApiKey.validateApiKey(key)).toBe(true);
    await ApiKey.remove(id);
    expect(await ApiKey.validateApiKey(key)).toBe(false);
  });

  it('refuses a key deleted by another process once the TTL passes', async () => {
    const { id, key } = await ApiKey.create('deleted elsewhere');
    const ttl = { validTtlMs: 1000, invalidTtlMs: 50 };
    expect(await ApiKey.validateApiKey(key, ttl)).toBe(true);
    const other = createClient({ url: `file:${path.join(data.dir(), 'junjo.db')}` });
    await other.execute({ sql: 'DELETE FROM api_key WHERE id = ?', args: [id] });
    other.close();
    // Still trusted from the cache for up to the TTL, and refused after it.
    expect(await ApiKey.validateApiKey(key, ttl)).toBe(true);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await ApiKey.validateApiKey(key, ttl)).toBe(false);
  });

  it('fails closed on a database error, logs it once, and recovers', async () => {
    const { key } = await ApiKey.create('through an outage');
    const errors = vi.spyOn(logger, 'error').mockImplementation(() => undefined);
    const file = path.join(data.dir(), 'junjo.db');
    const db = await Db.get();
    await db.run('PRAGMA wal_checkpoint(TRUNCATE)');
    const good = readFileSync(file);
    await Db.close();
    ApiKey.clearCache();
    writeFileSync(file, Buffer.alloc(good.length, 0x33));
    try {
      for (let i = 0; i < 5; i++)
        expect(await ApiKey.validateApiKey(key, { validTtlMs: 1, invalidTtlMs: 1 })).toBe(false);
    } finally {
      writeFileSync(file, good);
    }
    expect(errors).toHaveBeenCalledTimes(1);
    expect(ApiKey.cacheStats().errors).toBeGreaterThanOrEqual(5);
    expect(await ApiKey.validateApiKey(key)).toBe(true);
  });
});
