import { randomBytes } from 'node:crypto';
import { encodeTraceRequest, type SpanInit } from '@junjo/ingest/otlp/messages';

export type PayloadKind = 'small' | 'llm';

const NOW_NS = BigInt(Date.now()) * 1_000_000n;
const filler = (n: number, seed: string) => seed.repeat(Math.ceil(n / seed.length)).slice(0, n);

/** A small span: 4 attributes, the shape of a typical instrumented function call. */
function smallSpan(i: number): SpanInit {
  return {
    traceId: randomBytes(16),
    spanId: randomBytes(8),
    name: `operation-${i % 32}`,
    kind: 1,
    startTimeUnixNano: NOW_NS + BigInt(i) * 1000n,
    endTimeUnixNano: NOW_NS + BigInt(i) * 1000n + 250_000n,
    attributes: [
      { key: 'junjo.span_type', value: { type: 'string', value: 'node' } },
      { key: 'junjo.id', value: { type: 'string', value: `node-${i}` } },
      { key: 'http.status_code', value: { type: 'int', value: 200n } },
      { key: 'retry', value: { type: 'bool', value: false } },
    ],
  };
}

/** An LLM-sized span: ~5 KB of prompt/completion attributes and a set_state event, as Junjo LLM nodes emit. */
function llmSpan(i: number): SpanInit {
  return {
    ...smallSpan(i),
    name: 'llm.chat',
    attributes: [
      { key: 'openinference.span.kind', value: { type: 'string', value: 'LLM' } },
      { key: 'llm.model_name', value: { type: 'string', value: 'gpt-4o' } },
      {
        key: 'llm.input_messages',
        value: { type: 'string', value: filler(2400, 'You are a careful assistant. ') },
      },
      {
        key: 'llm.output_messages',
        value: { type: 'string', value: filler(1600, 'The answer, with sources, is: ') },
      },
      { key: 'gen_ai.usage.input_tokens', value: { type: 'int', value: 812n } },
      { key: 'gen_ai.usage.output_tokens', value: { type: 'int', value: 301n } },
    ],
    events: [
      {
        name: 'set_state',
        timeUnixNano: NOW_NS + BigInt(i) * 1000n + 100_000n,
        attributes: [
          {
            key: 'junjo.state_json_patch',
            value: {
              type: 'string',
              value: JSON.stringify([{ op: 'replace', path: '/answer', value: filler(600, 'text ') }]),
            },
          },
          { key: 'junjo.store.id', value: { type: 'string', value: 'store-1' } },
        ],
      },
    ],
  };
}

/**
 * `count` distinct pre-encoded ExportTraceServiceRequests of `spansPerRequest` spans each: the load
 * generators cycle through them, so encoding never shows up in the measurement.
 */
export function buildRequests(kind: PayloadKind, count: number, spansPerRequest = 512): Buffer[] {
  const make = kind === 'small' ? smallSpan : llmSpan;
  return Array.from({ length: count }, (_, r) =>
    Buffer.from(
      encodeTraceRequest({
        resourceSpans: [
          {
            resource: {
              attributes: [{ key: 'service.name', value: { type: 'string', value: `bench-${r % 4}` } }],
            },
            scopeSpans: [
              { scope: { name: 'bench' }, spans: Array.from({ length: spansPerRequest }, (_, i) => make(i)) },
            ],
          },
        ],
      }),
    ),
  );
}
