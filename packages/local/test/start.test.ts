import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const dataDir = mkdtempSync(path.join(tmpdir(), 'junjo-start-'));
let child: ChildProcess | undefined;
let output = '';

afterAll(() => {
  try {
    if (child?.pid) process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  rmSync(dataDir, { recursive: true, force: true });
});

/** Resolves with the first match of `pattern` in the child's output, or rejects after `ms`. */
function waitFor(pattern: RegExp, ms: number): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${pattern}; output:\n${output}`)),
      ms,
    );
    const check = () => {
      const m = output.match(pattern);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      } else setTimeout(check, 50);
    };
    check();
  });
}

describe('npm start', () => {
  it('serves the API on embedded defaults, drives a session flow, and stops cleanly on SIGINT', async () => {
    // A fresh data dir and port 0: exactly what a new user gets, minus the fixed port.
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      JUNJO_DATA_DIR: dataDir,
      JUNJO_BACKEND_PORT: '0',
      JUNJO_BACKEND_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      OTLP_HTTP_PORT: '0',
      INTERNAL_GRPC_PORT: '0',
      JUNJO_INGEST_HOST: '127.0.0.1',
    };
    for (const key of ['JUNJO_LIBSQL_URL', 'JUNJO_SESSION_SECRET', 'JUNJO_ENV', 'JUNJO_LOG_LEVEL'])
      delete env[key];
    child = spawn('npm', ['start'], {
      cwd: repoRoot,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));

    const [, base] = await waitFor(/HTTP API:\s+(http:\/\/\S+)/, 30_000);
    const [, otlpHttp] = await waitFor(/OTLP\/HTTP:\s+(http:\/\/\S+)/, 1000);
    // Printed after a database check that follows the URLs, so it may arrive in a later chunk.
    await waitFor(/No user exists yet/, 10_000);
    expect(statSync(path.join(dataDir, 'session-secret')).mode & 0o777).toBe(0o600);

    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', app_name: 'Junjo Server' });

    const creds = JSON.stringify({ email: 'first@example.com', password: 'first password' });
    const headers = { 'content-type': 'application/json' };
    expect(
      (await fetch(`${base}/users/create-first-user`, { method: 'POST', headers, body: creds })).status,
    ).toBe(200);
    const signIn = await fetch(`${base}/sign-in`, { method: 'POST', headers, body: creds });
    expect(signIn.status).toBe(200);
    const cookie = signIn.headers.getSetCookie()[0]!.split(';')[0]!;
    const users = await fetch(`${base}/users`, { headers: { cookie } });
    expect(users.status).toBe(200);
    // An API key made through the API lets the fixture trace in through the ingest process's OTLP/HTTP port.
    const created = await fetch(`${base}/api_keys`, {
      method: 'POST',
      headers: { ...headers, cookie },
      body: '{"name":"e2e"}',
    });
    const { key } = (await created.json()) as { key: string };
    const fixture = readFileSync(path.join(repoRoot, '..', 'shared', 'fixtures', 'junjo-workflow.otlp.json'));
    const exported = await fetch(otlpHttp!, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-junjo-api-key': key },
      body: fixture,
    });
    expect(exported.status).toBe(200);
    expect(await exported.json()).toEqual({});
    const refused = await fetch(otlpHttp!, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: fixture,
    });
    expect(refused.status).toBe(401);

    expect(((await users.json()) as unknown[])[0]).toMatchObject({
      email: 'first@example.com',
      is_active: true,
    });

    // Ctrl+C in a terminal signals the whole process group (npm, tsx, node).
    const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()));
    process.kill(-child.pid!, 'SIGINT');
    // "stopped" is printed only after the HTTP server, the ingest process and the database closed cleanly.
    await waitFor(/SIGINT: stopping…[\s\S]*ingest stopped[\s\S]*\nstopped\n/, 10_000);
    await exited;
    await expect(fetch(`${base}/ping`)).rejects.toThrow();
  });
});
