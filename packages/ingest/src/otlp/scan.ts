/**
 * Zero-copy validation of an OTLP `ExportTraceServiceRequest` in protobuf wire format.
 *
 * The receiver's hot path: it walks the bytes once without building objects, proves the request is
 * well formed (so the indexer can later decode it without surprises), counts spans, and rejects
 * individual spans whose ids are unusable. Full decoding happens later, off the hot path
 * (`messages.ts` `decodeTraceRequest`).
 *
 * The walker keeps its cursor results in module-level variables instead of returning objects, so a
 * scan allocates nothing but its result object unless a span is rejected. It is synchronous, so the
 * shared state is safe.
 */
import { isUtf8 } from 'node:buffer';

/** Options for {@link scanTraceRequest}. */
export interface ScanLimits {
  /** Deepest allowed nesting of AnyValue (an attribute's value is depth 1). Default 32. */
  maxDepth?: number;
}

/** The request could not be decoded: answer INVALID_ARGUMENT / HTTP 400 and store nothing. */
export interface ScanFailure {
  ok: false;
  /** What is wrong and at which byte offset, for the client and the log. */
  error: string;
}

/** The request is well formed; `bytes` holds exactly the accepted spans. */
export interface ScanSuccess {
  ok: true;
  /** Spans accepted (present in `bytes`). */
  spans: number;
  /** Spans dropped for bad ids; goes to `partial_success.rejected_spans`. */
  rejectedSpans: number;
  /** Set when `rejectedSpans > 0`: names the first problems, for `partial_success.error_message`. */
  errorMessage?: string;
  /**
   * The input itself when nothing was rejected; otherwise a re-encoded request without the rejected
   * spans (and without scope or resource groups that were left with no spans).
   */
  bytes: Uint8Array;
  /** Number of ResourceSpans in the input. */
  resourceSpans: number;
  /** `service.name` of the first resource, when it is a string attribute. */
  serviceName?: string;
}

export type ScanResult = ScanFailure | ScanSuccess;

export const DEFAULT_MAX_DEPTH = 32;
/** How many span problems the partial-success message spells out before summarising. */
const MAX_LISTED_PROBLEMS = 5;
/** Span names in messages are cut to this many characters: the message goes back to the client. */
const MAX_NAME_CHARS = 80;
/**
 * From this length on, the native (SIMD) UTF-8 check beats the JS loop; below it the native call's
 * fixed cost (~80 ns) dominates. Measured crossover on Node 20: 100-128 bytes of ASCII.
 */
const NATIVE_UTF8_MIN_LENGTH = 112;

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const SGROUP = 3;
const EGROUP = 4;
const I32 = 5;

const EMPTY = new Uint8Array(0);
const SERVICE_NAME = new TextEncoder().encode('service.name');
const textDecoder = new TextDecoder();

let buf: Uint8Array = EMPTY;
let maxDepth = DEFAULT_MAX_DEPTH;
let error = '';
/** Results of readTag. */
let field = 0;
let wire = 0;
/** Result of readLen. */
let len = 0;

let spanCount = 0;
let acceptedCount = 0;
let resourceCount = 0;
let serviceName: string | undefined;
/** Ordinals (in wire order) of rejected spans, and the first few reasons; null until a rejection. */
let rejected: number[] | null = null;
let problems: string[] | null = null;

/** Per-span id locations (last occurrence wins, as in proto3), filled by scanSpan. */
let traceIdAt = 0;
let traceIdLen = 0;
let spanIdAt = 0;
let spanIdLen = 0;
let parentIdLen = 0;
let nameAt = 0;
let nameLen = 0;

/**
 * Validates an OTLP/protobuf `ExportTraceServiceRequest` without materialising it.
 *
 * Checks: varints and length prefixes stay within their enclosing message; known fields carry the
 * wire type of the schema; unknown fields of any valid wire type (groups included) are skipped;
 * every `string` field is valid UTF-8; AnyValue nests at most `maxDepth` deep. Any failure makes the
 * whole request undecodable (`ok: false`). Per span: `trace_id` must be 16 bytes and not all zero,
 * `span_id` 8 bytes and not all zero, `parent_span_id` empty or 8 bytes; a span failing these is
 * rejected alone and left out of `bytes`. Never throws.
 */
export function scanTraceRequest(bytes: Uint8Array, limits?: ScanLimits): ScanResult {
  reset(bytes, limits?.maxDepth ?? DEFAULT_MAX_DEPTH);
  try {
    if (scanRequest(0, bytes.length) < 0) return { ok: false, error };
    const result: ScanSuccess = {
      ok: true,
      spans: acceptedCount,
      rejectedSpans: spanCount - acceptedCount,
      bytes,
      resourceSpans: resourceCount,
    };
    if (serviceName !== undefined) result.serviceName = serviceName;
    if (rejected !== null) {
      result.errorMessage = describeRejections(rejected.length, problems ?? []);
      result.bytes = rewriteWithout(rejected);
    }
    return result;
  } catch (cause) {
    // Only a huge caller-supplied maxDepth can recurse deep enough to exhaust the stack.
    if (cause instanceof RangeError) return { ok: false, error: 'message nesting exhausted the stack' };
    throw cause;
  } finally {
    // Do not keep a large request alive between calls.
    reset(EMPTY, DEFAULT_MAX_DEPTH);
  }
}

function reset(bytes: Uint8Array, depth: number): void {
  buf = bytes;
  maxDepth = depth;
  error = '';
  spanCount = 0;
  acceptedCount = 0;
  resourceCount = 0;
  serviceName = undefined;
  rejected = null;
  problems = null;
}

function fail(message: string): number {
  error = message;
  return -1;
}

function wrongWire(name: string, pos: number): number {
  return fail(`wrong wire type ${wire} for ${name} at byte ${pos}`);
}

/** Reads a field tag at pos (< end) into `field`/`wire`; returns the position after it or -1. */
function readTag(pos: number, end: number): number {
  const b = buf[pos]!;
  if (b < 0x80) {
    if (b < 8) return fail(`field number 0 at byte ${pos}`);
    field = b >>> 3;
    wire = b & 7;
    return pos + 1;
  }
  // Tags are uint32 varints of at most 5 bytes.
  let value = b & 0x7f;
  let shift = 7;
  let p = pos + 1;
  for (;;) {
    if (p >= end) return fail(`truncated tag at byte ${pos}`);
    const c = buf[p++]!;
    if (shift === 28) {
      if (c > 0x0f) return fail(`tag overflows 32 bits at byte ${pos}`);
      value += c * 0x10000000;
      break;
    }
    value |= (c & 0x7f) << shift;
    if (c < 0x80) break;
    shift += 7;
  }
  field = Math.floor(value / 8);
  wire = value & 7;
  if (field === 0) return fail(`field number 0 at byte ${pos}`);
  return p;
}

/**
 * Reads a length prefix into `len`, checking it fits before `end`; returns the content start or -1.
 * Lengths are uint32 varints of at most 5 bytes: protobufjs, which decodes what this accepts, reads
 * a longer prefix as if it were exactly 10 bytes long.
 */
function readLen(pos: number, end: number): number {
  if (pos >= end) return fail(`truncated length at byte ${pos}`);
  const start = pos;
  let b = buf[pos++]!;
  let value = b;
  if (b >= 0x80) {
    value = b & 0x7f;
    let scale = 128;
    for (let i = 1; ; i++) {
      if (pos >= end) return fail(`truncated length at byte ${start}`);
      b = buf[pos++]!;
      if (i === 4 && b > 0x0f) return fail(`length prefix longer than 32 bits at byte ${start}`);
      value += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 128;
    }
  }
  if (value > end - pos) {
    return fail(
      `length ${value} at byte ${start} runs past the end of its message (${end - pos} bytes left)`,
    );
  }
  len = value;
  return pos;
}

/** Skips a varint of at most 10 bytes whose value fits 64 bits; returns the next position or -1. */
function skipVarint(pos: number, end: number): number {
  const start = pos;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) return fail(`truncated varint at byte ${start}`);
    const b = buf[pos++]!;
    if (b < 0x80) {
      if (i === 9 && b > 1) break;
      return pos;
    }
  }
  return fail(`varint overflows 64 bits at byte ${start}`);
}

function skipFixed(pos: number, end: number, size: number): number {
  if (end - pos < size) return fail(`truncated ${size * 8}-bit value at byte ${pos}`);
  return pos + size;
}

/** Skips the value of an unknown field whose tag was just read; returns the next position or -1. */
function skipField(pos: number, end: number, depth: number): number {
  // A copy, so TypeScript does not narrow `wire` itself inside the group loop below.
  const type = wire;
  switch (type) {
    case VARINT:
      return skipVarint(pos, end);
    case I64:
      return skipFixed(pos, end, 8);
    case LEN:
      pos = readLen(pos, end);
      return pos < 0 ? pos : pos + len;
    case I32:
      return skipFixed(pos, end, 4);
    case SGROUP: {
      // Groups are obsolete but still valid wire format; skip to the matching end-group tag.
      if (depth >= maxDepth) return fail(`groups nested deeper than ${maxDepth} at byte ${pos}`);
      const group = field;
      while (pos < end) {
        pos = readTag(pos, end);
        if (pos < 0) return pos;
        if (wire === EGROUP) {
          if (field !== group) return fail(`mismatched end-group tag at byte ${pos}`);
          return pos;
        }
        pos = skipField(pos, end, depth + 1);
        if (pos < 0) return pos;
      }
      return fail(`unterminated group ${group}`);
    }
    case EGROUP:
      return fail(`unexpected end-group tag at byte ${pos}`);
    default:
      return fail(`invalid wire type ${type} at byte ${pos}`);
  }
}

function unknownField(pos: number, end: number): number {
  return skipField(pos, end, 0);
}

/** A `string` field: length-delimited, valid UTF-8. */
function stringField(pos: number, end: number, name: string): number {
  if (wire !== LEN) return wrongWire(name, pos);
  pos = readLen(pos, end);
  if (pos < 0) return pos;
  const stop = pos + len;
  if (!validUtf8(pos, stop)) return fail(`invalid UTF-8 in ${name} at byte ${pos}`);
  return stop;
}

/** A `bytes` field; leaves its length in `len`. */
function bytesField(pos: number, end: number, name: string): number {
  if (wire !== LEN) return wrongWire(name, pos);
  return readLen(pos, end);
}

/** A 64-bit varint field (int64). */
function varintField(pos: number, end: number, name: string): number {
  if (wire !== VARINT) return wrongWire(name, pos);
  return skipVarint(pos, end);
}

/**
 * A 32-bit varint field (uint32, int32, enum, bool): 1 to 5 bytes, or 10 for a sign-extended negative
 * int32. protobufjs misreads the non-canonical 6 to 9 byte forms, so they are refused here.
 */
function varint32Field(pos: number, end: number, name: string): number {
  if (wire !== VARINT) return wrongWire(name, pos);
  const start = pos;
  pos = skipVarint(pos, end);
  if (pos < 0) return pos;
  const size = pos - start;
  if (size > 5 && size < 10) return fail(`${size}-byte varint for 32-bit ${name} at byte ${start}`);
  return pos;
}

function fixed64Field(pos: number, end: number, name: string): number {
  if (wire !== I64) return wrongWire(name, pos);
  return skipFixed(pos, end, 8);
}

function fixed32Field(pos: number, end: number, name: string): number {
  if (wire !== I32) return wrongWire(name, pos);
  return skipFixed(pos, end, 4);
}

/** A message-typed field: returns its content start with the length in `len`. */
function messageField(pos: number, end: number, name: string): number {
  if (wire !== LEN) return wrongWire(name, pos);
  return readLen(pos, end);
}

function scanRequest(pos: number, end: number): number {
  while (pos < end) {
    pos = readTag(pos, end);
    if (pos < 0) return pos;
    if (field === 1) {
      pos = messageField(pos, end, 'ExportTraceServiceRequest.resource_spans');
      if (pos < 0) return pos;
      const stop = pos + len;
      pos = scanResourceSpans(pos, stop, resourceCount === 0);
      resourceCount++;
    } else {
      pos = unknownField(pos, end);
    }
    if (pos < 0) return pos;
  }
  return pos;
}

function scanResourceSpans(pos: number, end: number, first: boolean): number {
  while (pos < end) {
    pos = readTag(pos, end);
    if (pos < 0) return pos;
    switch (field) {
      case 1: {
        pos = messageField(pos, end, 'ResourceSpans.resource');
        if (pos < 0) return pos;
        pos = scanResource(pos, pos + len, first);
        break;
      }
      case 2: {
        pos = messageField(pos, end, 'ResourceSpans.scope_spans');
        if (pos < 0) return pos;
        pos = scanScopeSpans(pos, pos + len);
        break;
      }
      case 3:
        pos = stringField(pos, end, 'ResourceSpans.schema_url');
        break;
      default:
        pos = unknownField(pos, end);
    }
    if (pos < 0) return pos;
  }
  return pos;
}

function scanResource(pos: number, end: number, first: boolean): number {
  while (pos < end) {
    pos = readTag(pos, end);
    if (pos < 0) return pos;
    switch (field) {
      case 1: {
        pos = messageField(pos, end, 'Resource.attributes');
        if (pos < 0) return pos;
        const start = pos;
        pos = scanKeyValue(pos, pos + len, 1);
        if (pos >= 0 && first && serviceName === undefined) captureServiceName(start, pos);
        break;
      }
      case 2:
        pos = varint32Field(pos, end, 'Resource.dropped_attributes_count');
        break;
      case 3: {
        pos = messageField(pos, end, 'Resource.entity_refs');
        if (pos < 0) return pos;
        pos = scanEntityRef(pos, pos + len);
        break;
      }
      default:
        pos = unknownField(pos, end);
    }
    if (pos < 0) return pos;
  }
  return pos;
}

function scanEntityRef(pos: number, end: number): number {
  while (pos < end) {
    pos = readTag(pos, end);
    if (pos < 0) return pos;
    switch (field) {
      case 1:
        pos = stringField(pos, end, 'EntityRef.schema_url');
        break;
      case 2:
        pos = stringField(pos, end, 'EntityRef.type');
        break;
      case 3:
        pos = stringField(pos, end, 'EntityRef.id_keys');
        break;
      case 4:
        pos = stringField(pos, end, 'EntityRef.description_keys');
        break;
      default:
        pos = unknownField(pos, end);
    }
    if (pos < 0) return pos;
  }
  return pos;
}

function scanScopeSpans(pos: number, end: number): number {
  while (pos < end) {
    pos = readTag(pos, end);
    if (pos < 0) return pos;
    switch (field) {
      case 1: {
        pos = messageField(pos, end, 'ScopeSpans.scope');
        if (pos < 0) return pos;
        pos = scanScope(pos, pos + len);
        break;
      }
      case 2: {
        pos = messageField(pos, end, 'ScopeSpans.spans');
        if (pos < 0) return pos;
        pos = scanSpan(pos, pos + len);
        if (pos >= 0) judgeSpan();
        break;
      }
      case 3:
        pos = stringField(pos, end, 'ScopeSpans.schema_url');
        break;
      default:
        pos = unknownField(pos, end);
    }
    if (pos < 0) return pos;
  }
  return pos;
}

function scanScope(pos: number, end: number): number {
  while (pos < end) {
    pos = readTag(pos, end);
    if (pos < 0) return pos;
    switch (field) {
      case 1:
        pos = stringField(pos, end, 'InstrumentationScope.name');
        break;
      case 2:
        pos = stringField(pos, end, 'InstrumentationScope.version');
        break;
      case 3: {
        pos = messageField(pos, end, 'InstrumentationScope.attributes');
        if (pos < 0) return pos;
        pos = scanKeyValue(pos, pos + len, 1);
        break;
      }
      case 4:
        pos = varint32Field(pos, end, 'InstrumentationScope.dropped_attributes_count');
        break;
      default:
        pos = unknownField(pos, end);
    }
    if (pos < 0) return pos;
  }
  return pos;
}

function scanSpan(pos: number, end: number): number {
  traceIdLen = 0;
  spanIdLen = 0;
  parentIdLen = 0;
  nameLen = 0;
  while (pos < end) {
    pos = readTag(pos, end);
    if (pos < 0) return pos;
    switch (field) {
      case 1:
        pos = bytesField(pos, end, 'Span.trace_id');
        if (pos < 0) return pos;
        traceIdAt = pos;
        traceIdLen = len;
        pos += len;
        break;
      case 2:
        pos = bytesField(pos, end, 'Span.span_id');
        if (pos < 0) return pos;
        spanIdAt = pos;
        spanIdLen = len;
        pos += len;
        break;
      case 3:
        pos = stringField(pos, end, 'Span.trace_state');
        break;
      case 4:
        pos = bytesField(pos, end, 'Span.parent_span_id');
        if (pos < 0) return pos;
        parentIdLen = len;
        pos += len;
        break;
      case 5:
        pos = stringField(pos, end, 'Span.name');
        if (pos < 0) return pos;
        // stringField leaves the name's length in `len` and returns its end.
        nameAt = pos - len;
        nameLen = len;
        break;
      case 6:
        pos = varint32Field(pos, end, 'Span.kind');
        break;
      case 7:
        pos = fixed64Field(pos, end, 'Span.start_time_unix_nano');
        break;
      case 8:
        pos = fixed64Field(pos, end, 'Span.end_time_unix_nano');
        break;
      case 9: {
        pos = messageField(pos, end, 'Span.attributes');
        if (pos < 0) return pos;
        pos = scanKeyValue(pos, pos + len, 1);
        break;
      }
      case 10:
        pos = varint32Field(pos, end, 'Span.dropped_attributes_count');
        break;
      case 11: {
        pos = messageField(pos, end, 'Span.events');
        if (pos < 0) return pos;
        pos = scanEvent(pos, pos + len);
        break;
      }
      case 12:
        pos = varint32Field(pos, end, 'Span.dropped_events_count');
        break;
      case 13: {
        pos = messageField(pos, end, 'Span.links');
        if (pos < 0) return pos;
        pos = scanLink(pos, pos + len);
        break;
      }
      case 14:
        pos = varint32Field(pos, end, 'Span.dropped_links_count');
        break;
      case 15: {
        pos = messageField(pos, end, 'Span.status');
        if (pos < 0) return pos;
        pos = scanStatus(pos, pos + len);
        break;
      }
      case 16:
        pos = fixed32Field(pos, end, 'Span.flags');
        break;
      default:
        pos = unknownField(pos, end);
    }
    if (pos < 0) return pos;
  }
  return pos;
}

function scanEvent(pos: number, end: number): number {
  while (pos < end) {
    pos = readTag(pos, end);
    if (pos < 0) return pos;
    switch (field) {
      case 1:
        pos = fixed64Field(pos, end, 'Span.Event.time_unix_nano');
        break;
      case 2:
        pos = stringField(pos, end, 'Span.Event.name');
        break;
      case 3: {
        pos = messageField(pos, end, 'Span.Event.attributes');
        if (pos < 0) return pos;
        pos = scanKeyValue(pos, pos + len, 1);
        break;
      }
      case 4:
        pos = varint32Field(pos, end, 'Span.Event.dropped_attributes_count');
        break;
      default:
        pos = unknownField(pos, end);
    }
    if (pos < 0) return pos;
  }
  return pos;
}

function scanLink(pos: number, end: number): number {
  while (pos < end) {
    pos = readTag(pos, end);
    if (pos < 0) return pos;
    switch (field) {
      case 1:
        pos = bytesField(pos, end, 'Span.Link.trace_id');
        if (pos >= 0) pos += len;
        break;
      case 2:
        pos = bytesField(pos, end, 'Span.Link.span_id');
        if (pos >= 0) pos += len;
        break;
      case 3:
        pos = stringField(pos, end, 'Span.Link.trace_state');
        break;
      case 4: {
        pos = messageField(pos, end, 'Span.Link.attributes');
        if (pos < 0) return pos;
        pos = scanKeyValue(pos, pos + len, 1);
        break;
      }
      case 5:
        pos = varint32Field(pos, end, 'Span.Link.dropped_attributes_count');
        break;
      case 6:
        pos = fixed32Field(pos, end, 'Span.Link.flags');
        break;
      default:
        pos = unknownField(pos, end);
    }
    if (pos < 0) return pos;
  }
  return pos;
}

function scanStatus(pos: number, end: number): number {
  while (pos < end) {
    pos = readTag(pos, end);
    if (pos < 0) return pos;
    switch (field) {
      case 2:
        pos = stringField(pos, end, 'Status.message');
        break;
      case 3:
        pos = varint32Field(pos, end, 'Status.code');
        break;
      default:
        pos = unknownField(pos, end);
    }
    if (pos < 0) return pos;
  }
  return pos;
}

/** A KeyValue whose value sits at AnyValue nesting `depth`. */
function scanKeyValue(pos: number, end: number, depth: number): number {
  while (pos < end) {
    pos = readTag(pos, end);
    if (pos < 0) return pos;
    switch (field) {
      case 1:
        pos = stringField(pos, end, 'KeyValue.key');
        break;
      case 2: {
        pos = messageField(pos, end, 'KeyValue.value');
        if (pos < 0) return pos;
        pos = scanAnyValue(pos, pos + len, depth);
        break;
      }
      case 3:
        pos = varint32Field(pos, end, 'KeyValue.key_strindex');
        break;
      default:
        pos = unknownField(pos, end);
    }
    if (pos < 0) return pos;
  }
  return pos;
}

function scanAnyValue(pos: number, end: number, depth: number): number {
  if (depth > maxDepth) return fail(`AnyValue nested deeper than ${maxDepth} levels at byte ${pos}`);
  while (pos < end) {
    pos = readTag(pos, end);
    if (pos < 0) return pos;
    switch (field) {
      case 1:
        pos = stringField(pos, end, 'AnyValue.string_value');
        break;
      case 2:
        pos = varint32Field(pos, end, 'AnyValue.bool_value');
        break;
      case 3:
        pos = varintField(pos, end, 'AnyValue.int_value');
        break;
      case 4:
        pos = fixed64Field(pos, end, 'AnyValue.double_value');
        break;
      case 5: {
        pos = messageField(pos, end, 'AnyValue.array_value');
        if (pos < 0) return pos;
        pos = scanArrayValue(pos, pos + len, depth);
        break;
      }
      case 6: {
        pos = messageField(pos, end, 'AnyValue.kvlist_value');
        if (pos < 0) return pos;
        pos = scanKeyValueList(pos, pos + len, depth);
        break;
      }
      case 7:
        pos = bytesField(pos, end, 'AnyValue.bytes_value');
        if (pos >= 0) pos += len;
        break;
      case 8:
        pos = varint32Field(pos, end, 'AnyValue.string_value_strindex');
        break;
      default:
        pos = unknownField(pos, end);
    }
    if (pos < 0) return pos;
  }
  return pos;
}

/** An ArrayValue inside an AnyValue at `depth`: its elements are one level deeper. */
function scanArrayValue(pos: number, end: number, depth: number): number {
  while (pos < end) {
    pos = readTag(pos, end);
    if (pos < 0) return pos;
    if (field === 1) {
      pos = messageField(pos, end, 'ArrayValue.values');
      if (pos < 0) return pos;
      pos = scanAnyValue(pos, pos + len, depth + 1);
    } else {
      pos = unknownField(pos, end);
    }
    if (pos < 0) return pos;
  }
  return pos;
}

function scanKeyValueList(pos: number, end: number, depth: number): number {
  while (pos < end) {
    pos = readTag(pos, end);
    if (pos < 0) return pos;
    if (field === 1) {
      pos = messageField(pos, end, 'KeyValueList.values');
      if (pos < 0) return pos;
      pos = scanKeyValue(pos, pos + len, depth + 1);
    } else {
      pos = unknownField(pos, end);
    }
    if (pos < 0) return pos;
  }
  return pos;
}

/** Accepts or rejects the span scanSpan just walked. */
function judgeSpan(): void {
  const ordinal = spanCount++;
  let problem = '';
  if (traceIdLen !== 16) problem = `invalid trace_id length ${traceIdLen}`;
  else if (allZero(traceIdAt, 16)) problem = 'trace_id is all zero';
  else if (spanIdLen !== 8) problem = `invalid span_id length ${spanIdLen}`;
  else if (allZero(spanIdAt, 8)) problem = 'span_id is all zero';
  else if (parentIdLen !== 0 && parentIdLen !== 8) problem = `invalid parent_span_id length ${parentIdLen}`;
  if (problem === '') {
    acceptedCount++;
    return;
  }
  if (rejected === null) rejected = [];
  rejected.push(ordinal);
  if (problems === null) problems = [];
  if (problems.length < MAX_LISTED_PROBLEMS) problems.push(`${problem} (${describeSpanName()})`);
}

function allZero(at: number, size: number): boolean {
  // Real ids are random, so the first byte almost always decides.
  for (let i = at; i < at + size; i++) if (buf[i] !== 0) return false;
  return true;
}

function describeSpanName(): string {
  if (nameLen === 0) return 'unnamed span';
  let name = textDecoder.decode(buf.subarray(nameAt, nameAt + nameLen));
  if (name.length > MAX_NAME_CHARS) name = `${name.slice(0, MAX_NAME_CHARS)}…`;
  return `span '${name}'`;
}

function describeRejections(count: number, listed: string[]): string {
  const more = count > listed.length ? `, and ${count - listed.length} more` : '';
  return `${count} span${count === 1 ? '' : 's'} rejected: ${listed.join(', ')}${more}`;
}

/** Reads `service.name` out of a KeyValue already validated at [start, end). */
function captureServiceName(start: number, end: number): void {
  let keyMatches = false;
  let valueAt = -1;
  let valueEnd = -1;
  let pos = start;
  while (pos < end) {
    pos = readTag(pos, end);
    if (field === 1 && wire === LEN) {
      pos = readLen(pos, end);
      keyMatches = len === SERVICE_NAME.length && bytesEqual(pos, SERVICE_NAME);
      pos += len;
    } else if (field === 2 && wire === LEN) {
      pos = readLen(pos, end);
      valueAt = pos;
      valueEnd = pos + len;
      pos = valueEnd;
    } else {
      pos = unknownField(pos, end);
    }
  }
  if (!keyMatches || valueAt < 0) return;
  pos = valueAt;
  while (pos < valueEnd) {
    pos = readTag(pos, valueEnd);
    if (field === 1 && wire === LEN) {
      pos = readLen(pos, valueEnd);
      serviceName = textDecoder.decode(buf.subarray(pos, pos + len));
      pos += len;
    } else {
      pos = unknownField(pos, valueEnd);
    }
  }
}

function bytesEqual(at: number, expected: Uint8Array): boolean {
  for (let i = 0; i < expected.length; i++) if (buf[at + i] !== expected[i]) return false;
  return true;
}

/**
 * UTF-8 validity of buf[start, end): ASCII fast loop for short strings, the native (SIMD) check for
 * long ones, and a hand-rolled validator (Unicode table 3-7: no overlongs, surrogates or > U+10FFFF)
 * for short non-ASCII ones.
 */
function validUtf8(start: number, end: number): boolean {
  if (end - start >= NATIVE_UTF8_MIN_LENGTH) return isUtf8(buf.subarray(start, end));
  let i = start;
  // ASCII fast path, four bytes per step.
  while (i + 4 <= end && ((buf[i]! | buf[i + 1]! | buf[i + 2]! | buf[i + 3]!) & 0x80) === 0) i += 4;
  while (i < end) {
    const c = buf[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c < 0xc2 || c > 0xf4) return false;
    if (c < 0xe0) {
      if (i + 1 >= end || (buf[i + 1]! & 0xc0) !== 0x80) return false;
      i += 2;
      continue;
    }
    if (c < 0xf0) {
      if (i + 2 >= end) return false;
      const c1 = buf[i + 1]!;
      if (c === 0xe0 ? c1 < 0xa0 || c1 > 0xbf : c === 0xed ? c1 < 0x80 || c1 > 0x9f : (c1 & 0xc0) !== 0x80) {
        return false;
      }
      if ((buf[i + 2]! & 0xc0) !== 0x80) return false;
      i += 3;
      continue;
    }
    if (i + 3 >= end) return false;
    const c1 = buf[i + 1]!;
    if (c === 0xf0 ? c1 < 0x90 || c1 > 0xbf : c === 0xf4 ? c1 < 0x80 || c1 > 0x8f : (c1 & 0xc0) !== 0x80) {
      return false;
    }
    if ((buf[i + 2]! & 0xc0) !== 0x80 || (buf[i + 3]! & 0xc0) !== 0x80) return false;
    i += 4;
  }
  return true;
}

/**
 * Re-encodes the (already validated) request in `buf` without the spans whose wire-order ordinals
 * are in `drop` (ascending). Unknown fields and everything else are copied byte for byte; only the
 * length prefixes of the enclosing ResourceSpans and ScopeSpans are recomputed. The rare path, so it
 * allocates freely.
 */
function rewriteWithout(drop: number[]): Uint8Array {
  const out: Uint8Array[] = [];
  const state = { ordinal: 0, next: 0 };
  const end = buf.length;
  let pos = 0;
  while (pos < end) {
    const fieldStart = pos;
    pos = readTag(pos, end);
    if (field === 1 && wire === LEN) {
      const tagBytes = buf.subarray(fieldStart, pos);
      pos = readLen(pos, end);
      const stop = pos + len;
      nested(out, tagBytes, () => rewriteResourceSpans(out, pos, stop, drop, state));
      pos = stop;
    } else {
      pos = unknownField(pos, end);
      out.push(buf.subarray(fieldStart, pos));
    }
  }
  let total = 0;
  for (const part of out) total += part.length;
  const result = new Uint8Array(total);
  let at = 0;
  for (const part of out) {
    result.set(part, at);
    at += part.length;
  }
  return result;
}

interface RewriteState {
  /** Ordinal of the next span in wire order. */
  ordinal: number;
  /** Index into the drop list of the next span to drop. */
  next: number;
}

/**
 * Appends one length-delimited field to `out`: its original tag, a fresh length, then the parts
 * `body` appends (returning their total size, or -1 to drop the field altogether).
 */
function nested(out: Uint8Array[], tagBytes: Uint8Array, body: () => number): number {
  const headerAt = out.length;
  out.push(EMPTY);
  const size = body();
  if (size < 0) {
    out.length = headerAt;
    return -1;
  }
  const lenBytes = encodeVarint(size);
  const header = new Uint8Array(tagBytes.length + lenBytes.length);
  header.set(tagBytes, 0);
  header.set(lenBytes, tagBytes.length);
  out[headerAt] = header;
  return header.length + size;
}

function rewriteResourceSpans(
  out: Uint8Array[],
  pos: number,
  end: number,
  drop: number[],
  state: RewriteState,
): number {
  let size = 0;
  let droppedScopes = 0;
  let keptScopes = 0;
  while (pos < end) {
    const fieldStart = pos;
    pos = readTag(pos, end);
    if (field === 2 && wire === LEN) {
      const tagBytes = buf.subarray(fieldStart, pos);
      pos = readLen(pos, end);
      const start = pos;
      const stop = pos + len;
      const written = nested(out, tagBytes, () => rewriteScopeSpans(out, start, stop, drop, state));
      if (written < 0) droppedScopes++;
      else {
        keptScopes++;
        size += written;
      }
      pos = stop;
    } else {
      pos = unknownField(pos, end);
      out.push(buf.subarray(fieldStart, pos));
      size += pos - fieldStart;
    }
  }
  return droppedScopes > 0 && keptScopes === 0 ? -1 : size;
}

function rewriteScopeSpans(
  out: Uint8Array[],
  pos: number,
  end: number,
  drop: number[],
  state: RewriteState,
): number {
  let size = 0;
  let kept = 0;
  let dropped = 0;
  // Runs of fields between dropped spans are copied as single slices.
  let runStart = pos;
  while (pos < end) {
    const fieldStart = pos;
    pos = readTag(pos, end);
    if (field === 2 && wire === LEN) {
      pos = readLen(pos, end);
      pos += len;
      const ordinal = state.ordinal++;
      if (state.next < drop.length && drop[state.next] === ordinal) {
        state.next++;
        dropped++;
        if (fieldStart > runStart) out.push(buf.subarray(runStart, fieldStart));
        size += fieldStart - runStart;
        runStart = pos;
      } else {
        kept++;
      }
    } else {
      pos = unknownField(pos, end);
    }
  }
  if (dropped > 0 && kept === 0) return -1;
  if (end > runStart) out.push(buf.subarray(runStart, end));
  return size + (end - runStart);
}

function encodeVarint(value: number): Uint8Array {
  const bytes: number[] = [];
  while (value >= 0x80) {
    bytes.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  bytes.push(value);
  return Uint8Array.from(bytes);
}
