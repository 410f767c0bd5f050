/**
 * Spans: the decoded OTLP types and their conversion to the contract's Span object (CONTRACT §6),
 * shared by the indexer and anything else that turns OTLP into stored spans.
 */
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
} from './otlp.ts';
export {
  NO_SERVICE_NAME,
  resourceServiceName,
  SPAN_KIND_NAMES,
  type SpanKindName,
  type SpanRecord,
  type SpanStatusCode,
  type StatePatch,
  toSpanRecord,
  toSpanRecords,
} from './record.ts';
export { formatSpanTime } from './timestamp.ts';
