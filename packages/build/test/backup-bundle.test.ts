import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ApiKey from '@junjo/core/api-key';
import * as Config from '@junjo/core/config';
import * as Db from '@junjo/core/db';
import * as SpanQuery from '@junjo/core/span-query';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SpanStore } from '../../ingest/src/store/index.ts';
import { build, REPO_ROOT } from '../build.ts';
import { type FakeS3Server, startFakeS3 } from './fake-s3-server.ts';

// Outside the repository, so the bundles cannot fall back on the repository's node_modules or sources.
const outDir = mkdtempSync(path.join(tmpdir(), 'junjo-backup-bundle-'));
const dataDir = path.join(outDir, 'data');
const restoredDir = path.join(outDir, 'restored');
const children: ChildProcess[] = [];
let s3: FakeS3Server;

beforeAll(async () => {
  await build({ outDir, targets: ['ingest'] });
  s3 = await startFakeS3();
}, 120_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  SpanQuery.close();
  await Db.close();
  await s3?.close();
  rmSync(outDir, { recursive: true, force: true });
});

/** What the backup and restore bundles need: the bucket on the fake S3 and the SDK's usual credentials. */
const s3Env = () => ({
  PATH: process.env.PATH ?? '',
  JUNJO_LOG_LEVEL: 'warn',
  JUNJO_BACKUP_S3_BUCKET: 'junjo-bundle-test',
  JUNJO_BACKUP_S3_ENDPOINT: s3.endpoint,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIAFAKEFORTESTS',
  AWS_SECRET_ACCESS_KEY: 'fake-secret-for-tests',
});

/** Runs a bundle to its end, asynchronously: the fake S3 server answers from this process's event loop. */
function run(bundle: string, args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [path.join(outDir, 'ingest', bundle), ...args], { cwd: outDir, env });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (status) => resolve({ status, stdout, stderr })),
  );
}

const manifests = () => [...s3.objects.keys()].filter((k) => k.endsWith('/manifest.json')).sort();

describe('the backup and restore bundles', () => {
  it('back up the running ingest bundle to an S3 endpoint (on demand and on SIGUSR2) and restore it', async () => {
    const env = {
      ...s3Env(),
      JUNJO_DATA_DIR: dataDir,
      GRPC_PORT: '0',
      OTLP_HTTP_PORT: '0',
      INTERNAL_GRPC_PORT: '0',
    };
    const ingest = spawn(process.execPath, [path.join(outDir, 'ingest/main.mjs')], {
      cwd: outDir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(ingest);
    let output = '';
    ingest.stdout!.on('data', (d) => (output += d));
    ingest.stderr!.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => ingest.once('exit', (code) => resolve(code)));
    await vi.waitFor(() => expect(output).toMatch(/ingest listening/), { timeout: 20_000, interval: 50 });
    const [, otlpHttp, queryPort] = output.match(/OTLP\/HTTP (\S+), query \S+:(\d+)/)!;

    // An API key in the shared libSQL file, a trace in, indexed.
    Object.assign(process.env, { JUNJO_DATA_DIR: dataDir, JUNJO_LOG_LEVEL: 'silent' });
    delete process.env.JUNJO_LIBSQL_URL;
    Config.update({ queryUrl: `127.0.0.1:${queryPort}` });
    const { key } = await ApiKey.create('bundle backup');
    const fixture = readFileSync(
      path.join(REPO_ROOT, '..', 'shared', 'fixtures', 'junjo-workflow.otlp.json'),
    );
    const exported = await fetch(`http://${otlpHttp}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-junjo-api-key': key },
      body: fixture,
    });
    expect(exported.status).toBe(200);
    await SpanQuery.flushWal();

    // npm run backup, bundled: through the query service to the ingest process, which uploads over HTTP.
    const backup = await run('backup.mjs', [], {
      ...s3Env(),
      JUNJO_DATA_DIR: dataDir,
      JUNJO_QUERY_URL: `127.0.0.1:${queryPort}`,
    });
    expect(backup.status, backup.stderr + output).toBe(0);
    const [, name] = backup.stdout.match(
      /backup (\S+) uploaded to s3:\/\/junjo-bundle-test\/junjo-backups\/\1\//,
    )!;
    expect([...s3.objects.keys()].sort()).toEqual(
      ['junjo.db.gz', 'manifest.json', 'spans.duckdb.gz'].map(
        (f) => `junjo-bundle-test/junjo-backups/${name}/${f}`,
      ),
    );
    expect(s3.requests.some((r) => /^GET \/junjo-bundle-test\/?\?list-type=2/.test(r))).toBe(true);

    // SIGUSR2 takes another.
    ingest.kill('SIGUSR2');
    await vi.waitFor(() => expect(manifests()).toHaveLength(2), { timeout: 20_000, interval: 100 });
    ingest.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(readdirSync(path.join(dataDir, 'backup-tmp'))).toEqual([]);

    // npm run restore -- latest, bundled, into an empty data dir.
    const restore = await run('restore.mjs', ['latest'], { ...s3Env(), JUNJO_DATA_DIR: restoredDir });
    expect(restore.status, restore.stderr).toBe(0);
    const latest = manifests().at(-1)!.split('/').at(-2)!;
    expect(restore.stdout).toContain(`restored snapshot ${latest} (9 spans)`);
    expect(readdirSync(restoredDir)).toEqual(expect.arrayContaining(['junjo.db', 'spans.duckdb']));
    const store = await SpanStore.open(path.join(restoredDir, 'spans.duckdb'));
    try {
      expect(await store.services()).toBe('["doc-qa-app"]');
      expect(JSON.parse(await store.traceSpans('5b8efff798038103d269b633813fc60c'))).toHaveLength(9);
      expect(await store.checkpoint()).toBeUndefined();
    } finally {
      await store.close();
    }

    // Listing, and a refusal now that the data dir is taken.
    const list = await run('restore.mjs', ['--list'], { ...s3Env(), JUNJO_DATA_DIR: restoredDir });
    expect(list.status).toBe(0);
    expect(list.stdout).toContain(`  ${name}  `);
    const again = await run('restore.mjs', ['latest'], { ...s3Env(), JUNJO_DATA_DIR: restoredDir });
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/refusing to restore/);
  }, 90_000);
});
