import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { spanQueryDefinition, TOKEN_METADATA } from '@junjo/core/span-query';
import { afterEach, describe, expect, it } from 'vitest';
import { Indexer } from '../../src/indexer/index.ts';
import { startQueryServer } from '../../src/query/server.ts';
import { RecordKind } from '../../src/receiver/pipeline.ts';
import { SpanStore } from '../../src/store/index.ts';
import { Wal } from '../../src/wal/index.ts';
import { request, span } from '../wire.ts';

/** A method of a generic client made from the service definition. */
type UnaryMethod = (
  request: object,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, reply: Record<string, unknown>) => void,
) => void;

let dir = '';
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** The query service on a real store and indexer; `failingWrites` makes every store write fail. */
async function start(options: { host?: string; token?: string; failingWrites?: boolean } = {}) {
  dir = mkdtempSync(path.join(tmpdir(), 'junjo-query-server-'));
  const wal = await Wal.open(path.join(dir, 'wal'));
  cleanups.push(() => wal.close());
  const real = await SpanStore.open(path.join(dir, 'spans.duckdb'));
  cleanups.push(() => real.close());
  const store: SpanStore = options.failingWrites
    ? Object.create(real, { write: { value: () => Promise.reject(new Error('injected write failure')) } })
    : real;
  const indexer = new Indexer(wal, store, { idleMs: 10 });
  const server = await startQueryServer(store, indexer, {
    host: options.host ?? '127.0.0.1',
    port: 0,
    token: options.token,
  });
  cleanups.push(() => server.close());
  const Client = grpc.makeGenericClientConstructor(spanQueryDefinition(), 'SpanQuery');
  const client = new Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
  cleanups.push(() => client.close());
  const call = (method: string, token?: string, timeoutMs = 5_000) => {
    const metadata = new grpc.Metadata();
    if (token !== undefined) metadata.set(TOKEN_METADATA, token);
    return new Promise<Record<string, unknown>>((resolve, reject) =>
      (client as unknown as Record<string, UnaryMethod>)[method]!(
        {},
        metadata,
        { deadline: Date.now() + timeoutMs },
        (error, reply) => (error ? reject(error) : resolve(reply)),
      ),
    );
  };
  return { wal, indexer, server, client, call };
}

describe('query service', () => {
  it('refuses to start on a non-loopback address without a token', async () => {
    await expect(start({ host: '0.0.0.0' })).rejects.toThrow(/JUNJO_INTERNAL_GRPC_TOKEN is required/);
  });

  it('answers only callers with the internal token when it has one', async () => {
    const { call } = await start({ token: 'the internal token' });
    for (const token of [undefined, 'a wrong token', 'the internal token!']) {
      await expect(call('Services', token)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    }
    await expect(call('Services', 'the internal token')).resolves.toEqual({ json: '[]' });
  });

  it('answers grpc.health.v1.Health/Check with SERVING, without a token', async () => {
    const { client } = await start({ token: 'the internal token' });
    const reply = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(
        '/grpc.health.v1.Health/Check',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        (error, value) => (error ? reject(error) : resolve(value!)),
      ),
    );
    // HealthCheckResponse{status: SERVING (1)}.
    expect([...reply]).toEqual([0x08, 0x01]);
  });

  it('gives up a flush before its caller’s deadline, says why, and stops retrying', async () => {
    const { wal, indexer, call } = await start({ failingWrites: true });
    await wal.append(request([span()]), { kind: RecordKind.TRACES });
    // The service's own answer (its details), not the client's deadline running out.
    await expect(call('FlushWal', undefined, 1_000)).rejects.toMatchObject({
      code: grpc.status.DEADLINE_EXCEEDED,
      details: expect.stringMatching(/^the WAL was not indexed up to \d+ by the deadline/),
    });
    // Failed writes are retried after 50, 100, 200, 400, 800 ms…: a flush still going would have retried
    // within the next 1.7 s.
    const failures = indexer.stats.failures;
    expect(failures).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 1_700));
    expect(indexer.stats.failures).toBe(failures);
  });
});
