/**
 * OTLP/JSON → OTLP/protobuf. The HTTP receiver converts a JSON `ExportTraceServiceRequest` to the
 * protobuf bytes here and then validates and stores those exactly like a protobuf request, so there
 * is one validation path and one WAL format.
 *
 * Follows the OTLP/JSON encoding: the proto3 JSON mapping with lowerCamelCase names (proto snake_case
 * names accepted too, as protobuf JSON parsers do), trace and span ids as hex strings, 64-bit integers
 * as decimal strings or numbers, enums as integers (names accepted), bytes values as base64, unknown
 * fields ignored, `null` meaning "not set". Span-level problems are left for the scanner, so that
 * span alone is rejected (partial success): a trace or span id that is not valid hex becomes empty
 * bytes; a parent span id that is not valid hex becomes a single byte, because an empty parent would
 * silently turn the span into a root. Structural problems (not JSON, not an object, a field of the
 * wrong type) throw {@link OtlpJsonError}.
 */
import { AppError } from '@junjo/core/errors';
import {
  type AnyValue,
  encodeTraceRequest,
  type KeyValue,
  type ResourceSpansInit,
  type ScopeSpansInit,
  type SpanEventInit,
  type SpanInit,
  type SpanLink,
  type TraceRequestInit,
} from './messages.ts';

/**
 * The JSON body is not an OTLP `ExportTraceServiceRequest`: answer HTTP 400. Kind `invalid`, code
 * `otlp_json_invalid`; the message names the offending path and is safe to show to the client.
 */
export class OtlpJsonError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid', 'otlp_json_invalid', message, {}, options);
    this.name = 'OtlpJsonError';
  }
}

/**
 * Deeper AnyValue nesting than this is refused here, only to bound recursion; the scanner's own
 * (smaller, configurable) limit is what decides whether a request is acceptable.
 */
const MAX_JSON_DEPTH = 256;
const EMPTY = new Uint8Array(0);
/** What an unreadable parent span id becomes: a length the scanner rejects (it accepts only 0 or 8). */
const INVALID_PARENT_ID = new Uint8Array(1);
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

const SPAN_KINDS: Record<string, number> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};
const STATUS_CODES: Record<string, number> = {
  STATUS_CODE_UNSET: 0,
  STATUS_CODE_OK: 1,
  STATUS_CODE_ERROR: 2,
};

type Obj = Record<string, unknown>;

/**
 * The container path of the value being converted (`resourceSpans`, 0, `scopeSpans`, 1, ...), kept
 * as a stack so the happy path builds no strings; it only becomes text in an error message.
 */
const path: Array<string | number> = [];

/**
 * Converts an OTLP/JSON `ExportTraceServiceRequest` to protobuf bytes.
 *
 * @param text the JSON text, its UTF-8 bytes, or the already parsed value
 * @throws {OtlpJsonError} when the input is not JSON or not structurally a trace export request
 */
export function traceRequestFromJson(text: string | unknown): Uint8Array {
  path.length = 0;
  let root: unknown = text;
  if (ArrayBuffer.isView(text)) {
    try {
      root = utf8Decoder.decode(text as Uint8Array);
    } catch (cause) {
      throw new OtlpJsonError('request body is not valid UTF-8', { cause });
    }
  }
  if (typeof root === 'string') {
    try {
      root = JSON.parse(root);
    } catch (cause) {
      throw new OtlpJsonError(`request body is not JSON: ${(cause as Error).message}`, { cause });
    }
  }
  if (!isObject(root)) throw new OtlpJsonError('request: expected a JSON object');
  const request: TraceRequestInit = {
    resourceSpans: list(root.resourceSpans ?? root.resource_spans, 'resourceSpans', toResourceSpans),
  };
  return encodeTraceRequest(request);
}

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(field: string, reason: string): never {
  let where = 'request';
  for (const part of path) where += typeof part === 'number' ? `[${part}]` : `.${part}`;
  throw new OtlpJsonError(`${field ? `${where}.${field}` : where}: ${reason}`);
}

// Every helper takes the field's value, read at the call site as `o.camelName ?? o.snake_name`: plain
// property reads there stay monomorphic, where a shared `o[name]` lookup would not. `null` (proto3
// JSON for "not set") and `undefined` both mean absent; `field` only names the field in errors.

/** Converts each element of an array field, tracking the element's index for error messages. */
function list<T>(value: unknown, field: string, convert: (item: Obj) => T): T[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail(field, 'expected an array');
  const out: T[] = new Array(value.length);
  path.push(field, 0);
  for (let i = 0; i < value.length; i++) {
    path[path.length - 1] = i;
    const item: unknown = value[i];
    if (!isObject(item)) fail('', 'expected an object');
    out[i] = convert(item);
  }
  path.length -= 2;
  return out;
}

function object<T>(value: unknown, field: string, convert: (item: Obj) => T): T | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) fail(field, 'expected an object');
  path.push(field);
  const result = convert(value);
  path.pop();
  return result;
}

function str(value: unknown, field: string): string | undefined {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return undefined;
  return fail(field, 'expected a string');
}

const DECIMAL = /^-?\d+$/;

/** A decimal integer given as a JSON number or string. */
function integer(value: unknown, field: string, min: bigint, max: bigint): bigint | undefined {
  if (value === undefined || value === null) return undefined;
  let result: bigint;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) fail(field, 'expected an integer');
    result = BigInt(value);
  } else if (typeof value === 'string' && DECIMAL.test(value)) {
    result = BigInt(value);
  } else {
    return fail(field, 'expected an integer (number or decimal string)');
  }
  if (result < min || result > max) fail(field, `integer out of range ${min}..${max}`);
  return result;
}

const UINT32_MAX = 0xffffffffn;
const INT32_MIN = -0x80000000n;
const INT32_MAX = 0x7fffffffn;
const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

function uint32(value: unknown, field: string): number | undefined {
  // The common case, a small non-negative JSON number, needs no bigint.
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff) return value;
  const n = integer(value, field, 0n, UINT32_MAX);
  return n === undefined ? undefined : Number(n);
}

function uint64(value: unknown, field: string): bigint | undefined {
  return integer(value, field, 0n, UINT64_MAX);
}

/** An enum as its number or its name. */
function enumValue(value: unknown, field: string, names: Record<string, number>): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0x7fffffff) return value;
  if (typeof value === 'string' && !DECIMAL.test(value)) {
    const known = names[value];
    if (known === undefined) fail(field, `unknown enum value '${value}'`);
    return known;
  }
  const n = integer(value, field, INT32_MIN, INT32_MAX);
  return n === undefined ? undefined : Number(n);
}

/** Hex digit values by character code; -1 for anything else. */
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[97 + i] = 10 + i;
  HEX[65 + i] = 10 + i;
}

/** An id in hex (either case); anything that is not even-length hex becomes `invalid`. */
function hexId(value: unknown, field: string, invalid = EMPTY): Uint8Array | undefined {
  const text = str(value, field);
  if (text === undefined) return undefined;
  if (text.length % 2 !== 0) return invalid;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = HEX[text.charCodeAt(2 * i)] ?? -1;
    const lo = HEX[text.charCodeAt(2 * i + 1)] ?? -1;
    if (hi < 0 || lo < 0) return invalid;
    out[i] = hi * 16 + lo;
  }
  return out;
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function toResourceSpans(o: Obj): ResourceSpansInit {
  return {
    resource: object(o.resource, 'resource', (r) => ({
      attributes: list(r.attributes, 'attributes', toKeyValue),
      droppedAttributesCount: uint32(
        r.droppedAttributesCount ?? r.dropped_attributes_count,
        'droppedAttributesCount',
      ),
    })),
    scopeSpans: list(o.scopeSpans ?? o.scope_spans, 'scopeSpans', toScopeSpans),
    schemaUrl: str(o.schemaUrl ?? o.schema_url, 'schemaUrl'),
  };
}

function toScopeSpans(o: Obj): ScopeSpansInit {
  return {
    scope: object(o.scope, 'scope', (s) => ({
      name: str(s.name, 'name'),
      version: str(s.version, 'version'),
      attributes: list(s.attributes, 'attributes', toKeyValue),
      droppedAttributesCount: uint32(
        s.droppedAttributesCount ?? s.dropped_attributes_count,
        'droppedAttributesCount',
      ),
    })),
    spans: list(o.spans, 'spans', toSpan),
    schemaUrl: str(o.schemaUrl ?? o.schema_url, 'schemaUrl'),
  };
}

function toSpan(o: Obj): SpanInit {
  return {
    traceId: hexId(o.traceId ?? o.trace_id, 'traceId'),
    spanId: hexId(o.spanId ?? o.span_id, 'spanId'),
    traceState: str(o.traceState ?? o.trace_state, 'traceState'),
    parentSpanId: hexId(o.parentSpanId ?? o.parent_span_id, 'parentSpanId', INVALID_PARENT_ID),
    flags: uint32(o.flags, 'flags'),
    name: str(o.name, 'name'),
    kind: enumValue(o.kind, 'kind', SPAN_KINDS),
    startTimeUnixNano: uint64(o.startTimeUnixNano ?? o.start_time_unix_nano, 'startTimeUnixNano'),
    endTimeUnixNano: uint64(o.endTimeUnixNano ?? o.end_time_unix_nano, 'endTimeUnixNano'),
    attributes: list(o.attributes, 'attributes', toKeyValue),
    droppedAttributesCount: uint32(
      o.droppedAttributesCount ?? o.dropped_attributes_count,
      'droppedAttributesCount',
    ),
    events: list(o.events, 'events', toEvent),
    droppedEventsCount: uint32(o.droppedEventsCount ?? o.dropped_events_count, 'droppedEventsCount'),
    links: list(o.links, 'links', toLink),
    droppedLinksCount: uint32(o.droppedLinksCount ?? o.dropped_links_count, 'droppedLinksCount'),
    status: object(o.status, 'status', (s) => ({
      message: str(s.message, 'message'),
      code: enumValue(s.code, 'code', STATUS_CODES),
    })),
  };
}

function toEvent(o: Obj): SpanEventInit {
  return {
    timeUnixNano: uint64(o.timeUnixNano ?? o.time_unix_nano, 'timeUnixNano'),
    name: str(o.name, 'name'),
    attributes: list(o.attributes, 'attributes', toKeyValue),
    droppedAttributesCount: uint32(
      o.droppedAttributesCount ?? o.dropped_attributes_count,
      'droppedAttributesCount',
    ),
  };
}

function toLink(o: Obj): Partial<SpanLink> {
  return {
    traceId: hexId(o.traceId ?? o.trace_id, 'traceId'),
    spanId: hexId(o.spanId ?? o.span_id, 'spanId'),
    traceState: str(o.traceState ?? o.trace_state, 'traceState'),
    attributes: list(o.attributes, 'attributes', toKeyValue),
    droppedAttributesCount: uint32(
      o.droppedAttributesCount ?? o.dropped_attributes_count,
      'droppedAttributesCount',
    ),
    flags: uint32(o.flags, 'flags'),
  };
}

/** A KeyValue whose value sits at AnyValue nesting `depth` (an attribute's value is depth 1). */
function toKeyValueAt(depth: number): (o: Obj) => KeyValue {
  return (o) => ({
    key: str(o.key, 'key') ?? '',
    value: object(o.value, 'value', (v) => toAnyValue(v, depth)) ?? { type: 'empty' },
  });
}

const toKeyValue = toKeyValueAt(1);

/** An AnyValue: the first member present wins (a well-formed value has exactly one). */
function toAnyValue(o: Obj, depth: number): AnyValue {
  if (depth > MAX_JSON_DEPTH) fail('', `AnyValue nested deeper than ${MAX_JSON_DEPTH} levels`);
  const s = str(o.stringValue ?? o.string_value, 'stringValue');
  if (s !== undefined) return { type: 'string', value: s };
  const b = o.boolValue ?? o.bool_value;
  if (b !== undefined && b !== null) {
    if (typeof b !== 'boolean') fail('boolValue', 'expected a boolean');
    return { type: 'bool', value: b };
  }
  const i = integer(o.intValue ?? o.int_value, 'intValue', INT64_MIN, INT64_MAX);
  if (i !== undefined) return { type: 'int', value: i };
  const d = o.doubleValue ?? o.double_value;
  if (d !== undefined && d !== null) return { type: 'double', value: toDouble(d) };
  const array = object(o.arrayValue ?? o.array_value, 'arrayValue', (a) =>
    list(a.values, 'values', (item) => toAnyValue(item, depth + 1)),
  );
  if (array !== undefined) return { type: 'array', value: array };
  const kvlist = object(o.kvlistValue ?? o.kvlist_value, 'kvlistValue', (l) =>
    list(l.values, 'values', toKeyValueAt(depth + 1)),
  );
  if (kvlist !== undefined) return { type: 'kvlist', value: kvlist };
  const bytes = str(o.bytesValue ?? o.bytes_value, 'bytesValue');
  if (bytes !== undefined) {
    if (!BASE64.test(bytes)) fail('bytesValue', 'expected base64');
    return { type: 'bytes', value: new Uint8Array(Buffer.from(bytes, 'base64')) };
  }
  return { type: 'empty' };
}

/** A double as a JSON number, or a string: a number, "NaN", "Infinity" or "-Infinity". */
function toDouble(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') {
    if (value === 'NaN') return Number.NaN;
    if (value === 'Infinity') return Number.POSITIVE_INFINITY;
    if (value === '-Infinity') return Number.NEGATIVE_INFINITY;
    const n = Number(value);
    if (value.trim() !== '' && !Number.isNaN(n)) return n;
  }
  return fail('doubleValue', 'expected a number');
}
