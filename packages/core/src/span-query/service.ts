import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

/** proto/junjo/query/v1/query.proto, from the repository root; a bundle carries proto/ beside itself. */
const SOURCE_PROTO = new URL('../../../../proto/junjo/query/v1/query.proto', import.meta.url);
const PROTO = fileURLToPath(
  existsSync(SOURCE_PROTO) ? SOURCE_PROTO : new URL('./proto/junjo/query/v1/query.proto', import.meta.url),
);

export type QueryMethod =
  | 'Services'
  | 'ServiceSpans'
  | 'RootSpans'
  | 'Workflows'
  | 'TraceSpans'
  | 'Span'
  | 'FlushWal'
  | 'Backup';

export interface QueryRequests {
  Services: Record<string, never>;
  ServiceSpans: { service: string; limit: number };
  RootSpans: { service: string; limit: number; hasLlm: boolean };
  Workflows: { service: string; limit: number };
  TraceSpans: { traceId: string };
  Span: { traceId: string; spanId: string };
  FlushWal: Record<string, never>;
  Backup: Record<string, never>;
}

export interface JsonReply {
  json: string;
}
export interface FlushWalReply {
  recordsIndexed: number;
  spansIndexed: number;
}
export interface BackupReply {
  snapshot: string;
  location: string;
  error: string;
}
export type QueryReplies = {
  [M in QueryMethod]: M extends 'FlushWal' ? FlushWalReply : M extends 'Backup' ? BackupReply : JsonReply;
};

/** Metadata key of the shared token the query service requires when it is not bound to loopback. */
export const TOKEN_METADATA = 'x-junjo-internal-token';

let definition: grpc.ServiceDefinition | undefined;

/**
 * The grpc-js service definition of junjo.query.v1.SpanQuery, with protobufjs codecs; built once from the
 * .proto file, shared by the query server (packages/ingest) and the client (core).
 */
export function spanQueryDefinition(): grpc.ServiceDefinition {
  if (definition) return definition;
  const root = protobuf.loadSync(PROTO);
  const service = root.lookupService('junjo.query.v1.SpanQuery');
  const built: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const method of service.methodsArray) {
    const request = root.lookupType(method.resolvedRequestType?.fullName ?? method.requestType);
    const response = root.lookupType(method.resolvedResponseType?.fullName ?? method.responseType);
    built[method.name] = {
      path: `/junjo.query.v1.SpanQuery/${method.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (value: object) => Buffer.from(request.encode(request.fromObject(value)).finish()),
      requestDeserialize: (bytes: Buffer) =>
        request.toObject(request.decode(bytes), { longs: Number, defaults: true }),
      responseSerialize: (value: object) => Buffer.from(response.encode(response.fromObject(value)).finish()),
      responseDeserialize: (bytes: Buffer) =>
        response.toObject(response.decode(bytes), { longs: Number, defaults: true }),
    };
  }
  definition = built;
  return built;
}
