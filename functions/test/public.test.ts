import { writeFileSync } from 'node:fs';
import path from 'node:path';
import * as Db from '@junjo/core/db';
import { describe, expect, it } from 'vitest';
import { handler as getConfig } from '../config/get.ts';
import { handler as health } from '../health.ts';
import { handler as ping } from '../ping.ts';
import { handler as dbHasUsers } from '../users/db-has-users.ts';
import { apiEvent, invoke, useTempDataDir } from './support.ts';

const data = useTempDataDir();

describe('public endpoints', () => {
  it('GET /ping answers pong as text', async () => {
    const reply = await invoke(ping, apiEvent('GET /ping', '/ping'));
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('pong');
    expect(reply.headers['content-type']).toMatch(/^text\/plain/);
  });

  it('GET /health is ok when the user store answers', async () => {
    const reply = await invoke(health, apiEvent('GET /health', '/health'));
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({
      status: 'ok',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      app_name: 'Junjo Server',
    });
  });

  it('GET /api/config shows the development URLs', async () => {
    const reply = await invoke(getConfig, apiEvent('GET /api/config', '/api/config'));
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({
      environment: 'development',
      otlp_endpoint: 'grpc://localhost:50051',
      frontend_url: 'http://localhost:5153',
      backend_url: 'http://localhost:1323',
    });
  });

  it('answers a broken store with a generic 500 (no driver error) and /health with 503 degraded', async () => {
    await Db.close();
    // Replace the database with bytes that are not SQLite: every query now fails inside the driver.
    const file = path.join(data.dir(), 'junjo.db');
    for (const suffix of ['', '-wal', '-shm'])
      writeFileSync(file + suffix, suffix ? '' : 'this is not a database '.repeat(200));
    const reply = await invoke(dbHasUsers, apiEvent('GET /users/db-has-users', '/users/db-has-users'));
    expect(reply.status).toBe(500);
    expect(reply.body).toEqual({ detail: 'Internal Server Error' });
    expect(reply.text).not.toMatch(/libsql|sqlite|SQL|stack|at /i);
    expect(reply.headers['x-request-id']).toBeTruthy();

    const degraded = await invoke(health, apiEvent('GET /health', '/health'));
    expect(degraded.status).toBe(503);
    expect(degraded.body).toMatchObject({ status: 'degraded', app_name: 'Junjo Server' });
  });
});
