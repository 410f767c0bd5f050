/**
 * OTLP messages as the receivers, the indexer and the tests need them: typed trace requests (decode
 * and encode), export responses with partial success, and the gRPC `RetryInfo` status details.
 *
 * Decoding uses protobufjs reflection over the `.proto` files in the repository's `proto/` folder,
 * loaded once, on first use. Encoding is hand-written (`proto-writer.ts`): the trace request encoder
 * is on the OTLP/JSON ingest path, where it beats protobufjs `fromObject` + `encode` (which would also
 * need the tagged AnyValues and bigints reshaped first), and the response messages are a few fields.
 *
 * Representation: ids and bytes are `Uint8Array` (copies, independent of the input buffer); 64-bit
 * integers (`int_value`, `*_time_unix_nano`) are `bigint`, exact; enums, flags and counts are
 * `number`. Absent messages decode to their empty values, so every field is always present.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type {
  AnyValue,
  InstrumentationScope,
  KeyValue,
  Resource,
  Span,
  SpanEvent,
  SpanLink,
  SpanStatus,
  TraceRequest,
} from '@junjo/core/span';
import protobuf from 'protobufjs';
import { I32, I64, LEN, ProtoWriter, VARINT } from './proto-writer.ts';

// The decoded types are declared in core, which converts them to the contract's Span object.
export type {
  AnyValue,
  InstrumentationScope,
  KeyValue,
  Resource,
  ResourceSpans,
  ScopeSpans,
  Span,
  SpanEvent,
  SpanKind,
  SpanLink,
  SpanStatus,
  StatusCode,
  TraceRequest,
} from '@junjo/core/span';

/** A 64-bit integer given to the encoder: exact as bigint; numbers must be safe integers. */
export type Int64Input = bigint | number;

/** What {@link encodeTraceRequest} takes: a {@link TraceRequest} whose fields may be left out. */
export interface TraceRequestInit {
  resourceSpans?: ResourceSpansInit[];
}

export interface ResourceSpansInit {
  resource?: Partial<Resource>;
  scopeSpans?: ScopeSpansInit[];
  schemaUrl?: string;
}

export interface ScopeSpansInit {
  scope?: Partial<InstrumentationScope>;
  spans?: SpanInit[];
  schemaUrl?: string;
}

export interface SpanInit
  extends Partial<Omit<Span, 'startTimeUnixNano' | 'endTimeUnixNano' | 'events' | 'links' | 'status'>> {
  startTimeUnixNano?: Int64Input;
  endTimeUnixNano?: Int64Input;
  events?: SpanEventInit[];
  links?: Partial<SpanLink>[];
  status?: Partial<SpanStatus>;
}

export interface SpanEventInit extends Partial<Omit<SpanEvent, 'timeUnixNano'>> {
  timeUnixNano?: Int64Input;
}

/** The partial-success part of an export response. */
export interface TracePartialSuccess {
  rejectedSpans: number;
  errorMessage?: string | undefined;
}

// From source: the repository's proto/; a bundle (the container image) carries proto/ beside itself.
const SOURCE_PROTO_DIR = new URL('../../../../proto/', import.meta.url);
const PROTO_DIR = fileURLToPath(
  existsSync(SOURCE_PROTO_DIR) ? SOURCE_PROTO_DIR : new URL('./proto/', import.meta.url),
);
const PROTO_FILES = [
  'opentelemetry/proto/collector/trace/v1/trace_service.proto',
  'opentelemetry/proto/collector/logs/v1/logs_service.proto',
  'opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
  'google/rpc/status.proto',
  'google/rpc/error_details.proto',
  'grpc/health/v1/health.proto',
];

interface Types {
  request: protobuf.Type;
  span: protobuf.Type;
  resource: protobuf.Type;
  logsResponse: protobuf.Type;
  metricsResponse: protobuf.Type;
}

let root: protobuf.Root | undefined;
let types: Types | undefined;

/**
 * The protobufjs root holding every message and service of `proto/` (OTLP trace/logs/metrics with
 * their collector services, `google.rpc.Status`/`RetryInfo`, `grpc.health.v1`). Loaded on first call.
 */
export function protoRoot(): protobuf.Root {
  if (root === undefined) {
    const loaded = new protobuf.Root();
    loaded.resolvePath = (_origin, target) => (target.startsWith('/') ? target : PROTO_DIR + target);
    loaded.loadSync(PROTO_FILES);
    loaded.resolveAll();
    // 64-bit fields decode to Long only when protobufjs found the `long` package; plain numbers
    // would silently round nanosecond timestamps.
    if (!protobuf.util.Long)
      throw new Error('protobufjs loaded without Long support; 64-bit fields would be lossy');
    root = loaded;
  }
  return root;
}

function otlpTypes(): Types {
  if (types === undefined) {
    const r = protoRoot();
    types = {
      request: r.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
      span: r.lookupType('opentelemetry.proto.trace.v1.Span'),
      resource: r.lookupType('opentelemetry.proto.resource.v1.Resource'),
      logsResponse: r.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse'),
      metricsResponse: r.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse'),
    };
  }
  return types;
}

/**
 * `ExportTraceServiceResponse` bytes. Empty (the encoding of an empty message, meaning full success)
 * when nothing was rejected and there is no message; otherwise `partial_success` is set.
 */
export function encodeTraceResponse(result: TracePartialSuccess): Uint8Array {
  if (result.rejectedSpans === 0 && !result.errorMessage) return new Uint8Array(0);
  const w = new ProtoWriter(64 + (result.errorMessage?.length ?? 0) * 3);
  w.tag(1, LEN);
  const mark = w.begin();
  if (result.rejectedSpans !== 0) {
    w.tag(1, VARINT);
    w.varint64(BigInt(result.rejectedSpans));
  }
  writeString(w, 2, result.errorMessage);
  w.end(mark);
  return w.finish();
}

/**
 * The OTLP/JSON form of the same response (proto3 JSON mapping: lowerCamelCase, int64 as a decimal
 * string, default values omitted): `{}` or `{"partialSuccess":{"rejectedSpans":"2","errorMessage":"…"}}`.
 */
export function traceResponseJson(result: TracePartialSuccess): string {
  const partial: { rejectedSpans?: string; errorMessage?: string } = {};
  if (result.rejectedSpans !== 0) partial.rejectedSpans = String(result.rejectedSpans);
  if (result.errorMessage) partial.errorMessage = result.errorMessage;
  if (partial.rejectedSpans === undefined && partial.errorMessage === undefined) return '{}';
  return JSON.stringify({ partialSuccess: partial });
}

/** An `ExportLogsServiceResponse` meaning full success (an empty message: zero bytes). */
export function encodeLogsResponse(): Uint8Array {
  const { logsResponse } = otlpTypes();
  return logsResponse.encode(logsResponse.create({})).finish();
}

/** An `ExportMetricsServiceResponse` meaning full success (an empty message: zero bytes). */
export function encodeMetricsResponse(): Uint8Array {
  const { metricsResponse } = otlpTypes();
  return metricsResponse.encode(metricsResponse.create({})).finish();
}

const RETRY_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.RetryInfo';
const GRPC_UNAVAILABLE = 14;

/**
 * The value of the `grpc-status-details-bin` trailer for an overloaded server: a `google.rpc.Status`
 * with code 14 (UNAVAILABLE), `message`, and one `google.rpc.RetryInfo` detail asking the client to
 * wait `delayMs` (rounded to whole milliseconds, at least 0) before retrying. OTLP exporters honour
 * that delay. Send the same message as the gRPC status details.
 */
export function encodeRetryInfoStatusDetails(
  delayMs: number,
  message = 'server overloaded, retry later',
): Uint8Array {
  const totalMs = Number.isFinite(delayMs) && delayMs > 0 ? Math.round(delayMs) : 0;
  const seconds = Math.floor(totalMs / 1000);
  const nanos = (totalMs % 1000) * 1_000_000;
  const w = new ProtoWriter(128 + message.length * 3);
  // google.rpc.Status { code = 1; message = 2; repeated google.protobuf.Any details = 3 }
  w.tag(1, VARINT);
  w.uint(GRPC_UNAVAILABLE);
  writeString(w, 2, message);
  w.tag(3, LEN);
  const any = w.begin();
  // google.protobuf.Any { type_url = 1; value = 2 }, value: RetryInfo { Duration retry_delay = 1 }
  writeString(w, 1, RETRY_INFO_TYPE_URL);
  w.tag(2, LEN);
  const retryInfo = w.begin();
  w.tag(1, LEN);
  const duration = w.begin();
  // google.protobuf.Duration { int64 seconds = 1; int32 nanos = 2 }
  writeUint(w, 1, seconds);
  writeUint(w, 2, nanos);
  w.end(duration);
  w.end(retryInfo);
  w.end(any);
  return w.finish();
}

/** protobufjs' decoded shapes, as far as the conversion below reads them. */
interface LongLike {
  low: number;
  high: number;
}
type Int64Field = LongLike | number;
interface PbKeyValue {
  key: string;
  value?: PbAnyValue | null;
}
interface PbAnyValue {
  /** protobufjs' oneof getter: the name of the member that is set. */
  value?: string;
  stringValue: string;
  boolValue: boolean;
  intValue: Int64Field;
  doubleValue: number;
  arrayValue?: { values: PbAnyValue[] } | null;
  kvlistValue?: { values: PbKeyValue[] } | null;
  bytesValue: Uint8Array;
}
interface PbScope {
  name: string;
  version: string;
  attributes: PbKeyValue[];
  droppedAttributesCount: number;
}
interface PbSpan {
  traceId: Uint8Array;
  spanId: Uint8Array;
  traceState: string;
  parentSpanId: Uint8Array;
  flags: number;
  name: string;
  kind: number;
  startTimeUnixNano: Int64Field;
  endTimeUnixNano: Int64Field;
  attributes: PbKeyValue[];
  droppedAttributesCount: number;
  events: Array<{
    timeUnixNano: Int64Field;
    name: string;
    attributes: PbKeyValue[];
    droppedAttributesCount: number;
  }>;
  droppedEventsCount: number;
  links: Array<{
    traceId: Uint8Array;
    spanId: Uint8Array;
    traceState: string;
    attributes: PbKeyValue[];
    droppedAttributesCount: number;
    flags: number;
  }>;
  droppedLinksCount: number;
  status?: { code: number; message: string } | null;
}
interface PbRequest {
  resourceSpans: Array<{
    resource?: { attributes: PbKeyValue[]; droppedAttributesCount: number } | null;
    scopeSpans: Array<{ scope?: PbScope | null; spans: PbSpan[]; schemaUrl: string }>;
    schemaUrl: string;
  }>;
}

/**
 * Decodes an `ExportTraceServiceRequest` (normally one {@link scanTraceRequest} accepted) into a
 * complete {@link TraceRequest}. Throws on undecodable bytes.
 */
export function decodeTraceRequest(bytes: Uint8Array): TraceRequest {
  const decoded = otlpTypes().request.decode(bytes) as unknown as PbRequest;
  return {
    resourceSpans: decoded.resourceSpans.map((rs) => ({
      resource: {
        attributes: keyValues(rs.resource?.attributes),
        droppedAttributesCount: rs.resource?.droppedAttributesCount ?? 0,
      },
      scopeSpans: rs.scopeSpans.map((ss) => ({
        scope: {
          name: ss.scope?.name ?? '',
          version: ss.scope?.version ?? '',
          attributes: keyValues(ss.scope?.attributes),
          droppedAttributesCount: ss.scope?.droppedAttributesCount ?? 0,
        },
        spans: ss.spans.map(toSpan),
        schemaUrl: ss.schemaUrl,
      })),
      schemaUrl: rs.schemaUrl,
    })),
  };
}

/**
 * Decodes one `Span` message, as `decodeTraceRequest` decodes it inside a request: the span store keeps
 * spans as these bytes and converts them when they are read. Throws on undecodable bytes.
 */
export function decodeSpan(bytes: Uint8Array): Span {
  return toSpan(otlpTypes().span.decode(bytes) as unknown as PbSpan);
}

/** The attributes of one `Resource` message, as `decodeTraceRequest` decodes them. */
export function decodeResourceAttributes(bytes: Uint8Array): KeyValue[] {
  const resource = otlpTypes().resource.decode(bytes) as unknown as { attributes: PbKeyValue[] };
  return keyValues(resource.attributes);
}

function toSpan(s: PbSpan): Span {
  return {
    traceId: copy(s.traceId),
    spanId: copy(s.spanId),
    traceState: s.traceState,
    parentSpanId: copy(s.parentSpanId),
    flags: s.flags >>> 0,
    name: s.name,
    kind: s.kind,
    startTimeUnixNano: uint64(s.startTimeUnixNano),
    endTimeUnixNano: uint64(s.endTimeUnixNano),
    attributes: keyValues(s.attributes),
    droppedAttributesCount: s.droppedAttributesCount,
    events: s.events.map((e) => ({
      timeUnixNano: uint64(e.timeUnixNano),
      name: e.name,
      attributes: keyValues(e.attributes),
      droppedAttributesCount: e.droppedAttributesCount,
    })),
    droppedEventsCount: s.droppedEventsCount,
    links: s.links.map((l) => ({
      traceId: copy(l.traceId),
      spanId: copy(l.spanId),
      traceState: l.traceState,
      attributes: keyValues(l.attributes),
      droppedAttributesCount: l.droppedAttributesCount,
      flags: l.flags >>> 0,
    })),
    droppedLinksCount: s.droppedLinksCount,
    status: { code: s.status?.code ?? 0, message: s.status?.message ?? '' },
  };
}

function keyValues(list: PbKeyValue[] | undefined): KeyValue[] {
  if (list === undefined || list.length === 0) return [];
  return list.map((kv) => ({ key: kv.key, value: anyValue(kv.value) }));
}

function anyValue(v: PbAnyValue | null | undefined): AnyValue {
  switch (v?.value) {
    case 'stringValue':
      return { type: 'string', value: v.stringValue };
    case 'boolValue':
      return { type: 'bool', value: v.boolValue };
    case 'intValue':
      return { type: 'int', value: int64(v.intValue) };
    case 'doubleValue':
      return { type: 'double', value: v.doubleValue };
    case 'bytesValue':
      return { type: 'bytes', value: copy(v.bytesValue) };
    case 'arrayValue':
      return { type: 'array', value: (v.arrayValue?.values ?? []).map(anyValue) };
    case 'kvlistValue':
      return { type: 'kvlist', value: keyValues(v.kvlistValue?.values) };
    default:
      // Unset, or string_value_strindex, which only the profiles signal can interpret.
      return { type: 'empty' };
  }
}

/** A copy, so the result does not pin (or alias) the buffer it was decoded from. */
function copy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function bits64(v: Int64Field): bigint {
  if (typeof v === 'number') return BigInt(v);
  return (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
}

function uint64(v: Int64Field): bigint {
  return BigInt.asUintN(64, bits64(v));
}

function int64(v: Int64Field): bigint {
  return BigInt.asIntN(64, bits64(v));
}

/**
 * Encodes an `ExportTraceServiceRequest`. Fields left out are not written (proto3 defaults). Used by
 * the OTLP/JSON ingest path, tests and benchmarks; produces minimal, canonical field order.
 */
export function encodeTraceRequest(request: TraceRequestInit): Uint8Array {
  const w = new ProtoWriter();
  for (const rs of request.resourceSpans ?? []) {
    w.tag(1, LEN);
    const rsMark = w.begin();
    if (rs.resource !== undefined) {
      w.tag(1, LEN);
      const mark = w.begin();
      writeKeyValues(w, 1, rs.resource.attributes);
      writeUint(w, 2, rs.resource.droppedAttributesCount);
      w.end(mark);
    }
    for (const ss of rs.scopeSpans ?? []) {
      w.tag(2, LEN);
      const ssMark = w.begin();
      if (ss.scope !== undefined) {
        w.tag(1, LEN);
        const mark = w.begin();
        writeString(w, 1, ss.scope.name);
        writeString(w, 2, ss.scope.version);
        writeKeyValues(w, 3, ss.scope.attributes);
        writeUint(w, 4, ss.scope.droppedAttributesCount);
        w.end(mark);
      }
      for (const span of ss.spans ?? []) {
        w.tag(2, LEN);
        const mark = w.begin();
        writeSpan(w, span);
        w.end(mark);
      }
      writeString(w, 3, ss.schemaUrl);
      w.end(ssMark);
    }
    writeString(w, 3, rs.schemaUrl);
    w.end(rsMark);
  }
  return w.finish();
}

function writeSpan(w: ProtoWriter, s: SpanInit): void {
  writeBytes(w, 1, s.traceId);
  writeBytes(w, 2, s.spanId);
  writeString(w, 3, s.traceState);
  writeBytes(w, 4, s.parentSpanId);
  writeString(w, 5, s.name);
  writeEnum(w, 6, s.kind);
  writeFixed64(w, 7, s.startTimeUnixNano);
  writeFixed64(w, 8, s.endTimeUnixNano);
  writeKeyValues(w, 9, s.attributes);
  writeUint(w, 10, s.droppedAttributesCount);
  for (const e of s.events ?? []) {
    w.tag(11, LEN);
    const mark = w.begin();
    writeFixed64(w, 1, e.timeUnixNano);
    writeString(w, 2, e.name);
    writeKeyValues(w, 3, e.attributes);
    writeUint(w, 4, e.droppedAttributesCount);
    w.end(mark);
  }
  writeUint(w, 12, s.droppedEventsCount);
  for (const l of s.links ?? []) {
    w.tag(13, LEN);
    const mark = w.begin();
    writeBytes(w, 1, l.traceId);
    writeBytes(w, 2, l.spanId);
    writeString(w, 3, l.traceState);
    writeKeyValues(w, 4, l.attributes);
    writeUint(w, 5, l.droppedAttributesCount);
    writeFixed32(w, 6, l.flags);
    w.end(mark);
  }
  writeUint(w, 14, s.droppedLinksCount);
  if (s.status !== undefined && (s.status.code || s.status.message)) {
    w.tag(15, LEN);
    const mark = w.begin();
    writeString(w, 2, s.status.message);
    writeEnum(w, 3, s.status.code);
    w.end(mark);
  }
  writeFixed32(w, 16, s.flags);
}

function writeString(w: ProtoWriter, field: number, value: string | undefined): void {
  if (!value) return;
  w.tag(field, LEN);
  w.string(value);
}

function writeBytes(w: ProtoWriter, field: number, value: Uint8Array | undefined): void {
  if (value === undefined || value.length === 0) return;
  w.tag(field, LEN);
  w.bytes(value);
}

function writeUint(w: ProtoWriter, field: number, value: number | undefined): void {
  if (!value) return;
  w.tag(field, VARINT);
  w.uint(value);
}

/** An enum is an int32: negative values take ten bytes, as int64 sign extension. */
function writeEnum(w: ProtoWriter, field: number, value: number | undefined): void {
  if (!value) return;
  w.tag(field, VARINT);
  if (value < 0) w.varint64(BigInt(value));
  else w.uint(value);
}

function writeFixed32(w: ProtoWriter, field: number, value: number | undefined): void {
  if (!value) return;
  w.tag(field, I32);
  w.fixed32(value);
}

function writeFixed64(w: ProtoWriter, field: number, value: Int64Input | undefined): void {
  if (value === undefined) return;
  const v = BigInt(value);
  if (v === 0n) return;
  w.tag(field, I64);
  w.fixed64(v);
}

function writeKeyValues(w: ProtoWriter, field: number, list: KeyValue[] | undefined): void {
  if (list === undefined) return;
  for (const kv of list) {
    w.tag(field, LEN);
    const mark = w.begin();
    writeKeyValue(w, kv);
    w.end(mark);
  }
}

function writeKeyValue(w: ProtoWriter, kv: KeyValue): void {
  writeString(w, 1, kv.key);
  w.tag(2, LEN);
  const mark = w.begin();
  writeAnyValue(w, kv.value);
  w.end(mark);
}

function writeAnyValue(w: ProtoWriter, v: AnyValue): void {
  // Oneof members are written even when they hold the default, so the value's type survives.
  switch (v.type) {
    case 'string':
      w.tag(1, LEN);
      w.string(v.value);
      return;
    case 'bool':
      w.tag(2, VARINT);
      w.uint(v.value ? 1 : 0);
      return;
    case 'int':
      w.tag(3, VARINT);
      w.varint64(v.value);
      return;
    case 'double':
      w.tag(4, I64);
      w.double(v.value);
      return;
    case 'array': {
      w.tag(5, LEN);
      const mark = w.begin();
      for (const item of v.value) {
        w.tag(1, LEN);
        const itemMark = w.begin();
        writeAnyValue(w, item);
        w.end(itemMark);
      }
      w.end(mark);
      return;
    }
    case 'kvlist': {
      w.tag(6, LEN);
      const mark = w.begin();
      writeKeyValues(w, 1, v.value);
      w.end(mark);
      return;
    }
    case 'bytes':
      w.tag(7, LEN);
      w.bytes(v.value);
      return;
    case 'empty':
      return;
  }
}
