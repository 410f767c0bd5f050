import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ApiKey from '@junjo/core/api-key';
import * as Config from '@junjo/core/config';
import * as Db from '@junjo/core/db';
import { afterAll, beforeAll } from 'vitest';
import { type AnyValue, decodeTraceRequest, type Span } from '../src/otlp/messages.ts';
import { type RunningIngest, startIngest } from '../src/server.ts';
import type { Wal } from '../src/wal/index.ts';

/** The repository root, and the team's shared/ folder beside it (CI lays it out the same way). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const FIXTURE_PATH = path.join(REPO_ROOT, '..', 'shared', 'fixtures', 'junjo-workflow.otlp.json');
export const fixtureText = () => readFileSync(FIXTURE_PATH, 'utf8');

/** Environment for an ingest under test: a temp data dir, loopback, port 0 everywhere. */
export function ingestEnv(dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    JUNJO_DATA_DIR: dataDir,
    JUNJO_LOG_LEVEL: 'silent',
    JUNJO_INGEST_HOST: '127.0.0.1',
    GRPC_PORT: '0',
    OTLP_HTTP_PORT: '0',
    INTERNAL_GRPC_PORT: '0',
    ...extra,
  };
}

export interface IngestUnderTest {
  ingest: RunningIngest;
  dataDir: string;
  key: string;
  grpcUrl: string;
  httpUrl: string;
}

/**
 * Runs a real ingest (receivers + WAL + libSQL key store) in this test file's process, with one valid API
 * key. Vitest isolates modules per file, so the config is this file's own.
 */
export function useIngest(extra: Record<string, string> = {}): () => IngestUnderTest {
  let current: IngestUnderTest | undefined;
  beforeAll(async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'junjo-ingest-'));
    delete process.env.JUNJO_LIBSQL_URL;
    delete process.env.JUNJO_SESSION_SECRET;
    Object.assign(process.env, ingestEnv(dataDir, extra));
    const { key } = await ApiKey.create('ingest test');
    const ingest = await startIngest(Config.get());
    current = {
      ingest,
      dataDir,
      key,
      grpcUrl: `http://127.0.0.1:${ingest.grpcPort}`,
      httpUrl: `http://127.0.0.1:${ingest.httpPort}`,
    };
  });
  afterAll(async () => {
    await current?.ingest.close();
    await Db.close();
    if (current) rmSync(current.dataDir, { recursive: true, force: true });
  });
  return () => {
    if (!current) throw new Error('ingest not started');
    return current;
  };
}

const hex = (bytes: Uint8Array | undefined) => Buffer.from(bytes ?? []).toString('hex');

/** Every span in the WAL (from `from`), as `{traceId, spanId, name, attributes}` with hex ids. */
export async function spansInWal(wal: Wal, from = 0) {
  const spans: Array<{
    traceId: string;
    spanId: string;
    name: string;
    span: Span;
    service: AnyValue | undefined;
  }> = [];
  let position = from;
  for (;;) {
    const { records, next } = await wal.read(position);
    if (records.length === 0) break;
    for (const record of records) {
      const request = decodeTraceRequest(record.payload);
      for (const rs of request.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value;
        for (const ss of rs.scopeSpans) {
          for (const span of ss.spans) {
            spans.push({
              traceId: hex(span.traceId),
              spanId: hex(span.spanId),
              name: span.name,
              span,
              service,
            });
          }
        }
      }
    }
    if (next === position) break;
    position = next;
  }
  return spans;
}
