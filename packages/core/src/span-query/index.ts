import * as grpc from '@grpc/grpc-js';
import * as Config from '../config/index.ts';
import { AppError, unavailable } from '../errors/index.ts';
import { logger } from '../logger/index.ts';
import {
  type QueryMethod,
  type QueryReplies,
  type QueryRequests,
  spanQueryDefinition,
  TOKEN_METADATA,
} from './service.ts';

export * from './service.ts';

/** The generated client's methods, called by name; typed per method at the one call site below. */
type Client = grpc.Client &
  Record<
    QueryMethod,
    (
      request: object,
      metadata: grpc.Metadata,
      options: grpc.CallOptions,
      callback: (error: grpc.ServiceError | null, reply?: unknown) => void,
    ) => void
  >;

let client: Client | undefined;

/** One channel per process to the ingest container's query service (JUNJO_QUERY_URL), made on first use. */
function getClient(): Client {
  if (!client) {
    const Constructor = grpc.makeGenericClientConstructor(spanQueryDefinition(), 'SpanQuery');
    client = new Constructor(Config.get().queryUrl, grpc.credentials.createInsecure()) as unknown as Client;
  }
  return client;
}

/**
 * Calls the query service with a bounded deadline. Any failure (service down, deadline, refused token)
 * is a 503 `Span store unavailable` for the handlers; the cause goes to the log.
 */
function call<M extends QueryMethod>(
  method: M,
  request: QueryRequests[M],
  timeoutMs?: number,
): Promise<QueryReplies[M]> {
  const { queryTimeoutMs, ingest } = Config.get();
  const metadata = new grpc.Metadata();
  if (ingest.internalToken) metadata.set(TOKEN_METADATA, ingest.internalToken);
  return new Promise((resolve, reject) => {
    getClient()[method](
      request,
      metadata,
      { deadline: Date.now() + (timeoutMs ?? queryTimeoutMs) },
      (error, reply) => {
        if (error || !reply) {
          logger.warn('span query failed', { method, code: error?.code, details: error?.details });
          reject(unavailable('span_store_unavailable', 'Span store unavailable', error));
          return;
        }
        resolve(reply as QueryReplies[M]);
      },
    );
  });
}

const json = async <M extends Exclude<QueryMethod, 'FlushWal' | 'Backup'>>(
  method: M,
  request: QueryRequests[M],
) => ((await call(method, request)) as { json: string }).json;

/** Sorted service names, as JSON text. */
export const services = () => json('Services', {});
/** A service's spans, newest first, as JSON text. */
export const serviceSpans = (service: string, limit: number) => json('ServiceSpans', { service, limit });
/** A service's root spans, newest first (only traces with an LLM span when `hasLlm`), as JSON text. */
export const rootSpans = (service: string, limit: number, hasLlm: boolean) =>
  json('RootSpans', { service, limit, hasLlm });
/** A service's workflow spans, newest first, as JSON text. */
export const workflows = (service: string, limit: number) => json('Workflows', { service, limit });
/** Every span of a trace, newest first (`[]` when unknown), as JSON text. */
export const traceSpans = (traceId: string) => json('TraceSpans', { traceId });
/** One span, or `null`, as JSON text. */
export const span = (traceId: string, spanId: string) => json('Span', { traceId, spanId });

/**
 * Asks the indexer to drain the whole WAL backlog now; resolves once it is queryable.
 * @throws AppError internal `wal_flush_failed` (the contract's 500) when the flush cannot be done.
 */
export async function flushWal(): Promise<QueryReplies['FlushWal']> {
  try {
    return await call('FlushWal', {}, Config.get().flushTimeoutMs);
  } catch (error) {
    throw new AppError('internal', 'wal_flush_failed', 'WAL flush failed', {}, { cause: error });
  }
}

/**
 * Asks the ingest process to back up to S3 now (`npm run backup`) and waits, up to `timeoutMs`, until the
 * snapshot is uploaded. The reply's `error` says why there is none (a failed upload, backups off).
 * @throws AppError unavailable when the query service cannot be reached (the gRPC error is its cause).
 */
export function backup(timeoutMs = 60 * 60 * 1000): Promise<QueryReplies['Backup']> {
  return call('Backup', {}, timeoutMs);
}

/** Closes the channel (tests, shutdown). */
export function close(): void {
  client?.close();
  client = undefined;
}
