import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Config } from '@junjo/core/config';
import { logger } from '@junjo/core/logger';

/** Multipart above this size, in parts of this size (S3's minimum part is 5 MiB). */
export const PART_BYTES = 16 * 1024 * 1024;
/** Parts uploaded at once; each is buffered in memory, so this bounds what an upload holds (32 MiB). */
const QUEUE_SIZE = 2;

export interface RetryOptions {
  /** Tries per file, the first included. */
  attempts: number;
  /** Wait before the second try; doubled before each later one. */
  firstDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 4, firstDelayMs: 2_000 };

/**
 * The S3 client of the backups: region and credentials from the SDK's usual chain; with an endpoint (MinIO
 * and other S3-compatible stores) path-style addressing, and checksums only where S3 requires them, which
 * those stores do not all understand.
 */
export function createS3Client(backup: Config['backup']): S3Client {
  if (!backup.s3Endpoint) return new S3Client({});
  return new S3Client({
    endpoint: backup.s3Endpoint,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export interface UploadFileOptions {
  bucket: string;
  key: string;
  file: string;
  contentType: string;
  partSize?: number;
  retry?: RetryOptions;
  /** Aborts the upload in progress and any retry still to come. */
  signal?: AbortSignal;
}

/**
 * Uploads `file` to `bucket`/`key`: one PutObject up to the part size, a multipart upload above it (a failed
 * multipart upload is aborted, so no parts are left behind). A failed try is logged and retried after a
 * growing pause; the last failure is thrown.
 */
export async function uploadFile(client: S3Client, options: UploadFileOptions): Promise<void> {
  const { attempts, firstDelayMs } = options.retry ?? DEFAULT_RETRY;
  const { size } = await stat(options.file);
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      await uploadOnce(client, options, size);
      return;
    } catch (error) {
      if (options.signal?.aborted || attempt >= attempts) throw error;
      const delayMs = firstDelayMs * 2 ** (attempt - 1);
      logger.warn('backup: upload failed; retrying', {
        // Not `key`: the logger redacts fields of that name.
        object: options.key,
        attempt,
        attempts,
        retryInMs: delayMs,
        error: error as Error,
      });
      await sleep(delayMs, undefined, { signal: options.signal });
    }
  }
}

async function uploadOnce(client: S3Client, options: UploadFileOptions, size: number): Promise<void> {
  const body = createReadStream(options.file);
  const upload = new Upload({
    client,
    params: {
      Bucket: options.bucket,
      Key: options.key,
      Body: body,
      ContentLength: size,
      ContentType: options.contentType,
    },
    partSize: options.partSize ?? PART_BYTES,
    queueSize: QUEUE_SIZE,
  });
  const abort = () => void upload.abort();
  options.signal?.addEventListener('abort', abort, { once: true });
  try {
    await upload.done();
  } finally {
    options.signal?.removeEventListener('abort', abort);
    body.destroy();
  }
}
