import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import * as ApiKey from '@junjo/core/api-key';
import * as Config from '@junjo/core/config';
import * as Db from '@junjo/core/db';
import { logger } from '@junjo/core/logger';
import { toSpanRecords } from '@junjo/core/span';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BackupResult } from '../../src/backup/backup.ts';
import { isSnapshotName, type Manifest, parseManifest } from '../../src/backup/manifest.ts';
import { listSnapshots } from '../../src/backup/prune.ts';
import { bucketSource, directorySource, RestoreError, restoreSnapshot } from '../../src/backup/restore.ts';
import { startBackups, WORK_DIR } from '../../src/backup/schedule.ts';
import { decodeTraceRequest } from '../../src/otlp/messages.ts';
import { RecordKind } from '../../src/receiver/pipeline.ts';
import { type RunningIngest, startIngest } from '../../src/server.ts';
import { SpanStore } from '../../src/store/index.ts';
import { Wal } from '../../src/wal/index.ts';
import { fixtureText, ingestEnv, REPO_ROOT } from '../support.ts';
import { fakeBucket } from './fake-bucket.ts';

const BUCKET = 'junjo-test-backups';
const PREFIX = 'junjo-backups/';
const bucket = fakeBucket();
const client = new S3Client({});
const root = mkdtempSync(path.join(tmpdir(), 'junjo-backup-'));
const dataDir = path.join(root, 'data');
const restoredDir = path.join(root, 'restored');
let ingest: RunningIngest;
let key = '';
/** Every trace acknowledged by the first ingest. */
const sent: string[] = [];
/** The backup taken under load, and its manifest. */
let result: BackupResult;
let manifest: Manifest;
let restoredSpans = 0;

beforeAll(async () => {
  // The SDK resolves an endpoint from the region after a single PutObject, even with send() mocked.
  process.env.AWS_REGION = 'us-east-1';
  delete process.env.JUNJO_LIBSQL_URL;
  delete process.env.JUNJO_SESSION_SECRET;
  Object.assign(
    process.env,
    ingestEnv(dataDir, { JUNJO_BACKUP_S3_BUCKET: BUCKET, JUNJO_BACKUP_KEEP: '2', INTERNAL_GRPC_PORT: '0' }),
  );
  ({ key } = await ApiKey.create('backup test'));
  ingest = await startIngest(Config.get());
});

afterAll(async () => {
  await ingest?.close();
  await Db.close();
  bucket.s3.restore();
  rmSync(root, { recursive: true, force: true });
});

const fixture = JSON.parse(fixtureText()) as {
  resourceSpans: Array<{
    resource: { attributes: Array<{ key: string; value: { stringValue: string } }> };
    scopeSpans: Array<{
      spans: Array<{
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        startTimeUnixNano: string;
        endTimeUnixNano: string;
        events?: Array<{ timeUnixNano: string }>;
      }>;
    }>;
  }>;
};
let exports = 0;

/** The Junjo workflow fixture as a new trace: fresh ids, one of three services, shifted by n ms. */
function traceExport(): { traceId: string; body: string } {
  const n = exports++;
  const copy = structuredClone(fixture);
  const traceId = randomBytes(16).toString('hex');
  const ids = new Map<string, string>();
  const idFor = (old: string) => {
    if (!ids.has(old)) ids.set(old, randomBytes(8).toString('hex'));
    return ids.get(old)!;
  };
  const shift = (ns: string) => String(BigInt(ns) + BigInt(n) * 1_000_000n);
  const resource = copy.resourceSpans[0]!;
  resource.resource.attributes.find((a) => a.key === 'service.name')!.value.stringValue = `svc-${n % 3}`;
  for (const span of resource.scopeSpans[0]!.spans) {
    span.traceId = traceId;
    span.spanId = idFor(span.spanId);
    if (span.parentSpanId) span.parentSpanId = idFor(span.parentSpanId);
    span.startTimeUnixNano = shift(span.startTimeUnixNano);
    span.endTimeUnixNano = shift(span.endTimeUnixNano);
    for (const event of span.events ?? []) event.timeUnixNano = shift(event.timeUnixNano);
  }
  return { traceId, body: JSON.stringify(copy) };
}

async function send(target: RunningIngest): Promise<string> {
  const { traceId, body } = traceExport();
  const response = await fetch(`http://127.0.0.1:${target.httpPort}/v1/traces`, {
    method: 'POST',
    headers: { 'x-junjo-api-key': key, 'content-type': 'application/json' },
    body,
  });
  expect(response.status, await response.text()).toBe(200);
  return traceId;
}

const SPANS_PER_TRACE = 9;

/** The stored objects of one snapshot, keyed by file name. */
function objectsOf(name: string): Map<string, Buffer> {
  const base = `${PREFIX}${name}/`;
  return new Map(
    [...bucket.objects].filter(([k]) => k.startsWith(base)).map(([k, v]) => [k.slice(base.length), v]),
  );
}

describe('backups to S3', () => {
  it('retries a failed upload, logging it, while exports keep being acknowledged and indexed', async () => {
    const warn = vi.spyOn(logger, 'warn');
    // The first upload call is held in flight, then fails.
    let release = () => {};
    bucket.gated = 0;
    bucket.gate = new Promise<void>((resolve) => (release = resolve));
    bucket.failures.PutObject = 1;
    let settled = false;
    const backup = ingest.backupNow();
    void backup.finally(() => (settled = true)).catch(() => {});
    // A second trigger joins the backup running.
    expect(ingest.backupNow()).toBe(backup);
    await vi.waitFor(() => expect(bucket.gated).toBe(1), { timeout: 10_000 });

    // Ingest carries on while the backup is in the middle of its upload.
    const traceId = await send(ingest);
    sent.push(traceId);
    await ingest.indexer.flush();
    expect(JSON.parse(await ingest.store.traceSpans(traceId))).toHaveLength(SPANS_PER_TRACE);
    expect(settled).toBe(false);

    bucket.gate = undefined;
    release();
    const result = await backup;
    expect(bucket.failed).toEqual(['PutObject']);
    expect(warn.mock.calls.some(([message]) => message === 'backup: upload failed; retrying')).toBe(true);
    expect([...objectsOf(result.name).keys()].sort()).toEqual([
      'junjo.db.gz',
      'manifest.json',
      'spans.duckdb.gz',
    ]);
    warn.mockRestore();
  });

  it('logs a failed backup, and the next scheduled one still runs', async () => {
    const error = vi.spyOn(logger, 'error');
    const scheduleDir = path.join(root, 'schedule');
    const before = (await listSnapshots(client, BUCKET, PREFIX)).length;
    // Both tries of the first run fail; the run after it succeeds.
    bucket.failed.length = 0;
    bucket.failures.PutObject = 2;
    const backups = startBackups(
      ingest.store,
      { client, bucket: BUCKET, prefix: PREFIX, keep: 10 },
      { intervalMs: 300, dataDir: scheduleDir, retry: { attempts: 2, firstDelayMs: 10 } },
    );
    try {
      await vi.waitFor(
        async () => {
          const snapshots = await listSnapshots(client, BUCKET, PREFIX);
          expect(snapshots.filter((s) => s.complete).length).toBe(before + 1);
        },
        { timeout: 10_000, interval: 100 },
      );
    } finally {
      await backups.stop();
    }
    expect(bucket.failed).toEqual(['PutObject', 'PutObject']);
    expect(error.mock.calls.filter(([message]) => message === 'backup failed')).toHaveLength(1);
    // The failed run's upload left an incomplete snapshot behind; no local snapshot files are left.
    expect(
      (await listSnapshots(client, BUCKET, PREFIX)).filter((s) => !s.complete).length,
    ).toBeLessThanOrEqual(1);
    expect(readdirSync(path.join(scheduleDir, WORK_DIR))).toEqual([]);
    error.mockRestore();
  });

  let walEnd = 0;

  it('snapshots under ingest load: a key per file under <prefix><time>/, the manifest last, pruned to KEEP', async () => {
    bucket.s3.resetHistory();
    let loading = true;
    const sender = async () => {
      while (loading) sent.push(await send(ingest));
    };
    const senders = [sender(), sender(), sender(), sender()];
    await vi.waitFor(() => expect(sent.length).toBeGreaterThan(60), { timeout: 15_000, interval: 20 });
    // The backup's first upload is held until more exports have been acknowledged meanwhile.
    let release = () => {};
    bucket.gated = 0;
    bucket.gate = new Promise<void>((resolve) => (release = resolve));
    const backup = ingest.backupNow();
    await vi.waitFor(() => expect(bucket.gated).toBe(1), { timeout: 15_000, interval: 10 });
    const atUpload = sent.length;
    await vi.waitFor(() => expect(sent.length).toBeGreaterThan(atUpload + 20), {
      timeout: 15_000,
      interval: 20,
    });
    bucket.gate = undefined;
    release();
    result = await backup;
    loading = false;
    await Promise.all(senders);
    await ingest.indexer.flush();
    walEnd = ingest.wal.end();

    expect(isSnapshotName(result.name)).toBe(true);
    expect(result.location).toBe(`s3://${BUCKET}/${PREFIX}${result.name}/`);
    const objects = objectsOf(result.name);
    expect([...objects.keys()].sort()).toEqual(['junjo.db.gz', 'manifest.json', 'spans.duckdb.gz']);
    const puts = bucket.s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => p.Key)).toEqual(
      ['spans.duckdb.gz', 'junjo.db.gz', 'manifest.json'].map((f) => `${PREFIX}${result.name}/${f}`),
    );
    expect(puts.every((p) => p.Bucket === BUCKET)).toBe(true);

    manifest = parseManifest(objects.get('manifest.json')!.toString('utf8'));
    expect(manifest).toMatchObject({
      name: result.name,
      junjoVersion: Config.VERSION,
      walCheckpoint: result.walCheckpoint,
    });
    expect(manifest.duckdbVersion).toMatch(/^v1\./);
    for (const file of manifest.files) {
      const stored = objects.get(file.stored)!;
      expect(stored.length).toBe(file.storedBytes);
      const raw = gunzipSync(stored);
      expect(raw.length).toBe(file.bytes);
      expect(createHash('sha256').update(raw).digest('hex')).toBe(file.sha256);
    }
    // Taken in the middle of the load: after some of it was indexed, before the rest.
    expect(manifest.walCheckpoint).toBeGreaterThan(0);
    expect(manifest.walCheckpoint).toBeLessThan(walEnd);

    // JUNJO_BACKUP_KEEP=2: the earlier snapshots of this file were pruned down to one beside this one.
    const complete = (await listSnapshots(client, BUCKET, PREFIX)).filter((s) => s.complete);
    expect(complete.map((s) => s.name)).toHaveLength(2);
    expect(complete.at(-1)!.name).toBe(result.name);
    expect(result.pruned.length).toBeGreaterThan(0);
    expect(existsSync(path.join(dataDir, WORK_DIR))).toBe(true);
    expect(readdirSync(path.join(dataDir, WORK_DIR))).toEqual([]);
  });

  it('restores into an empty data dir a store that answers the same queries as the one snapshotted', async () => {
    const lines: string[] = [];
    const restored = await restoreSnapshot(
      await bucketSource(client, BUCKET, PREFIX, 'latest'),
      { dataDir: restoredDir, libsqlFile: path.join(restoredDir, 'junjo.db') },
      (line) => lines.push(line),
    );
    expect(restored.name).toBe(result.name);
    restoredSpans = restored.spans;
    expect(lines.some((l) => /sha256 verified/.test(l))).toBe(true);
    expect(readdirSync(restoredDir).sort()).toEqual(['junjo.db', 'spans.duckdb']);

    // What the snapshot must hold: every WAL record before its checkpoint, indexed afresh into a new store.
    await ingest.close();
    const wal = await Wal.open(path.join(dataDir, 'wal'));
    const reference = await SpanStore.open(path.join(root, 'reference.duckdb'));
    const copy = await SpanStore.open(path.join(restoredDir, 'spans.duckdb'));
    try {
      let position = 0;
      let first = true;
      while (position < manifest.walCheckpoint!) {
        const { records } = await wal.read(position);
        // The test's load fits one WAL segment, so nothing was deleted.
        if (first) expect(records[0]!.position).toBe(0);
        first = false;
        for (const record of records) {
          if (record.position >= manifest.walCheckpoint!) break;
          if (record.kind === RecordKind.TRACES) {
            await reference.write(toSpanRecords(decodeTraceRequest(record.payload)), record.next);
          }
          position = record.next;
        }
      }
      expect(position).toBe(manifest.walCheckpoint);

      const spans = (await reference.stats()).spans;
      expect(spans).toBeGreaterThan(0);
      expect(spans).toBeLessThan(sent.length * SPANS_PER_TRACE);
      expect(restored.spans).toBe(spans);
      expect(await copy.stats()).toEqual({
        ...(await reference.stats()),
        fileBytes: expect.any(Number),
        scratchRows: expect.any(Number),
      });
      // The old installation's WAL position is gone: the restored data dir starts a WAL of its own.
      expect(await copy.checkpoint()).toBeUndefined();
      const services = await reference.services();
      expect(await copy.services()).toBe(services);
      for (const service of JSON.parse(services) as string[]) {
        for (const read of [
          (s: SpanStore) => s.serviceSpans(service, 10_000),
          (s: SpanStore) => s.rootSpans(service, { hasLlm: false, limit: 10_000 }),
          (s: SpanStore) => s.rootSpans(service, { hasLlm: true, limit: 10_000 }),
          (s: SpanStore) => s.workflows(service, 10_000),
        ]) {
          expect(await read(copy)).toBe(await read(reference));
        }
      }
      let present = 0;
      for (const traceId of sent.filter((_, i) => i % 5 === 0)) {
        const spansOfTrace = await reference.traceSpans(traceId);
        expect(await copy.traceSpans(traceId)).toBe(spansOfTrace);
        if (spansOfTrace !== '[]') present++;
      }
      expect(present).toBeGreaterThan(0);
    } finally {
      await copy.close();
      await reference.close();
      await wal.close();
    }
  });

  it('runs ingest on the restored data dir: its users and keys, its spans, and new spans beside them', async () => {
    const config = Config.get();
    Config.update({
      dataDir: restoredDir,
      libsql: { ...config.libsql, url: `file:${path.join(restoredDir, 'junjo.db')}` },
      ingest: { ...config.ingest, walDir: path.join(restoredDir, 'wal') },
      backup: { ...config.backup, s3Bucket: undefined },
    });
    ingest = await startIngest(Config.get());
    // junjo.db came back: the API key created before the backup is there.
    expect((await ApiKey.list()).map((k) => k.name)).toEqual(['backup test']);
    const stored = async () => {
      let spans = 0;
      for (const service of JSON.parse(await ingest.store.services()) as string[]) {
        spans += (JSON.parse(await ingest.store.serviceSpans(service, 10_000)) as unknown[]).length;
      }
      return spans;
    };
    const before = await stored();
    expect(before).toBe(restoredSpans);
    const fresh = [await send(ingest), await send(ingest), await send(ingest)];
    await ingest.indexer.flush();
    for (const traceId of fresh) {
      expect(JSON.parse(await ingest.store.traceSpans(traceId))).toHaveLength(SPANS_PER_TRACE);
    }
    expect(await stored()).toBe(before + 3 * SPANS_PER_TRACE);
    // The new WAL's positions are the store's checkpoint now.
    expect(await ingest.store.checkpoint()).toBe(ingest.wal.end());
    const oldest = sent[0]!;
    expect(JSON.parse(await ingest.store.traceSpans(oldest))).toHaveLength(SPANS_PER_TRACE);
    await expect(ingest.backupNow()).rejects.toThrow(/backups are off/);
  });
});

describe('restore safety', () => {
  /** The latest snapshot's objects, written out as a local snapshot directory. */
  function localSnapshot(into: string): string {
    const dir = path.join(root, into);
    mkdirSync(dir);
    for (const [file, bytes] of objectsOf(result.name)) writeFileSync(path.join(dir, file), bytes);
    return dir;
  }
  const cli = (args: string[], env: Record<string, string>) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'packages/ingest/src/backup/restore-cli.ts', ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', JUNJO_LOG_LEVEL: 'silent', ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });

  it('refuses a data dir that already holds a span store or users, changing nothing', async () => {
    const source = directorySource(localSnapshot('local-a'));
    for (const occupied of ['spans.duckdb', 'junjo.db']) {
      const dir = mkdtempSync(path.join(root, 'occupied-'));
      writeFileSync(path.join(dir, occupied), 'precious');
      const target = { dataDir: dir, libsqlFile: path.join(dir, 'junjo.db') };
      await expect(restoreSnapshot(source, target, () => {})).rejects.toThrow(RestoreError);
      await expect(restoreSnapshot(source, target, () => {})).rejects.toThrow(/refusing to restore/);
      expect(readdirSync(dir)).toEqual([occupied]);
      expect(readFileSync(path.join(dir, occupied), 'utf8')).toBe('precious');
    }
  });

  it('finds a snapshot in the bucket by name, key prefix or s3:// URL, and names the newest when one is missing', async () => {
    for (const given of [
      result.name,
      `${PREFIX}${result.name}/`,
      `s3://${BUCKET}/${PREFIX}${result.name}/`,
    ]) {
      expect((await bucketSource(client, BUCKET, PREFIX, given)).location).toBe(result.location);
    }
    await expect(bucketSource(client, BUCKET, PREFIX, '2020-01-01T00-00-00.000Z')).rejects.toThrow(
      `no complete snapshot 2020-01-01T00-00-00.000Z in s3://${BUCKET}/${PREFIX} (the newest is ${result.name}`,
    );
    await expect(bucketSource(client, BUCKET, PREFIX, 'yesterday')).rejects.toThrow(/not a snapshot name/);
    await expect(bucketSource(client, BUCKET, 'empty/', 'latest')).rejects.toThrow(/no complete snapshot in/);
  });

  it('restores the span store alone from a cloud snapshot, and skips junjo.db where users live in a server', async () => {
    // A snapshot from an installation whose users live in a libSQL server: no junjo.db.
    const dir = localSnapshot('local-cloud');
    rmSync(path.join(dir, 'junjo.db.gz'));
    const text = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
    text.files = text.files.filter((f) => f.name !== 'junjo.db');
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(text));
    const intoFile = mkdtempSync(path.join(root, 'cloud-'));
    const lines: string[] = [];
    const restored = await restoreSnapshot(
      directorySource(dir),
      { dataDir: intoFile, libsqlFile: path.join(intoFile, 'junjo.db') },
      (line) => lines.push(line),
    );
    expect(restored.restored).toEqual([path.join(intoFile, 'spans.duckdb')]);
    expect(lines).toContain(
      'the snapshot has no junjo.db (users lived in a libSQL server): only the span store is restored',
    );
    expect(readdirSync(intoFile)).toEqual(['spans.duckdb']);

    // A self-host snapshot restored where JUNJO_LIBSQL_URL is a server: junjo.db is left out, loudly.
    const intoServer = mkdtempSync(path.join(root, 'server-'));
    lines.length = 0;
    await restoreSnapshot(directorySource(localSnapshot('local-full')), { dataDir: intoServer }, (line) =>
      lines.push(line),
    );
    expect(lines).toContain('skipping junjo.db: JUNJO_LIBSQL_URL is a libSQL server here, not a file');
    expect(readdirSync(intoServer)).toEqual(['spans.duckdb']);
  });

  it('refuses a snapshot whose files do not match its manifest, leaving the data dir empty', async () => {
    const dir = localSnapshot('local-b');
    const text = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
    text.files[0]!.sha256 = '0'.repeat(64);
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(text));
    const target = mkdtempSync(path.join(root, 'damaged-'));
    await expect(
      restoreSnapshot(
        directorySource(dir),
        { dataDir: target, libsqlFile: path.join(target, 'junjo.db') },
        () => {},
      ),
    ).rejects.toThrow(/does not match the manifest/);
    expect(readdirSync(target)).toEqual([]);
  });

  it('npm run restore: restores a local snapshot directory, and exits 1 on an occupied data dir', () => {
    const scripts = (
      JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
        scripts: Record<string, string>;
      }
    ).scripts;
    expect(scripts.restore).toBe('tsx packages/ingest/src/backup/restore-cli.ts');
    const dir = localSnapshot('local-c');
    const target = path.join(root, 'cli-target');
    const ok = cli([dir], { JUNJO_DATA_DIR: target });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/sha256 verified/);
    expect(ok.stdout).toContain(`restored snapshot ${result.name}`);
    expect(existsSync(path.join(target, 'spans.duckdb'))).toBe(true);
    expect(existsSync(path.join(target, 'junjo.db'))).toBe(true);

    const again = cli([dir], { JUNJO_DATA_DIR: target });
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/^restore: refusing to restore into .*spans\.duckdb/);

    const usage = cli([], { JUNJO_DATA_DIR: target });
    expect(usage.status).toBe(1);
    expect(usage.stdout).toMatch(/usage: npm run restore -- <snapshot>/);
  });
});
