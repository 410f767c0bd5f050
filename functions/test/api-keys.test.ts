import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as Db from '@junjo/core/db';
import { createClient } from '@libsql/client';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { handler as createKey } from '../api-keys/create.ts';
import { handler as deleteKey } from '../api-keys/delete.ts';
import { handler as listKeys } from '../api-keys/list.ts';
import { handler as createFirstUser } from '../users/create-first-user.ts';
import { apiEvent, invoke, sessionFrom, useTempDataDir } from './support.ts';

// A short busy timeout so the "locked" case fails in a fraction of a second instead of 5 s.
const data = useTempDataDir({ JUNJO_LIBSQL_BUSY_TIMEOUT_MS: '250' });

const Timestamp = z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
const Created = z.strictObject({
  id: z.string().regex(/^[\w-]{21}$/),
  key: z.string().regex(/^[0-9A-Za-z]{64}$/),
  name: z.string(),
  created_at: Timestamp,
});
const Listed = z.strictObject({
  id: z.string().length(21),
  key: z.string().regex(/^[0-9A-Za-z]{8}…$/),
  name: z.string(),
  created_at: Timestamp,
});

let cookie = '';
beforeAll(async () => {
  const reply = await invoke(
    createFirstUser,
    apiEvent('POST /users/create-first-user', '/users/create-first-user', {
      body: { email: 'keys@example.com', password: 'key master 1' },
    }),
  );
  cookie = sessionFrom(reply);
});

const list = () => invoke(listKeys, apiEvent('GET /api_keys', '/api_keys', { cookies: [cookie] }));
const create = (name: unknown) =>
  invoke(createKey, apiEvent('POST /api_keys', '/api_keys', { cookies: [cookie], body: { name } }));
const remove = (id: string) =>
  invoke(
    deleteKey,
    apiEvent('DELETE /api_keys/{id}', `/api_keys/${id}`, { cookies: [cookie], pathParameters: { id } }),
  );

describe('API key endpoints', () => {
  it('lists [] when there are none', async () => {
    const reply = await list();
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual([]);
  });

  it('creates a key (201, full key once) and lists it masked, newest first', async () => {
    const first = await create('ci exporter');
    expect(first.status).toBe(201);
    const a = Created.parse(first.body);
    expect(a.name).toBe('ci exporter');
    await new Promise((r) => setTimeout(r, 5));
    const b = Created.parse((await create('  laptop  ')).body);
    expect(b.name).toBe('laptop');

    const reply = await list();
    const rows = z.array(Listed).parse(reply.body);
    expect(rows.map((r) => r.id)).toEqual([b.id, a.id]);
    expect(rows[1]!.key).toBe(`${a.key.slice(0, 8)}…`);
    expect(reply.text).not.toContain(a.key);
    expect(reply.text).not.toContain(b.key);
  });

  it('deletes a key (204, empty) and then it is gone; unknown ids are 404', async () => {
    const { id } = Created.parse((await create('short-lived')).body);
    const gone = await remove(id);
    expect(gone.status).toBe(204);
    expect(gone.text).toBe('');
    expect((await list()).body.map((r: { id: string }) => r.id)).not.toContain(id);
    const again = await remove(id);
    expect(again.status).toBe(404);
    expect(again.body).toEqual({ detail: 'API key not found' });
  });

  it('refuses blank, missing, non-string and 101-character names with 422', async () => {
    for (const name of ['', '   ', 'x'.repeat(101), 42, undefined]) {
      const reply = await create(name);
      expect(reply.status, String(name)).toBe(422);
      expect(reply.body.detail[0].loc).toEqual(['body', 'name']);
    }
    expect((await create('x'.repeat(100))).status).toBe(201);
  });

  it('needs a session on every route', async () => {
    const replies = [
      await invoke(listKeys, apiEvent('GET /api_keys', '/api_keys')),
      await invoke(createKey, apiEvent('POST /api_keys', '/api_keys', { body: { name: '' } })),
      await invoke(
        deleteKey,
        apiEvent('DELETE /api_keys/{id}', '/api_keys/x', { pathParameters: { id: 'x' } }),
      ),
    ];
    for (const reply of replies) expect(reply.status).toBe(401);
  });
});

describe('API keys under concurrency', () => {
  it('100 concurrent creates give 100 distinct ids and keys', async () => {
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => create(`bulk ${i}`)));
    expect(replies.every((r) => r.status === 201)).toBe(true);
    expect(new Set(replies.map((r) => r.body.id)).size).toBe(100);
    expect(new Set(replies.map((r) => r.body.key)).size).toBe(100);
  });

  it('10 concurrent deletes of one key: one 204, nine 404, no 500', async () => {
    const { id } = Created.parse((await create('contested')).body);
    const replies = await Promise.all(Array.from({ length: 10 }, () => remove(id)));
    expect(replies.filter((r) => r.status === 204)).toHaveLength(1);
    expect(replies.filter((r) => r.status === 404)).toHaveLength(9);
  });

  it('listing while creating never shows the count going down', async () => {
    const counts: number[] = [];
    let creating = true;
    const lister = (async () => {
      while (creating) counts.push((await list()).body.length);
    })();
    await Promise.all(Array.from({ length: 30 }, (_, i) => create(`race ${i}`)));
    creating = false;
    await lister;
    counts.push((await list()).body.length);
    expect(counts.length).toBeGreaterThan(1);
    for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThanOrEqual(counts[i - 1]!);
  });
});

describe('API keys with the database unavailable', () => {
  const everyEndpoint = async () => [
    await list(),
    await create('during outage'),
    await remove('no-such-key-id'),
  ];

  function expectGeneric500(replies: Awaited<ReturnType<typeof everyEndpoint>>) {
    for (const reply of replies) {
      expect(reply.status).toBe(500);
      expect(reply.body).toEqual({ detail: expect.any(String) });
      expect(reply.text).not.toMatch(/Libsql|SQLITE_|Sqlite|SQL/);
    }
  }

  it('answers writes with 500 while another connection holds the write lock (reads go on), and recovers', async () => {
    const file = path.join(data.dir(), 'junjo.db');
    const other = createClient({ url: `file:${file}` });
    await other.execute('BEGIN IMMEDIATE');
    await other.execute("INSERT INTO sign_in_failure (email, failed_at) VALUES ('lock@example.com', 0)");
    try {
      expectGeneric500([await create('during lock'), await remove('no-such-key-id')]);
      // WAL: readers are not blocked by a writer, so listing still answers.
      expect((await list()).status).toBe(200);
    } finally {
      await other.execute('ROLLBACK');
      other.close();
    }
    expect((await create('after lock')).status).toBe(201);
    expect((await list()).status).toBe(200);
  });

  it('answers 500 while the file is unreadable garbage, and recovers when it is restored', async () => {
    const file = path.join(data.dir(), 'junjo.db');
    const db = await Db.get();
    await db.run('PRAGMA wal_checkpoint(TRUNCATE)');
    const good = readFileSync(file);
    await Db.close();
    writeFileSync(file, Buffer.alloc(good.length, 0x5a));
    try {
      expectGeneric500(await everyEndpoint());
    } finally {
      writeFileSync(file, good);
    }
    await Db.close();
    const reply = await list();
    expect(reply.status).toBe(200);
    expect(reply.body.length).toBeGreaterThan(100);
  });
});
