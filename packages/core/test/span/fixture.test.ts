import { readFileSync } from 'node:fs';
import { traceRequestFromJson } from '@junjo/ingest/otlp/json';
import { decodeTraceRequest } from '@junjo/ingest/otlp/messages';
import { describe, expect, it } from 'vitest';
import { type SpanRecord, toSpanRecords } from '../../src/span/index.ts';

const FIXTURE = new URL('../../../../../shared/fixtures/junjo-workflow.otlp.json', import.meta.url);
const TRACE_ID = '5b8efff798038103d269b633813fc60c';

/** The shared fixture through the real ingest path: OTLP/JSON → protobuf bytes → decoded request. */
function fixtureRecords(): SpanRecord[] {
  return toSpanRecords(decodeTraceRequest(traceRequestFromJson(readFileSync(FIXTURE, 'utf8'))));
}

type SpanObject = Record<string, unknown> & {
  attributes_json: Record<string, unknown>;
  events_json: Array<{ name: string; timeUnixNano: number; attributes: Record<string, unknown> }>;
};

describe('toSpanRecords on the shared Junjo workflow fixture', () => {
  const records = fixtureRecords();
  const objects = records.map((r) => JSON.parse(r.json) as SpanObject);
  const byName = new Map(records.map((r, i) => [r.name, { record: r, object: objects[i]! }]));
  const get = (name: string) => {
    const found = byName.get(name);
    if (found === undefined) throw new Error(`no span named ${name}`);
    return found;
  };

  it('converts all 9 spans of the trace, in order, with their ids and parents', () => {
    expect(records.map((r) => [r.name, r.spanId, r.parentSpanId])).toEqual([
      ['DocQAWorkflow', 'a000000000000001', null],
      ['FetchDocsNode', 'a000000000000002', 'a000000000000001'],
      ['RunConcurrent', 'a000000000000003', 'a000000000000001'],
      ['ClassifyNode', 'a000000000000004', 'a000000000000003'],
      ['SummarizeNode', 'a000000000000005', 'a000000000000003'],
      ['ChatCompletion', 'a000000000000006', 'a000000000000005'],
      ['ReviewSubflow', 'a000000000000007', 'a000000000000001'],
      ['DraftNode', 'a000000000000008', 'a000000000000007'],
      ['CheckNode', 'a000000000000009', 'a000000000000007'],
    ]);
    for (const [i, r] of records.entries()) {
      expect(r.traceId).toBe(TRACE_ID);
      expect(r.serviceName).toBe('doc-qa-app');
      expect(objects[i]).toMatchObject({
        trace_id: TRACE_ID,
        span_id: r.spanId,
        parent_span_id: r.parentSpanId,
        service_name: 'doc-qa-app',
        name: r.name,
      });
    }
  });

  it('derives the Junjo span types, ids and parents', () => {
    expect(records.map((r) => [r.junjoSpanType, r.junjoId, r.junjoParentId])).toEqual([
      ['workflow', 'wf_Q1w2E3r4T5y6U7i8O9p0', ''],
      ['node', 'n_fetch', 'wf_Q1w2E3r4T5y6U7i8O9p0'],
      ['run_concurrent', 'n_parallel', 'wf_Q1w2E3r4T5y6U7i8O9p0'],
      ['node', 'n_classify', 'n_parallel'],
      ['node', 'n_summarize', 'n_parallel'],
      ['', '', ''],
      ['subflow', 'sf_review', 'wf_Q1w2E3r4T5y6U7i8O9p0'],
      ['node', 'n_draft', 'sf_review'],
      ['node', 'n_check', 'sf_review'],
    ]);
    expect(objects.map((o) => o.junjo_span_type)).toEqual(records.map((r) => r.junjoSpanType));
    expect(records.map((r) => r.junjoWfStoreId)).toEqual([
      'store_main',
      '',
      '',
      '',
      '',
      '',
      'store_review',
      '',
      '',
    ]);
  });

  it('writes the workflow span with parsed state, graph structure and times', () => {
    const { object } = get('DocQAWorkflow');
    expect(object).toMatchObject({
      kind: 'INTERNAL',
      start_time: '2025-11-28T12:00:00.000000+00:00',
      end_time: '2025-11-28T12:00:00.900000+00:00',
      status_code: '0',
      status_message: '',
      trace_flags: 0,
      trace_state: null,
      junjo_wf_state_start: {
        question: 'What is Junjo?',
        docs: [],
        label: null,
        summary: null,
        approved: false,
      },
      junjo_wf_state_end: {
        question: 'What is Junjo?',
        docs: ['junjo.md'],
        label: 'framework',
        summary: 'A graph workflow library.',
        approved: true,
      },
      junjo_wf_store_id: 'store_main',
    });
    const graph = object.junjo_wf_graph_structure as {
      v: number;
      nodes: Array<{ id: string }>;
      edges: unknown[];
    };
    expect(graph.v).toBe(1);
    expect(graph.nodes.map((n) => n.id)).toEqual([
      'n_fetch',
      'n_parallel',
      'n_classify',
      'n_summarize',
      'sf_review',
    ]);
    expect(graph.edges).toHaveLength(3);
    // attributes_json keeps the junjo.* attributes too, the state still as its original string.
    expect(object.attributes_json['junjo.workflow.node.count']).toBe(5);
    expect(object.attributes_json['junjo.workflow.state.start']).toBe(
      '{"question": "What is Junjo?", "docs": [], "label": null, "summary": null, "approved": false}',
    );
  });

  it('writes the subflow span with its own store and state', () => {
    const { object } = get('ReviewSubflow');
    expect(object).toMatchObject({
      junjo_span_type: 'subflow',
      junjo_wf_state_start: { draft: null, ok: false },
      junjo_wf_state_end: { draft: 'ok', ok: true },
      junjo_wf_graph_structure: { v: 1, nodes: [], edges: [] },
      junjo_wf_store_id: 'store_review',
    });
    expect(object.attributes_json['junjo.workflow.parent_store.id']).toBe('store_main');
  });

  it('leaves the state fields empty on node and run_concurrent spans', () => {
    for (const name of ['FetchDocsNode', 'RunConcurrent', 'ChatCompletion', 'CheckNode']) {
      expect(get(name).object, name).toMatchObject({
        junjo_wf_state_start: {},
        junjo_wf_state_end: {},
        junjo_wf_graph_structure: {},
        junjo_wf_store_id: '',
      });
    }
  });

  it('extracts the five set_state patches with their stores and actions', () => {
    const patches = records.flatMap((r) => r.statePatches.map((p) => ({ span: r.name, ...p })));
    expect(patches).toEqual([
      {
        span: 'FetchDocsNode',
        eventIndex: 0,
        timeNs: 1_764_331_200_100_000_000n,
        patch: '[{"op": "replace", "path": "/docs", "value": ["junjo.md"]}]',
        storeId: 'store_main',
        storeName: 'DocStore',
        action: 'set_docs',
        id: 'ev1',
      },
      {
        span: 'ClassifyNode',
        eventIndex: 0,
        timeNs: 1_764_331_200_290_000_000n,
        patch: '[{"op": "replace", "path": "/label", "value": "framework"}]',
        storeId: 'store_main',
        storeName: 'DocStore',
        action: 'set_label',
        id: 'ev2',
      },
      {
        span: 'SummarizeNode',
        eventIndex: 0,
        timeNs: 1_764_331_200_470_000_000n,
        patch: '[{"op": "replace", "path": "/summary", "value": "A graph workflow library."}]',
        storeId: 'store_main',
        storeName: 'DocStore',
        action: 'set_summary',
        id: 'ev3',
      },
      {
        span: 'DraftNode',
        eventIndex: 0,
        timeNs: 1_764_331_200_690_000_000n,
        patch: '[{"op": "replace", "path": "/draft", "value": "ok"}]',
        storeId: 'store_review',
        storeName: 'DocStore',
        action: 'set_draft',
        id: 'ev4',
      },
      {
        span: 'CheckNode',
        eventIndex: 1,
        timeNs: 1_764_331_200_860_000_000n,
        patch: '[{"op": "replace", "path": "/ok", "value": true}]',
        storeId: 'store_review',
        storeName: 'DocStore',
        action: 'approve',
        id: 'ev5',
      },
    ]);
  });

  it('marks only the ChatCompletion span as an LLM span and keeps its attributes typed', () => {
    expect(records.filter((r) => r.isLlm).map((r) => r.name)).toEqual(['ChatCompletion']);
    const { record, object } = get('ChatCompletion');
    expect(record.kind).toBe('CLIENT');
    expect(object.kind).toBe('CLIENT');
    expect(object.attributes_json).toMatchObject({
      'openinference.span.kind': 'LLM',
      'llm.model_name': 'gpt-4o-mini',
      'llm.token_count.prompt': 42,
      'llm.token_count.completion': 7,
      'llm.token_count.total': 49,
      'gen_ai.operation.name': 'chat',
    });
    expect(Object.keys(object.attributes_json)).toHaveLength(13);
  });

  it('keeps the exception event and the error status of CheckNode', () => {
    const { record, object } = get('CheckNode');
    expect(record.statusCode).toBe('2');
    expect(object).toMatchObject({ status_code: '2', status_message: 'draft too short' });
    expect(object.events_json.map((e) => e.name)).toEqual(['exception', 'set_state']);
    expect(object.events_json[0]).toEqual({
      name: 'exception',
      timeUnixNano: 1764331200800000000,
      attributes: {
        'exception.type': 'ValueError',
        'exception.message': 'draft too short',
        'exception.stacktrace': 'Traceback (most recent call last):\n  ...\nValueError: draft too short',
        'exception.escaped': 'False',
      },
    });
    expect(record.json).toContain('"timeUnixNano":1764331200800000000,');
    expect(record.json).toContain('"timeUnixNano":1764331200860000000,');
    for (const other of records.filter((r) => r.name !== 'CheckNode')) expect(other.statusCode).toBe('0');
  });
});
