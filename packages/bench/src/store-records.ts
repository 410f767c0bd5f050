/**
 * Generated span records for the span-store benchmarks: traces of small spans in the contract's JSON shape
 * (about 700 bytes each), spread over services, with LLM spans, workflow roots and `set_state` patches.
 */
import type { SpanRecordInput, StatePatchInput } from '@junjo/ingest/store/index';

export interface GenerateOptions {
  traces: number;
  spansPerTrace: number;
  services: number;
  /** Start of the first trace; traces start 1 ms apart. */
  startNs: bigint;
  /** Every n-th trace contains an LLM span (0: none). */
  llmEvery?: number;
  /** Every n-th trace has a workflow root (0: none). */
  workflowEvery?: number;
  /** Number of the first trace, to generate a long stream in pieces (each piece seeds its own ids). */
  firstTrace?: number;
  /** Deterministic ids and layout for the same seed. */
  seed?: number;
}

/** xorshift32: reproducible ids without the cost of crypto random bytes. */
function random(seed: number): () => number {
  let x = seed || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

const hex8 = (n: number) => n.toString(16).padStart(8, '0');

/** Microsecond ISO-8601 with `+00:00`, as the contract writes times. */
export function isoMicros(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const micros = (ns / 1000n) % 1_000_000n;
  return `${new Date(Number(ms)).toISOString().slice(0, 19)}.${micros.toString().padStart(6, '0')}+00:00`;
}

/** One span record; its `json` is the contract Span object built by hand (no JSON.stringify round trip). */
function spanRecord(
  traceId: string,
  spanId: string,
  parentSpanId: string | null,
  serviceName: string,
  name: string,
  startNs: bigint,
  endNs: bigint,
  junjoSpanType: string,
  isLlm: boolean,
  statePatches: StatePatchInput[],
): SpanRecordInput {
  const junjoId = `${junjoSpanType || 'span'}-${spanId.slice(0, 8)}`;
  const attributes = isLlm
    ? `{"openinference.span.kind":"LLM","llm.model_name":"gpt-4o","junjo.id":"${junjoId}"}`
    : `{"junjo.span_type":"${junjoSpanType}","junjo.id":"${junjoId}","http.status_code":200,"retry":false}`;
  const events = statePatches.map(
    (p) =>
      `{"name":"set_state","timeUnixNano":${p.timeNs},"attributes":{"junjo.state_json_patch":${JSON.stringify(p.patch)},"junjo.store.id":"${p.storeId}","junjo.store.name":"${p.storeName}","junjo.store.action":"${p.action}","id":"${p.id}"}}`,
  );
  const json =
    `{"trace_id":"${traceId}","span_id":"${spanId}","parent_span_id":${parentSpanId === null ? 'null' : `"${parentSpanId}"`},` +
    `"service_name":"${serviceName}","name":"${name}","kind":"INTERNAL","start_time":"${isoMicros(startNs)}",` +
    `"end_time":"${isoMicros(endNs)}","status_code":"0","status_message":"","attributes_json":${attributes},` +
    `"events_json":[${events.join(',')}],"links_json":[],"trace_flags":0,"trace_state":null,"junjo_id":"${junjoId}",` +
    `"junjo_parent_id":"","junjo_span_type":"${junjoSpanType}","junjo_wf_state_start":{},"junjo_wf_state_end":{},` +
    `"junjo_wf_graph_structure":{},"junjo_wf_store_id":"${junjoSpanType === 'workflow' ? 'store-1' : ''}"}`;
  return {
    traceId,
    spanId,
    parentSpanId,
    serviceName,
    name,
    startNs,
    endNs,
    kind: 'INTERNAL',
    statusCode: '0',
    junjoSpanType,
    junjoId,
    junjoParentId: '',
    junjoWfStoreId: junjoSpanType === 'workflow' ? 'store-1' : '',
    isLlm,
    statePatches,
    json,
  };
}

/**
 * `traces × spansPerTrace` records, trace by trace (the order an indexer sees them). Each trace has one
 * root and children that start 10 µs apart; the root of every `workflowEvery`-th trace is a workflow span
 * whose first child carries two state patches, and the last child of every `llmEvery`-th trace is an LLM span.
 */
export function generateSpanRecords(options: GenerateOptions): SpanRecordInput[] {
  const {
    traces,
    spansPerTrace,
    services,
    startNs,
    llmEvery = 10,
    workflowEvery = 5,
    firstTrace = 0,
  } = options;
  const next = random((options.seed ?? 1) + firstTrace * 7919);
  const records: SpanRecordInput[] = [];
  for (let t = firstTrace; t < firstTrace + traces; t++) {
    // The trace and span numbers in the low digits keep ids unique however the random streams overlap.
    const traceId = hex8(next()) + hex8(next()) + hex8(next()) + hex8(t);
    const serviceName = `service-${String(t % services).padStart(2, '0')}`;
    const traceStart = startNs + BigInt(t) * 1_000_000n;
    // Counted per service (traces go round-robin over them), so every service gets its share.
    const round = Math.floor(t / services);
    const isWorkflow = workflowEvery > 0 && round % workflowEvery === 0;
    const hasLlm = llmEvery > 0 && round % llmEvery === 1;
    const rootId = hex8(next()) + hex8(t * 64);
    records.push(
      spanRecord(
        traceId,
        rootId,
        null,
        serviceName,
        isWorkflow ? 'DocQAWorkflow' : 'handle-request',
        traceStart,
        traceStart + 900_000n,
        isWorkflow ? 'workflow' : '',
        false,
        [],
      ),
    );
    for (let s = 1; s < spansPerTrace; s++) {
      const spanStart = traceStart + BigInt(s) * 10_000n;
      const patches: StatePatchInput[] =
        isWorkflow && s === 1
          ? [0, 1].map((eventIndex) => ({
              eventIndex,
              timeNs: spanStart + BigInt(eventIndex + 1) * 1000n,
              patch: `[{"op":"replace","path":"/step","value":${eventIndex}}]`,
              storeId: 'store-1',
              storeName: 'DocQAStore',
              action: 'set_step',
              id: `patch-${eventIndex}`,
            }))
          : [];
      const isLlm = hasLlm && s === spansPerTrace - 1;
      records.push(
        spanRecord(
          traceId,
          hex8(next()) + hex8(t * 64 + s),
          rootId,
          serviceName,
          isLlm ? 'llm.chat' : `operation-${s % 32}`,
          spanStart,
          spanStart + 5_000n,
          isWorkflow ? 'node' : '',
          isLlm,
          patches,
        ),
      );
    }
  }
  return records;
}
