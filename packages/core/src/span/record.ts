import { jsonStringContent, keyValuesJson, toHex } from './json-text.ts';
import type { AnyValue, KeyValue, Span, SpanEvent, SpanLink, TraceRequest } from './otlp.ts';
import { formatSpanTime } from './timestamp.ts';

/** OTLP span kind names (CONTRACT §6.2), indexed by the enum number. */
export const SPAN_KIND_NAMES = [
  'UNSPECIFIED',
  'INTERNAL',
  'SERVER',
  'CLIENT',
  'PRODUCER',
  'CONSUMER',
] as const;

export type SpanKindName = (typeof SPAN_KIND_NAMES)[number];

/** `status_code` of the Span object: unset, ok, error. */
export type SpanStatusCode = '0' | '1' | '2';

/** Service name of spans whose resource has no (non-empty, string) `service.name`. */
export const NO_SERVICE_NAME = 'NO_SERVICE_NAME';

/**
 * One `set_state` event of a span (CONTRACT §6.6): a step of workflow state reconstruction. The
 * string fields are the event's attributes; each is `''` when missing or not a string.
 */
export interface StatePatch {
  /** Position of the event in the span's events (and in `events_json`). */
  eventIndex: number;
  timeNs: bigint;
  /** `junjo.state_json_patch`: an RFC 6902 JSON Patch, as text. */
  patch: string;
  /** `junjo.store.id`. */
  storeId: string;
  /** `junjo.store.name`. */
  storeName: string;
  /** `junjo.store.action`. */
  action: string;
  /** `id`: the event's own id. */
  id: string;
}

/**
 * One OTLP span converted for storage: the contract's Span object as JSON text, plus the fields the
 * store indexes or filters on, already extracted so that nobody parses `json` again.
 */
export interface SpanRecord {
  /** 32 lowercase hex digits. */
  traceId: string;
  /** 16 lowercase hex digits. */
  spanId: string;
  /** Lowercase hex; `null` for a root span (empty parent id). */
  parentSpanId: string | null;
  /** `service.name` of the span's own resource, or {@link NO_SERVICE_NAME}. */
  serviceName: string;
  name: string;
  startNs: bigint;
  endNs: bigint;
  kind: SpanKindName;
  statusCode: SpanStatusCode;
  /** `junjo.span_type`: `workflow`, `subflow`, `node`, `run_concurrent`, or `''`. */
  junjoSpanType: string;
  /** `junjo.id`, or `''`. */
  junjoId: string;
  /** `junjo.parent_id`, or `''`. */
  junjoParentId: string;
  /** `junjo.workflow.store.id` of a workflow or subflow span; `''` for other spans. */
  junjoWfStoreId: string;
  /** CONTRACT §6.5: an LLM call, by OpenInference or GenAI semantic conventions. */
  isLlm: boolean;
  /** Every `set_state` event, in event order. */
  statePatches: StatePatch[];
  /** The Span object of CONTRACT §6 as JSON text, keys in contract order. */
  json: string;
}

const STATUS_CODES: readonly SpanStatusCode[] = ['0', '1', '2'];
const EMPTY_OBJECT = '{}';
/** The `junjo_wf_*` keys of every span that is not a workflow or subflow (CONTRACT §6.4). */
const NON_WORKFLOW_TAIL =
  ',"junjo_wf_state_start":{},"junjo_wf_state_end":{},"junjo_wf_graph_structure":{},"junjo_wf_store_id":""}';

/**
 * Converts every span of a decoded OTLP trace export to a {@link SpanRecord}, in request order
 * (CONTRACT §6). Each span takes its service name from its own resource, so one request may carry
 * several services.
 *
 * Attribute lists with a repeated key keep the last value (at the first key's position), both in
 * `attributes_json` and in the derived fields. Derived string fields (`junjo_*`, the patch fields,
 * `service.name`) read only string values; any other type counts as missing. For workflow and
 * subflow spans, `junjo_wf_state_start`, `junjo_wf_state_end` and `junjo_wf_graph_structure` are the
 * attribute's JSON text when it parses to a JSON object, and `{}` when it is missing, unparsable, or
 * another JSON value (an array, string, number...): readers index into these as objects. The text
 * is kept as sent rather than re-serialised, so integers beyond 2^53 in a state survive exactly.
 */
export function toSpanRecords(request: TraceRequest): SpanRecord[] {
  const records: SpanRecord[] = [];
  // Spans of one trace usually arrive together: reuse the previous trace id's hex when bytes match.
  let lastTraceBytes: Uint8Array | undefined;
  let lastTraceHex = '';
  for (const resourceSpans of request.resourceSpans) {
    const serviceName = resourceServiceName(resourceSpans.resource.attributes);
    const serviceContent = jsonStringContent(serviceName);
    for (const scopeSpans of resourceSpans.scopeSpans) {
      for (const span of scopeSpans.spans) {
        if (lastTraceBytes === undefined || !sameBytes(lastTraceBytes, span.traceId)) {
          lastTraceBytes = span.traceId;
          lastTraceHex = toHex(span.traceId);
        }
        records.push(spanRecord(span, lastTraceHex, serviceName, serviceContent));
      }
    }
  }
  return records;
}

/**
 * One span as {@link toSpanRecords} converts it, given the service name of its resource
 * ({@link resourceServiceName}). The span store keeps most spans as their OTLP bytes and converts them
 * with this when they are read, so a span read back is the text it would have been stored as.
 */
export function toSpanRecord(span: Span, serviceName: string): SpanRecord {
  return spanRecord(span, toHex(span.traceId), serviceName, jsonStringContent(serviceName));
}

/** `service.name` of a resource's attributes (the last one wins), or {@link NO_SERVICE_NAME}. */
export function resourceServiceName(attributes: KeyValue[]): string {
  let name = '';
  for (const kv of attributes) if (kv.key === 'service.name') name = stringValue(kv.value);
  return name === '' ? NO_SERVICE_NAME : name;
}

/**
 * The attributes the conversion derives fields from, read in one pass. The last occurrence of a key
 * wins, as in `attributes_json`.
 */
interface DerivedAttributes {
  junjoId: string;
  junjoParentId: string;
  junjoSpanType: string;
  stateStart: string;
  stateEnd: string;
  graphStructure: string;
  storeId: string;
  openInferenceKind: string;
  genAiOperation: string;
  genAiProvider: string;
  genAiSystem: string;
}

function deriveAttributes(attributes: KeyValue[]): DerivedAttributes {
  const d: DerivedAttributes = {
    junjoId: '',
    junjoParentId: '',
    junjoSpanType: '',
    stateStart: '',
    stateEnd: '',
    graphStructure: '',
    storeId: '',
    openInferenceKind: '',
    genAiOperation: '',
    genAiProvider: '',
    genAiSystem: '',
  };
  for (let i = 0; i < attributes.length; i++) {
    const kv = attributes[i]!;
    const key = kv.key;
    // Every derived key starts with 'j', 'o' or 'g'; most attributes are skipped on one comparison.
    const first = key.charCodeAt(0);
    if (first !== 0x6a && first !== 0x6f && first !== 0x67) continue;
    switch (key) {
      case 'junjo.id':
        d.junjoId = stringValue(kv.value);
        break;
      case 'junjo.parent_id':
        d.junjoParentId = stringValue(kv.value);
        break;
      case 'junjo.span_type':
        d.junjoSpanType = stringValue(kv.value);
        break;
      case 'junjo.workflow.state.start':
        d.stateStart = stringValue(kv.value);
        break;
      case 'junjo.workflow.state.end':
        d.stateEnd = stringValue(kv.value);
        break;
      case 'junjo.workflow.graph_structure':
        d.graphStructure = stringValue(kv.value);
        break;
      case 'junjo.workflow.store.id':
        d.storeId = stringValue(kv.value);
        break;
      case 'openinference.span.kind':
        d.openInferenceKind = stringValue(kv.value);
        break;
      case 'gen_ai.operation.name':
        d.genAiOperation = stringValue(kv.value);
        break;
      case 'gen_ai.provider.name':
        d.genAiProvider = stringValue(kv.value);
        break;
      case 'gen_ai.system':
        d.genAiSystem = stringValue(kv.value);
        break;
    }
  }
  return d;
}

function spanRecord(span: Span, traceId: string, serviceName: string, serviceContent: string): SpanRecord {
  const spanId = toHex(span.spanId);
  const parentSpanId = span.parentSpanId.length === 0 ? null : toHex(span.parentSpanId);
  const kind = SPAN_KIND_NAMES[span.kind] ?? 'UNSPECIFIED';
  const statusCode = STATUS_CODES[span.status.code] ?? '0';
  const d = deriveAttributes(span.attributes);
  const isWorkflow = d.junjoSpanType === 'workflow' || d.junjoSpanType === 'subflow';
  const events = span.events;
  const links = span.links;

  let json = `{"trace_id":"${traceId}","span_id":"${spanId}","parent_span_id":`;
  json += parentSpanId === null ? 'null' : `"${parentSpanId}"`;
  json += `,"service_name":"${serviceContent}","name":"${jsonStringContent(span.name)}","kind":"${kind}"`;
  json += `,"start_time":"${formatSpanTime(span.startTimeUnixNano)}"`;
  json += `,"end_time":"${formatSpanTime(span.endTimeUnixNano)}"`;
  json += `,"status_code":"${statusCode}","status_message":"${jsonStringContent(span.status.message)}"`;
  json += `,"attributes_json":${keyValuesJson(span.attributes)}`;
  json += `,"events_json":${events.length === 0 ? '[]' : eventsJson(events)}`;
  json += `,"links_json":${links.length === 0 ? '[]' : linksJson(links)}`;
  json += `,"trace_flags":${span.flags & 0xff},"trace_state":`;
  json += span.traceState === '' ? 'null' : `"${jsonStringContent(span.traceState)}"`;
  json += `,"junjo_id":"${jsonStringContent(d.junjoId)}","junjo_parent_id":"${jsonStringContent(d.junjoParentId)}"`;
  json += `,"junjo_span_type":"${jsonStringContent(d.junjoSpanType)}"`;
  if (isWorkflow) {
    json += `,"junjo_wf_state_start":${jsonObjectText(d.stateStart)}`;
    json += `,"junjo_wf_state_end":${jsonObjectText(d.stateEnd)}`;
    json += `,"junjo_wf_graph_structure":${jsonObjectText(d.graphStructure)}`;
    json += `,"junjo_wf_store_id":"${jsonStringContent(d.storeId)}"}`;
  } else {
    json += NON_WORKFLOW_TAIL;
  }
  flatten(json);

  return {
    traceId,
    spanId,
    parentSpanId,
    serviceName,
    name: span.name,
    startNs: span.startTimeUnixNano,
    endNs: span.endTimeUnixNano,
    kind,
    statusCode,
    junjoSpanType: d.junjoSpanType,
    junjoId: d.junjoId,
    junjoParentId: d.junjoParentId,
    junjoWfStoreId: isWorkflow ? d.storeId : '',
    isLlm:
      d.openInferenceKind === 'LLM' ||
      d.genAiOperation !== '' ||
      d.genAiProvider !== '' ||
      d.genAiSystem !== '',
    statePatches: events.length === 0 ? [] : statePatches(events),
    json,
  };
}

/**
 * Makes V8 flatten `text`, built by concatenation, into one sequential string now. Unflattened it is a tree
 * of a few dozen string pieces per span, and a batch keeps tens of thousands of spans alive until the store
 * has copied them: every young-generation GC copied every piece again (measured: most of the indexer's time
 * went to scavenges). Converting to a number flattens first; the result is discarded.
 */
function flatten(text: string): void {
  Number(text);
}

/** `timeUnixNano` is written as the bigint's digits: a JSON number that no double could carry. */
function eventsJson(events: SpanEvent[]): string {
  let out = '[';
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    out += `${i === 0 ? '' : ','}{"name":"${jsonStringContent(e.name)}","timeUnixNano":${e.timeUnixNano.toString()},"attributes":${keyValuesJson(e.attributes)}}`;
  }
  return `${out}]`;
}

function linksJson(links: SpanLink[]): string {
  let out = '[';
  for (let i = 0; i < links.length; i++) {
    const l = links[i]!;
    out += `${i === 0 ? '' : ','}{"trace_id":"${toHex(l.traceId)}","span_id":"${toHex(l.spanId)}","attributes":${keyValuesJson(l.attributes)}}`;
  }
  return `${out}]`;
}

function statePatches(events: SpanEvent[]): StatePatch[] {
  const patches: StatePatch[] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.name !== 'set_state') continue;
    const patch: StatePatch = {
      eventIndex: i,
      timeNs: e.timeUnixNano,
      patch: '',
      storeId: '',
      storeName: '',
      action: '',
      id: '',
    };
    for (const kv of e.attributes) {
      switch (kv.key) {
        case 'junjo.state_json_patch':
          patch.patch = stringValue(kv.value);
          break;
        case 'junjo.store.id':
          patch.storeId = stringValue(kv.value);
          break;
        case 'junjo.store.name':
          patch.storeName = stringValue(kv.value);
          break;
        case 'junjo.store.action':
          patch.action = stringValue(kv.value);
          break;
        case 'id':
          patch.id = stringValue(kv.value);
          break;
      }
    }
    patches.push(patch);
  }
  return patches;
}

function stringValue(v: AnyValue): string {
  return v.type === 'string' ? v.value : '';
}

/**
 * `text` itself when it is JSON text for an object, else `{}`. `JSON.parse` doubles as the validator:
 * what it accepts is well-formed JSON, so the text can be embedded as is.
 */
function jsonObjectText(text: string): string {
  if (text === '') return EMPTY_OBJECT;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return EMPTY_OBJECT;
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? text : EMPTY_OBJECT;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
