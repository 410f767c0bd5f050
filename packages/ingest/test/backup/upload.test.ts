import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { logger } from '@junjo/core/logger';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { snapshotName } from '../../src/backup/manifest.ts';
import { listSnapshots, pruneSnapshots } from '../../src/backup/prune.ts';
import { uploadFile } from '../../src/backup/upload.ts';
import { fakeBucket } from './fake-bucket.ts';

const MIB = 1024 * 1024;
const bucket = fakeBucket(4);
const client = new S3Client({});
const FAST_RETRY = { attempts: 3, firstDelayMs: 10 };
let dir = '';

beforeAll(() => {
  // The SDK resolves an endpoint from the region after a single PutObject, even with send() mocked.
  process.env.AWS_REGION = 'us-east-1';
  logger.setLogLevel('SILENT');
  dir = mkdtempSync(path.join(tmpdir(), 'junjo-upload-'));
});
afterAll(() => {
  bucket.s3.restore();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  bucket.reset();
  vi.restoreAllMocks();
});

function file(name: string, bytes: number): { file: string; content: Buffer } {
  const content = randomBytes(bytes);
  const at = path.join(dir, name);
  writeFileSync(at, content);
  return { file: at, content };
}

describe('uploadFile', () => {
  it('uploads a file larger than a part as a multipart upload, parts in order', async () => {
    const { file: big, content } = file('big.gz', 12 * MIB + 123);
    await uploadFile(client, {
      bucket: 'backups',
      key: 'junjo-backups/x/spans.duckdb.gz',
      file: big,
      contentType: 'application/gzip',
      partSize: 5 * MIB,
    });
    const create = bucket.s3.commandCalls(CreateMultipartUploadCommand);
    expect(create).toHaveLength(1);
    expect(create[0]!.args[0].input).toMatchObject({
      Bucket: 'backups',
      Key: 'junjo-backups/x/spans.duckdb.gz',
      ContentType: 'application/gzip',
    });
    const parts = bucket.s3.commandCalls(UploadPartCommand).map((c) => c.args[0].input);
    expect(parts.map((p) => p.PartNumber).sort()).toEqual([1, 2, 3]);
    expect(parts.map((p) => (p.Body as Buffer).length).sort((a, b) => b - a)).toEqual([
      5 * MIB,
      5 * MIB,
      2 * MIB + 123,
    ]);
    const complete = bucket.s3.commandCalls(CompleteMultipartUploadCommand);
    expect(complete).toHaveLength(1);
    expect(complete[0]!.args[0].input.MultipartUpload?.Parts?.map((p) => p.PartNumber)).toEqual([1, 2, 3]);
    expect(bucket.s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(bucket.objects.get('junjo-backups/x/spans.duckdb.gz')!.equals(content)).toBe(true);
  });

  it('uploads a file of one part or less with a single PutObject', async () => {
    const { file: small, content } = file('small.json', 1000);
    await uploadFile(client, {
      bucket: 'backups',
      key: 'p/manifest.json',
      file: small,
      contentType: 'application/json',
    });
    const puts = bucket.s3.commandCalls(PutObjectCommand);
    expect(puts).toHaveLength(1);
    expect(puts[0]!.args[0].input).toMatchObject({ Bucket: 'backups', Key: 'p/manifest.json' });
    expect(bucket.s3.commandCalls(CreateMultipartUploadCommand)).toHaveLength(0);
    expect(bucket.objects.get('p/manifest.json')!.equals(content)).toBe(true);
  });

  it('retries a failed multipart upload, aborting the failed one and logging each failure', async () => {
    const warn = vi.spyOn(logger, 'warn');
    const { file: big, content } = file('retried.gz', 11 * MIB);
    bucket.failures.UploadPart = 2;
    await uploadFile(client, {
      bucket: 'backups',
      key: 'k/spans.duckdb.gz',
      file: big,
      contentType: 'application/gzip',
      partSize: 5 * MIB,
      retry: FAST_RETRY,
    });
    expect(bucket.failed).toEqual(['UploadPart', 'UploadPart']);
    const failures = warn.mock.calls.filter(([message]) => message === 'backup: upload failed; retrying');
    expect(failures.length).toBeGreaterThanOrEqual(1);
    expect(failures[0]![1]).toMatchObject({ object: 'k/spans.duckdb.gz', attempt: 1, attempts: 3 });
    // No parts are left behind in the bucket by the failed tries.
    expect(bucket.s3.commandCalls(AbortMultipartUploadCommand).length).toBe(failures.length);
    expect(bucket.objects.get('k/spans.duckdb.gz')!.equals(content)).toBe(true);
  });

  it('gives up after the last attempt and throws its error', async () => {
    const { file: small } = file('doomed.json', 10);
    bucket.failures.PutObject = 5;
    await expect(
      uploadFile(client, {
        bucket: 'backups',
        key: 'k/manifest.json',
        file: small,
        contentType: 'application/json',
        retry: FAST_RETRY,
      }),
    ).rejects.toThrow('injected PutObject failure');
    expect(bucket.s3.commandCalls(PutObjectCommand)).toHaveLength(3);
    expect(bucket.objects.has('k/manifest.json')).toBe(false);
  });

  it('stops retrying once aborted', async () => {
    const { file: small } = file('aborted.json', 10);
    bucket.failures.PutObject = 5;
    const abort = new AbortController();
    const upload = uploadFile(client, {
      bucket: 'backups',
      key: 'k/manifest.json',
      file: small,
      contentType: 'application/json',
      retry: { attempts: 5, firstDelayMs: 60_000 },
      signal: abort.signal,
    });
    await vi.waitFor(() => expect(bucket.failed).toHaveLength(1));
    abort.abort();
    await expect(upload).rejects.toThrow(/abort/i);
    expect(bucket.s3.commandCalls(PutObjectCommand)).toHaveLength(1);
  });
});

describe('pruning', () => {
  const PREFIX = 'junjo-backups/';
  const names = Array.from({ length: 6 }, (_, i) => snapshotName(new Date(Date.UTC(2026, 0, 1 + i, 2))));
  const put = (key: string) => bucket.objects.set(key, Buffer.from('x'));
  const snapshot = (name: string, complete = true) => {
    put(`${PREFIX}${name}/spans.duckdb.gz`);
    put(`${PREFIX}${name}/junjo.db.gz`);
    if (complete) put(`${PREFIX}${name}/manifest.json`);
  };

  it('keeps the newest complete snapshots, deletes older ones and failed leftovers, and nothing else', async () => {
    for (const name of names) snapshot(name, name !== names[2] && name !== names[5]);
    // Not ours: another prefix, and keys under ours that are not shaped like a snapshot's.
    put('other/2026-01-01T02-00-00.000Z/manifest.json');
    put(`${PREFIX}notes.txt`);
    put(`${PREFIX}not-a-snapshot/manifest.json`);
    const listed = await listSnapshots(client, 'backups', PREFIX);
    expect(listed.map((s) => [s.name, s.complete])).toEqual(names.map((n, i) => [n, i !== 2 && i !== 5]));

    // names[4] was just written; names[5] is incomplete and newer, so it is left alone.
    const pruned = await pruneSnapshots(client, {
      bucket: 'backups',
      prefix: PREFIX,
      keep: 2,
      current: names[4],
    });
    expect(pruned).toEqual([names[0], names[1], names[2]]);
    const deleted = bucket.s3
      .commandCalls(DeleteObjectsCommand)
      .flatMap((c) => c.args[0].input.Delete!.Objects!.map((o) => o.Key));
    expect(deleted.sort()).toEqual(
      [names[0], names[1], names[2]]
        .flatMap((n) => [
          `${PREFIX}${n}/junjo.db.gz`,
          `${PREFIX}${n}/manifest.json`,
          `${PREFIX}${n}/spans.duckdb.gz`,
        ])
        .filter((k) => k !== `${PREFIX}${names[2]}/manifest.json`),
    );
    expect([...bucket.objects.keys()].sort()).toEqual(
      [
        `${PREFIX}${names[3]}/junjo.db.gz`,
        `${PREFIX}${names[3]}/manifest.json`,
        `${PREFIX}${names[3]}/spans.duckdb.gz`,
        `${PREFIX}${names[4]}/junjo.db.gz`,
        `${PREFIX}${names[4]}/manifest.json`,
        `${PREFIX}${names[4]}/spans.duckdb.gz`,
        `${PREFIX}${names[5]}/junjo.db.gz`,
        `${PREFIX}${names[5]}/spans.duckdb.gz`,
        `${PREFIX}not-a-snapshot/manifest.json`,
        `${PREFIX}notes.txt`,
        'other/2026-01-01T02-00-00.000Z/manifest.json',
      ].sort(),
    );
  });

  it('deletes nothing while there are no more complete snapshots than it keeps', async () => {
    for (const name of names.slice(0, 3)) snapshot(name);
    expect(await pruneSnapshots(client, { bucket: 'backups', prefix: PREFIX, keep: 3 })).toEqual([]);
    expect(bucket.s3.commandCalls(DeleteObjectsCommand)).toHaveLength(0);
    expect(bucket.objects.size).toBe(9);
  });
});
