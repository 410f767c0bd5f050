import type { SpanRecordInput, StatePatchInput } from '../../src/store/index.ts';

/** 2025-11-28T12:00:00Z, the fixture's day. */
export const T0 = 1_764_331_200_000_000_000n;
export const MS = 1_000_000n;

/** A deterministic lowercase hex id of `digits` digits for `n` (distinct n → distinct id). */
export function hexId(n: number, digits: 16 | 32, salt = 0): string {
  const base = (BigInt(n) * 0x9e3779b97f4a7c15n + BigInt(salt) * 0xc2b2ae3d27d4eb4fn) & ((1n << 64n) - 1n);
  const wide = digits === 32 ? (base << 64n) | (base ^ 0xa5a5a5a5a5a5a5a5n) : base;
  return wide.toString(16).padStart(digits, '0');
}

export const traceId = (n: number) => hexId(n, 32, 1);
export const spanId = (n: number) => hexId(n, 16, 2);

const isoMicros = (ns: bigint) =>
  `${new Date(Number(ns / MS)).toISOString().slice(0, 19)}.${((ns / 1000n) % 1_000_000n).toString().padStart(6, '0')}+00:00`;

export interface SpanSpec {
  trace: number;
  span: number;
  /** Span number of the parent in the same trace; omitted for a root. */
  parent?: number;
  service?: string;
  /** Start, in ms after T0. */
  startMs: number;
  name?: string;
  junjoSpanType?: string;
  attributes?: Record<string, unknown>;
  isLlm?: boolean;
  statePatches?: StatePatchInput[];
}

/**
 * A record as the converter produces it: `json` is the contract Span object (CONTRACT.md §6), serialised
 * once, so tests can compare query bodies with it byte for byte.
 */
export function record(spec: SpanSpec): SpanRecordInput {
  const startNs = T0 + BigInt(spec.startMs) * MS;
  const endNs = startNs + 5n * MS;
  const junjoSpanType = spec.junjoSpanType ?? '';
  const span = {
    trace_id: traceId(spec.trace),
    span_id: spanId(spec.span),
    parent_span_id: spec.parent === undefined ? null : spanId(spec.parent),
    service_name: spec.service ?? 'svc-a',
    name: spec.name ?? `op-${spec.span}`,
    kind: 'INTERNAL',
    start_time: isoMicros(startNs),
    end_time: isoMicros(endNs),
    status_code: '0',
    status_message: '',
    attributes_json: { 'junjo.span_type': junjoSpanType, ...spec.attributes },
    events_json: (spec.statePatches ?? []).map((p) => ({
      name: 'set_state',
      timeUnixNano: Number(p.timeNs),
      attributes: {
        'junjo.state_json_patch': p.patch,
        'junjo.store.id': p.storeId,
        'junjo.store.name': p.storeName,
        'junjo.store.action': p.action,
        id: p.id,
      },
    })),
    links_json: [],
    trace_flags: 0,
    trace_state: null,
    junjo_id: `id-${spec.span}`,
    junjo_parent_id: '',
    junjo_span_type: junjoSpanType,
    junjo_wf_state_start: {},
    junjo_wf_state_end: {},
    junjo_wf_graph_structure: {},
    junjo_wf_store_id: junjoSpanType === 'workflow' ? 'store-1' : '',
  };
  return {
    traceId: span.trace_id,
    spanId: span.span_id,
    parentSpanId: span.parent_span_id,
    serviceName: span.service_name,
    name: span.name,
    startNs,
    endNs,
    kind: span.kind,
    statusCode: '0',
    junjoSpanType,
    junjoId: span.junjo_id,
    junjoParentId: '',
    junjoWfStoreId: span.junjo_wf_store_id,
    isLlm: spec.isLlm ?? false,
    statePatches: spec.statePatches ?? [],
    json: JSON.stringify(span),
  };
}

/** The body a list query must answer for these records, in this order. */
export const body = (records: readonly SpanRecordInput[]) => `[${records.map((r) => r.json).join(',')}]`;

/** Newest first, ties by span id descending: the store's documented order. */
export function newestFirst(records: readonly SpanRecordInput[]): SpanRecordInput[] {
  return [...records].sort((a, b) =>
    a.startNs === b.startNs ? b.spanId.localeCompare(a.spanId) : a.startNs > b.startNs ? -1 : 1,
  );
}

/** A set_state patch for `spec`-built spans. */
export function patch(eventIndex: number, timeMs: number, storeId = 'store-1'): StatePatchInput {
  return {
    eventIndex,
    timeNs: T0 + BigInt(timeMs) * MS,
    patch: JSON.stringify([{ op: 'replace', path: '/step', value: eventIndex }]),
    storeId,
    storeName: 'DocQAStore',
    action: 'set_step',
    id: `patch-${eventIndex}`,
  };
}
