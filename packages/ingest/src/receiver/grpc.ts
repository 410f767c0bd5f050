import * as grpc from '@grpc/grpc-js';
import { logger } from '@junjo/core/logger';
import { encodeRetryInfoStatusDetails, encodeTraceResponse } from '../otlp/messages.ts';
import { apiKeyFrom } from './api-key.ts';
import type { IngestPipeline, Outcome } from './pipeline.ts';

/** Requests and responses pass through as raw bytes: the pipeline validates them without materialising. */
const raw = {
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};

const unary = (path: string) => ({ path, requestStream: false, responseStream: false, ...raw }) as const;

const EMPTY = Buffer.alloc(0);
/** grpc.health.v1.HealthCheckResponse{status}: SERVING = 1, NOT_SERVING = 2. */
const healthResponse = (serving: boolean) => Buffer.from([0x08, serving ? 1 : 2]);

const STATUS: Record<Exclude<Outcome['kind'], 'ok'>, grpc.status> = {
  unauthenticated: grpc.status.UNAUTHENTICATED,
  invalid: grpc.status.INVALID_ARGUMENT,
  too_large: grpc.status.RESOURCE_EXHAUSTED,
  unavailable: grpc.status.UNAVAILABLE,
};

function toServiceError(outcome: Exclude<Outcome, { kind: 'ok' }>): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (outcome.kind === 'unavailable') {
    // RetryInfo tells OTLP exporters how long to wait (the OTLP spec's way); grpc-retry-pushback-ms tells
    // gRPC clients with a retry policy the same thing (gRFC A6).
    metadata.set(
      'grpc-status-details-bin',
      Buffer.from(encodeRetryInfoStatusDetails(outcome.retryAfterMs, outcome.message)),
    );
    metadata.set('grpc-retry-pushback-ms', String(outcome.retryAfterMs));
  }
  return { code: STATUS[outcome.kind], details: outcome.message, metadata };
}

function keyOf(call: grpc.ServerUnaryCall<Buffer, Buffer>): string | undefined {
  return apiKeyFrom((name) => {
    const value = call.metadata.get(name)[0];
    return typeof value === 'string' ? value : undefined;
  });
}

export interface GrpcReceiverOptions {
  host: string;
  port: number;
  maxRequestBytes: number;
  /** HTTP/2 receive window per stream and per connection (0: leave grpc-js's 64 KiB default). */
  receiveWindowBytes?: number;
}

/**
 * An OTLP exporter sends everything over one HTTP/2 connection, and with the default 64 KiB receive window
 * the sender stalls whenever our event loop is busy and the WINDOW_UPDATE is late. grpc-js has no server
 * option for it, so this sets the HTTP/2 settings and each session's window through grpc-js internals
 * (`commonServerOptions`, `http2Servers`), checked at run time: if they ever change shape, the server
 * still works, only with the default window, and says so once.
 */
function widenReceiveWindow(server: grpc.Server, bytes: number): { afterBind(): void } {
  const internals = server as unknown as {
    commonServerOptions?: { settings?: Record<string, unknown> };
    http2Servers?: Map<
      { on(event: 'session', listener: (session: { setLocalWindowSize(n: number): void }) => void): void },
      unknown
    >;
  };
  if (!internals.commonServerOptions || !(internals.http2Servers instanceof Map)) {
    logger.warn('grpc-js internals changed: OTLP/gRPC keeps the default 64 KiB receive window');
    return { afterBind: () => undefined };
  }
  internals.commonServerOptions.settings = {
    ...internals.commonServerOptions.settings,
    initialWindowSize: bytes,
  };
  return {
    afterBind() {
      for (const http2Server of internals.http2Servers!.keys()) {
        http2Server.on('session', (session) => session.setLocalWindowSize(bytes));
      }
    },
  };
}

/**
 * OTLP/gRPC: TraceService/Export into the pipeline; LogsService and MetricsService Export are answered
 * (after the key check) so SDKs that also send them see success; grpc.health.v1.Health.
 */
export async function startGrpcReceiver(
  pipeline: IngestPipeline,
  options: GrpcReceiverOptions,
): Promise<{ port: number; setServing(serving: boolean): void; close(graceMs?: number): Promise<void> }> {
  let serving = true;
  const watchers = new Set<grpc.ServerWritableStream<Buffer, Buffer>>();
  const server = new grpc.Server({
    // grpc-js answers oversize messages with RESOURCE_EXHAUSTED itself, before they are buffered whole.
    'grpc.max_receive_message_length': options.maxRequestBytes,
    'grpc.max_send_message_length': 4 * 1024 * 1024,
  });

  const window = options.receiveWindowBytes
    ? widenReceiveWindow(server, options.receiveWindowBytes)
    : undefined;

  server.addService(
    { Export: unary('/opentelemetry.proto.collector.trace.v1.TraceService/Export') },
    {
      Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        pipeline
          .exportTraces(call.request, keyOf(call))
          .then((outcome) => {
            if (outcome.kind === 'ok') callback(null, Buffer.from(encodeTraceResponse(outcome)));
            else callback(toServiceError(outcome));
          })
          .catch((error: unknown) => {
            logger.error('OTLP/gRPC export failed', { error: error as Error });
            callback({ code: grpc.status.INTERNAL, details: 'internal error' });
          });
      },
    },
  );

  const acceptOnly = (path: string) => ({
    definition: { Export: unary(path) },
    implementation: {
      Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        pipeline
          .authorize(keyOf(call))
          .then((denied) => (denied ? callback(toServiceError(denied)) : callback(null, EMPTY)))
          .catch(() => callback({ code: grpc.status.INTERNAL, details: 'internal error' }));
      },
    },
  });
  for (const path of [
    '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
    '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
  ]) {
    const { definition, implementation } = acceptOnly(path);
    server.addService(definition, implementation);
  }

  server.addService(
    {
      Check: unary('/grpc.health.v1.Health/Check'),
      Watch: { path: '/grpc.health.v1.Health/Watch', requestStream: false, responseStream: true, ...raw },
    },
    {
      Check: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
        callback(null, healthResponse(serving)),
      Watch: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        call.write(healthResponse(serving));
        watchers.add(call);
        call.on('cancelled', () => watchers.delete(call));
      },
    },
  );

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${options.host}:${options.port}`,
      grpc.ServerCredentials.createInsecure(),
      (error, bound) => (error ? reject(error) : resolve(bound)),
    ),
  );
  window?.afterBind();

  return {
    port,
    setServing(next: boolean) {
      serving = next;
      for (const call of watchers) call.write(healthResponse(serving));
    },
    /** Stops accepting calls and waits for those in flight, then forces after `graceMs`. */
    close(graceMs = 10_000) {
      for (const call of watchers) call.end();
      watchers.clear();
      return new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}
