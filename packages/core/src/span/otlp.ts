/**
 * A decoded OTLP `ExportTraceServiceRequest` as plain data. Ingest decodes protobuf into these types
 * (`@junjo/ingest` `otlp/messages.ts`); core converts them to the contract's Span object. They live in
 * core so that the conversion does not depend on the ingest package.
 *
 * Representation: ids and bytes are `Uint8Array`; 64-bit integers (`int_value`, `*_time_unix_nano`)
 * are `bigint`, exact; enums, flags and counts are `number`. Absent messages are their empty values,
 * so every field is always present.
 */

/** An attribute value; `empty` is an AnyValue with no value set (and the profiles-only string index). */
export type AnyValue =
  | { type: 'string'; value: string }
  | { type: 'bool'; value: boolean }
  | { type: 'int'; value: bigint }
  | { type: 'double'; value: number }
  | { type: 'bytes'; value: Uint8Array }
  | { type: 'array'; value: AnyValue[] }
  | { type: 'kvlist'; value: KeyValue[] }
  | { type: 'empty' };

export interface KeyValue {
  key: string;
  value: AnyValue;
}

export interface Resource {
  attributes: KeyValue[];
  droppedAttributesCount: number;
}

export interface InstrumentationScope {
  name: string;
  version: string;
  attributes: KeyValue[];
  droppedAttributesCount: number;
}

/** `Span.SpanKind`: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
export type SpanKind = number;

/** `Status.StatusCode`: 0 unset, 1 ok, 2 error. */
export type StatusCode = number;

export interface SpanStatus {
  code: StatusCode;
  message: string;
}

export interface SpanEvent {
  timeUnixNano: bigint;
  name: string;
  attributes: KeyValue[];
  droppedAttributesCount: number;
}

export interface SpanLink {
  traceId: Uint8Array;
  spanId: Uint8Array;
  traceState: string;
  attributes: KeyValue[];
  droppedAttributesCount: number;
  /** Same layout as {@link Span.flags}. */
  flags: number;
}

export interface Span {
  traceId: Uint8Array;
  spanId: Uint8Array;
  traceState: string;
  /** Empty for a root span. */
  parentSpanId: Uint8Array;
  /** Bits 0-7: W3C trace flags; bit 8: remote-ness known; bit 9: parent is remote. */
  flags: number;
  name: string;
  kind: SpanKind;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: KeyValue[];
  droppedAttributesCount: number;
  events: SpanEvent[];
  droppedEventsCount: number;
  links: SpanLink[];
  droppedLinksCount: number;
  status: SpanStatus;
}

export interface ScopeSpans {
  scope: InstrumentationScope;
  spans: Span[];
  schemaUrl: string;
}

export interface ResourceSpans {
  resource: Resource;
  scopeSpans: ScopeSpans[];
  schemaUrl: string;
}

/** A decoded `ExportTraceServiceRequest`. */
export interface TraceRequest {
  resourceSpans: ResourceSpans[];
}
