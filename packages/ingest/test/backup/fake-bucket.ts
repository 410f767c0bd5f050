import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';

/** Which calls fail next: a test sets `failures[command] = n` to make the next n calls of it reject. */
export type FailingCommand = 'PutObject' | 'UploadPart' | 'ListObjectsV2' | 'DeleteObjects';

export interface FakeBucket {
  /** Every S3Client is stubbed (aws-sdk-client-mock): assert its calls with `s3.commandCalls(…)`. */
  s3: AwsClientStub<S3Client>;
  /** Stored objects by key; completed multipart uploads are joined. */
  objects: Map<string, Buffer>;
  failures: Partial<Record<FailingCommand, number>>;
  /** Injected failures so far. */
  failed: FailingCommand[];
  /** While set, PutObject calls wait for it before they fail or store: a backup held mid-upload. */
  gate: Promise<void> | undefined;
  /** PutObject calls that have reached the gate. */
  gated: number;
  /** Forgets the objects and the recorded calls. */
  reset(): void;
}

async function bytesOf(body: unknown): Promise<Buffer> {
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body);
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/**
 * An in-memory bucket behind a mocked S3 client, so a backup and a restore can run against one: objects are
 * kept, listed (in pages of `pageSize` keys, in key order, like S3), read back and deleted. Uploads through
 * @aws-sdk/lib-storage work both ways, PutObject and multipart. Bucket names are not checked.
 */
export function fakeBucket(pageSize = 1000): FakeBucket {
  const s3 = mockClient(S3Client);
  const objects = new Map<string, Buffer>();
  const parts = new Map<string, Map<number, Buffer>>();
  const bucket: FakeBucket = {
    s3,
    objects,
    failures: {},
    failed: [],
    gate: undefined,
    gated: 0,
    reset() {
      objects.clear();
      parts.clear();
      bucket.failures = {};
      bucket.failed.length = 0;
      bucket.gate = undefined;
      bucket.gated = 0;
      s3.resetHistory();
    },
  };
  const maybeFail = (command: FailingCommand) => {
    const left = bucket.failures[command] ?? 0;
    if (left > 0) {
      bucket.failures[command] = left - 1;
      bucket.failed.push(command);
      throw Object.assign(new Error(`injected ${command} failure`), { name: 'ServiceUnavailable' });
    }
  };
  let uploads = 0;

  s3.on(PutObjectCommand).callsFake(async (input) => {
    if (bucket.gate) {
      bucket.gated++;
      await bucket.gate;
    }
    maybeFail('PutObject');
    objects.set(input.Key, await bytesOf(input.Body));
    return { ETag: '"etag"' };
  });
  s3.on(CreateMultipartUploadCommand).callsFake(async () => {
    const id = `upload-${++uploads}`;
    parts.set(id, new Map());
    return { UploadId: id };
  });
  s3.on(UploadPartCommand).callsFake(async (input) => {
    maybeFail('UploadPart');
    parts.get(input.UploadId)!.set(input.PartNumber, await bytesOf(input.Body));
    return { ETag: `"part-${input.PartNumber}"` };
  });
  s3.on(CompleteMultipartUploadCommand).callsFake(async (input) => {
    const uploaded = parts.get(input.UploadId)!;
    const listed = (input.MultipartUpload.Parts as Array<{ PartNumber: number }>).map((p) => p.PartNumber);
    objects.set(input.Key, Buffer.concat(listed.map((n) => uploaded.get(n)!)));
    parts.delete(input.UploadId);
    return { ETag: '"multipart"', Key: input.Key, Bucket: input.Bucket };
  });
  s3.on(AbortMultipartUploadCommand).callsFake(async (input) => {
    parts.delete(input.UploadId);
    return {};
  });
  s3.on(ListObjectsV2Command).callsFake(async (input) => {
    maybeFail('ListObjectsV2');
    const keys = [...objects.keys()].filter((k) => k.startsWith(input.Prefix ?? '')).sort();
    const start = input.ContinuationToken ? Number(input.ContinuationToken) : 0;
    const page = keys.slice(start, start + pageSize);
    const more = start + pageSize < keys.length;
    return {
      Contents: page.map((Key) => ({ Key, Size: objects.get(Key)!.length })),
      KeyCount: page.length,
      IsTruncated: more,
      NextContinuationToken: more ? String(start + pageSize) : undefined,
    };
  });
  s3.on(GetObjectCommand).callsFake(async (input) => {
    const body = objects.get(input.Key);
    if (!body) throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} });
    return { Body: Readable.from([body]), ContentLength: body.length };
  });
  s3.on(DeleteObjectsCommand).callsFake(async (input) => {
    maybeFail('DeleteObjects');
    for (const { Key } of input.Delete.Objects as Array<{ Key: string }>) objects.delete(Key);
    return { Deleted: input.Delete.Objects };
  });
  return bucket;
}
