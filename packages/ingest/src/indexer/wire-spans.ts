/**
 * The indexer's fast path: reads what the span store's tables need straight from an export's protobuf bytes,
 * without decoding it into objects or converting it to the contract's JSON. The store keeps each span as its
 * OTLP `Span` bytes and converts them when a query reads them (`store/span-text.ts`), so the JSON is built
 * for the few spans a query returns instead of for every span stored. Measured with `npm run bench:index`:
 * decoding (~8 µs/span) and converting (~8 µs/span) were two thirds of the indexer's CPU, and a short BLOB
 * costs DuckDB about half what the JSON text did to append and commit.
 *
 * Exactness: a span is read here only as far as its fields are plain (one string value per derived
 * attribute, no `set_state` event); root and workflow spans (whose JSON the lists keep ready), spans with
 * `set_state` events (whose patches are indexed) and anything unusual are decoded and converted by the same
 * code as the record path (`toSpanRecord`), so both paths store the same facts
 * (test/indexer/wire-spans.test.ts compares them on every query).
 */
import { logger } from '@junjo/core/logger';
import { NO_SERVICE_NAME, resourceServiceName, toSpanRecord } from '@junjo/core/span';
import { decodeResourceAttributes, decodeSpan } from '../otlp/messages.ts';
import type { WireSpanInput } from '../store/index.ts';
import type { ExportPayload } from './convert.ts';

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const START_GROUP = 3;
const END_GROUP = 4;
const I32 = 5;

const utf8 = (text: string) => new TextEncoder().encode(text);
const JUNJO_SPAN_TYPE = utf8('junjo.span_type');
const OPENINFERENCE_KIND = utf8('openinference.span.kind');
const GEN_AI_OPERATION = utf8('gen_ai.operation.name');
const GEN_AI_PROVIDER = utf8('gen_ai.provider.name');
const GEN_AI_SYSTEM = utf8('gen_ai.system');
const WORKFLOW = utf8('workflow');
const LLM = utf8('LLM');
const SET_STATE = utf8('set_state');

/** Thrown for bytes that are not a well-formed export: the receivers validated it, so this is a bug. */
class WireError extends Error {}

/**
 * Spans of `exports` in request order, each export read whole before its spans are yielded (an export that
 * cannot be read is skipped with its position logged, as `exportRecords` does, and nothing of it is stored).
 */
export function* wireSpans(exports: readonly ExportPayload[]): Generator<WireSpanInput> {
  for (const { position, payload } of exports) {
    let spans: WireSpanInput[];
    try {
      spans = exportSpans(payload);
    } catch (error) {
      logger.error('WAL record could not be converted; skipped', { position, error: error as Error });
      continue;
    }
    yield* spans;
  }
}

/** Every span of one `ExportTraceServiceRequest`, in request order. */
export function exportSpans(payload: Uint8Array): WireSpanInput[] {
  const reader = new WireReader(payload);
  const spans: WireSpanInput[] = [];
  const end = payload.length;
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === LEN) {
      const len = reader.uint32();
      const start = reader.pos;
      resourceSpans(reader, start, start + len, spans);
      reader.pos = start + len;
    } else reader.skip(tag, end);
  }
  if (reader.pos !== end) throw new WireError('request runs past its end');
  return spans;
}

/** `ResourceSpans`: the service name from its resource (the last `resource` field, as protobufjs reads it). */
function resourceSpans(reader: WireReader, start: number, end: number, out: WireSpanInput[]): void {
  const buf = reader.buf;
  let resourceAt = -1;
  let resourceEnd = -1;
  const scopes: number[] = [];
  reader.pos = start;
  while (reader.pos < end) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if ((field === 1 || field === 2) && (tag & 7) === LEN) {
      const len = reader.uint32();
      if (field === 1) {
        resourceAt = reader.pos;
        resourceEnd = reader.pos + len;
      } else scopes.push(reader.pos, reader.pos + len);
      reader.pos += len;
    } else reader.skip(tag, end);
  }
  const serviceName =
    resourceAt < 0
      ? NO_SERVICE_NAME
      : resourceServiceName(decodeResourceAttributes(buf.subarray(resourceAt, resourceEnd)));
  for (let i = 0; i < scopes.length; i += 2) {
    const scopeEnd = scopes[i + 1]!;
    reader.pos = scopes[i]!;
    while (reader.pos < scopeEnd) {
      const tag = reader.uint32();
      if (tag >>> 3 === 2 && (tag & 7) === LEN) {
        const len = reader.uint32();
        const spanStart = reader.pos;
        out.push(span(reader, spanStart, spanStart + len, serviceName));
        reader.pos = spanStart + len;
      } else reader.skip(tag, scopeEnd);
    }
  }
}

// What a derived attribute's value is, as far as the tables care:
/** Absent, not a string, or the empty string: what the converter reads as `''`. */
const NOT_STRING = 0;
/** A non-empty string other than the one looked for. */
const OTHER_STRING = 1;
/** The string the caller looked for ('workflow', 'LLM'). */
const MATCH = 2;
/** A string and another type in one AnyValue: decoded the slow way. */
const MIXED = 3;

function span(reader: WireReader, start: number, end: number, serviceName: string): WireSpanInput {
  const buf = reader.buf;
  let traceAt = -1;
  let traceLen = 0;
  let spanAt = -1;
  let spanLen = 0;
  let parentLen = 0;
  let startNs = 0n;
  let spanType = NOT_STRING;
  let openInference = NOT_STRING;
  let genAiOperation = NOT_STRING;
  let genAiProvider = NOT_STRING;
  let genAiSystem = NOT_STRING;
  let hasSetState = false;
  reader.pos = start;
  while (reader.pos < end) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 7 && wire === I64) {
      startNs = reader.view.getBigUint64(reader.pos, true);
      reader.pos += 8;
      continue;
    }
    if (wire !== LEN || (field !== 1 && field !== 2 && field !== 4 && field !== 9 && field !== 11)) {
      reader.skip(tag, end);
      continue;
    }
    const len = reader.uint32();
    const at = reader.pos;
    const next = at + len;
    if (next > end) throw new WireError(`span field ${field} runs past the span`);
    switch (field) {
      case 1:
        traceAt = at;
        traceLen = len;
        break;
      case 2:
        spanAt = at;
        spanLen = len;
        break;
      case 4:
        parentLen = len;
        break;
      case 9: {
        // KeyValue { key = 1; value = 2 }: only the keys tables derive something from are looked at.
        let keyAt = -1;
        let keyLen = 0;
        let valueAt = -1;
        let valueEnd = -1;
        reader.pos = at;
        while (reader.pos < next) {
          const t = reader.uint32();
          if ((t >>> 3 === 1 || t >>> 3 === 2) && (t & 7) === LEN) {
            const l = reader.uint32();
            if (t >>> 3 === 1) {
              keyAt = reader.pos;
              keyLen = l;
            } else {
              valueAt = reader.pos;
              valueEnd = reader.pos + l;
            }
            reader.pos += l;
          } else reader.skip(t, next);
        }
        if (keyLen < 13 || keyLen > 23) break;
        const first = buf[keyAt];
        if (first === 0x6a) {
          if (bytesEqual(buf, keyAt, keyLen, JUNJO_SPAN_TYPE))
            spanType = stringValue(reader, valueAt, valueEnd, WORKFLOW);
        } else if (first === 0x6f) {
          if (bytesEqual(buf, keyAt, keyLen, OPENINFERENCE_KIND))
            openInference = stringValue(reader, valueAt, valueEnd, LLM);
        } else if (first === 0x67) {
          if (bytesEqual(buf, keyAt, keyLen, GEN_AI_OPERATION))
            genAiOperation = stringValue(reader, valueAt, valueEnd, null);
          else if (bytesEqual(buf, keyAt, keyLen, GEN_AI_PROVIDER))
            genAiProvider = stringValue(reader, valueAt, valueEnd, null);
          else if (bytesEqual(buf, keyAt, keyLen, GEN_AI_SYSTEM))
            genAiSystem = stringValue(reader, valueAt, valueEnd, null);
        }
        break;
      }
      case 11: {
        // Event { time_unix_nano = 1; name = 2; attributes = 3; … }: only its name matters here.
        let nameAt = -1;
        let nameLen = 0;
        reader.pos = at;
        while (reader.pos < next) {
          const t = reader.uint32();
          if (t >>> 3 === 2 && (t & 7) === LEN) {
            nameLen = reader.uint32();
            nameAt = reader.pos;
            reader.pos += nameLen;
          } else reader.skip(t, next);
        }
        if (nameAt >= 0 && bytesEqual(buf, nameAt, nameLen, SET_STATE)) hasSetState = true;
        break;
      }
    }
    reader.pos = next;
  }
  if (reader.pos !== end) throw new WireError('span runs past its end');
  if (traceLen !== 16 || spanLen !== 8 || (parentLen !== 0 && parentLen !== 8)) {
    throw new WireError(
      `span ids of ${traceLen}/${spanLen}/${parentLen} bytes (the receivers check 16/8/0 or 8)`,
    );
  }
  const view = reader.view;
  const traceId = (view.getBigUint64(traceAt) << 64n) | view.getBigUint64(traceAt + 8);
  const spanId = view.getBigUint64(spanAt);
  const otlp = buf.subarray(start, end);
  const isRoot = parentLen === 0;
  const isWorkflow = spanType === MATCH;
  const mixed =
    spanType === MIXED ||
    openInference === MIXED ||
    genAiOperation === MIXED ||
    genAiProvider === MIXED ||
    genAiSystem === MIXED;
  if (isRoot || isWorkflow || hasSetState || mixed) {
    // The rare spans whose JSON is kept ready or whose events are indexed, and anything unusual: the
    // converter's own reading.
    const record = toSpanRecord(decodeSpan(otlp), serviceName);
    const root = record.parentSpanId === null;
    const workflow = record.junjoSpanType === 'workflow';
    return {
      traceId,
      spanId,
      serviceName,
      startNs: record.startNs,
      isRoot: root,
      isWorkflow: workflow,
      isLlm: record.isLlm,
      statePatches: record.statePatches,
      json: root || workflow ? record.json : null,
      otlp,
    };
  }
  const isLlm =
    openInference === MATCH ||
    genAiOperation === OTHER_STRING ||
    genAiProvider === OTHER_STRING ||
    genAiSystem === OTHER_STRING;
  return {
    traceId,
    spanId,
    serviceName,
    startNs,
    isRoot,
    isWorkflow,
    isLlm,
    statePatches: [],
    json: null,
    otlp,
  };
}

/**
 * Classifies an AnyValue (`start`..`end`; -1 when the KeyValue has no value) as the converter's
 * `stringValue` would read it: not a string or empty (''), the `expected` string, another non-empty string,
 * or MIXED when it carries a string and another member (left to the decoder). With `expected` null, any
 * non-empty string is OTHER_STRING.
 */
function stringValue(reader: WireReader, start: number, end: number, expected: Uint8Array | null): number {
  if (start < 0) return NOT_STRING;
  let stringAt = -1;
  let stringLen = 0;
  let other = false;
  reader.pos = start;
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === LEN) {
      stringLen = reader.uint32();
      stringAt = reader.pos;
      reader.pos += stringLen;
    } else {
      other = true;
      reader.skip(tag, end);
    }
  }
  if (stringAt < 0) return NOT_STRING;
  if (other) return MIXED;
  if (stringLen === 0) return NOT_STRING;
  return expected !== null && bytesEqual(reader.buf, stringAt, stringLen, expected) ? MATCH : OTHER_STRING;
}

function bytesEqual(buf: Uint8Array, at: number, len: number, expected: Uint8Array): boolean {
  if (len !== expected.length) return false;
  for (let i = 0; i < len; i++) if (buf[at + i] !== expected[i]) return false;
  return true;
}

/** A cursor over protobuf bytes. */
class WireReader {
  pos = 0;
  readonly view: DataView;

  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** A varint of at most 32 bits (tags and lengths). */
  uint32(): number {
    const buf = this.buf;
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= buf.length) throw new WireError('truncated varint');
      const b = buf[this.pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    throw new WireError('varint longer than 32 bits');
  }

  /** Skips the field whose tag was just read. */
  skip(tag: number, end: number): void {
    switch (tag & 7) {
      case VARINT:
        while (this.pos < end && this.buf[this.pos]! >= 0x80) this.pos++;
        this.pos++;
        break;
      case I64:
        this.pos += 8;
        break;
      case LEN: {
        // Not `this.pos += this.uint32()`: that adds the length to the position before the length was read.
        const len = this.uint32();
        this.pos += len;
        break;
      }
      case I32:
        this.pos += 4;
        break;
      case START_GROUP: {
        const field = tag >>> 3;
        for (;;) {
          if (this.pos >= end) throw new WireError('unterminated group');
          const inner = this.uint32();
          if ((inner & 7) === END_GROUP) {
            if (inner >>> 3 !== field) throw new WireError('mismatched end-group tag');
            break;
          }
          this.skip(inner, end);
        }
        break;
      }
      default:
        throw new WireError(`wire type ${tag & 7}`);
    }
    if (this.pos > end) throw new WireError('field runs past its message');
  }
}
