import { timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { logger } from '@junjo/core/logger';
import { spanQueryDefinition, TOKEN_METADATA } from '@junjo/core/span-query';
import { FlushTimeout, type Indexer } from '../indexer/index.ts';
import type { SpanStore } from '../store/index.ts';

export interface QueryServerOptions {
  host: string;
  port: number;
  /** Required from callers unless the service is bound to loopback. */
  token?: string;
  /** Backs up now (RunningIngest.backupNow); the Backup call answers that backups are off without it. */
  backupNow?: () => Promise<{ name: string; location: string }>;
}

/** How long before its caller's deadline a flush gives up, to answer in time. */
const FLUSH_ANSWER_MS = 200;
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const raw = (b: Buffer) => b;
/** grpc.health.v1.HealthCheckResponse{status: SERVING}. */
const SERVING = Buffer.from([0x08, 0x01]);

function tokenMatches(expected: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `deadline`: the caller's, in epoch ms (Infinity when it set none). */
type Handler = (request: Record<string, unknown>, deadline: number) => Promise<object>;

/**
 * The span query service (proto/junjo/query/v1/query.proto): the HTTP handlers' only way to the DuckDB
 * file, which this process alone opens. Replies carry the contract's JSON text, rendered by the store.
 */
export async function startQueryServer(
  store: SpanStore,
  indexer: Indexer,
  options: QueryServerOptions,
): Promise<{ port: number; close(): Promise<void> }> {
  if (!LOOPBACK.has(options.host) && !options.token) {
    throw new Error(
      `JUNJO_INTERNAL_GRPC_TOKEN is required when the query service binds ${options.host} (not loopback)`,
    );
  }
  const handlers: Record<string, Handler> = {
    Services: async () => ({ json: await store.services() }),
    ServiceSpans: async (r) => ({ json: await store.serviceSpans(String(r.service), Number(r.limit)) }),
    RootSpans: async (r) => ({
      json: await store.rootSpans(String(r.service), { hasLlm: Boolean(r.hasLlm), limit: Number(r.limit) }),
    }),
    Workflows: async (r) => ({ json: await store.workflows(String(r.service), Number(r.limit)) }),
    TraceSpans: async (r) => ({ json: await store.traceSpans(String(r.traceId)) }),
    Span: async (r) => ({ json: (await store.span(String(r.traceId), String(r.spanId))) ?? 'null' }),
    // Gives up with the caller (its deadline, less the time to answer), not a fixed time after it asked, so
    // the caller hears why rather than its own deadline running out.
    FlushWal: async (_, deadline) => {
      const pass = await indexer.flush(Number.isFinite(deadline) ? deadline - FLUSH_ANSWER_MS : undefined);
      return { recordsIndexed: pass.records, spansIndexed: pass.spans };
    },
    // A failed backup is an answer for `npm run backup` to print, not a failed call.
    Backup: async () => {
      if (!options.backupNow) return { error: 'backups are off: JUNJO_BACKUP_S3_BUCKET is not set' };
      return options.backupNow().then(
        ({ name, location }) => ({ snapshot: name, location }),
        (error: unknown) => ({ error: `backup failed: ${(error as Error).message}` }),
      );
    },
  };

  const implementation: grpc.UntypedServiceImplementation = {};
  for (const [method, handle] of Object.entries(handlers)) {
    implementation[method] = (
      call: grpc.ServerUnaryCall<Record<string, unknown>, object>,
      callback: grpc.sendUnaryData<object>,
    ) => {
      if (options.token && !tokenMatches(options.token, call.metadata.get(TOKEN_METADATA)[0])) {
        callback({ code: grpc.status.UNAUTHENTICATED, details: 'missing or wrong internal token' });
        return;
      }
      const deadline = call.getDeadline();
      handle(call.request, deadline instanceof Date ? deadline.getTime() : deadline).then(
        (reply) => callback(null, reply),
        (error: unknown) => {
          if (error instanceof FlushTimeout) {
            logger.warn('flush-wal ran out of time', { error });
            callback({ code: grpc.status.DEADLINE_EXCEEDED, details: error.message });
            return;
          }
          logger.error('span query failed', { method, error: error as Error });
          callback({ code: grpc.status.INTERNAL, details: 'span query failed' });
        },
      );
    };
  }

  const server = new grpc.Server();
  server.addService(spanQueryDefinition(), implementation);
  server.addService(
    {
      Check: {
        path: '/grpc.health.v1.Health/Check',
        requestStream: false,
        responseStream: false,
        requestSerialize: raw,
        requestDeserialize: raw,
        responseSerialize: raw,
        responseDeserialize: raw,
      },
    },
    { Check: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, SERVING) },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${options.host}:${options.port}`,
      grpc.ServerCredentials.createInsecure(),
      (error, bound) => (error ? reject(error) : resolve(bound)),
    ),
  );
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 5_000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
