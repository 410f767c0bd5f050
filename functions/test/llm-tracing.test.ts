import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as generateHandler } from '../llm/generate.ts';
import { handler as createFirstUser } from '../users/create-first-user.ts';
import {
  type DecodedSpan,
  openAiWire,
  startFakeProviders,
  startOtlpReceiver,
  usePlaygroundEnv,
} from './llm-fakes.ts';
import { apiEvent, invoke, sessionFrom } from './support.ts';

const PLAYGROUND_KEY = 'playground-ingest-key-0123456789abcdef0123456789abcdef0123456789abcd';
const fakes = await startFakeProviders();
const receiver = await startOtlpReceiver();
usePlaygroundEnv({
  ...fakes.env,
  JUNJO_PLAYGROUND_OTLP_URL: receiver.url,
  JUNJO_PLAYGROUND_API_KEY: PLAYGROUND_KEY,
});
afterAll(async () => {
  await fakes.close();
  await receiver.close();
});

let cookie = '';
beforeAll(async () => {
  const reply = await invoke(
    createFirstUser,
    apiEvent('POST /users/create-first-user', '/users/create-first-user', {
      body: { email: 'tracing@example.com', password: 'playground 1' },
    }),
  );
  cookie = sessionFrom(reply);
});

const generate = (body: unknown) =>
  invoke(generateHandler, apiEvent('POST /llm/generate', '/llm/generate', { cookies: [cookie], body }));

/** Waits for the one span whose response id or input names this run. */
const spanWith = (predicate: (s: DecodedSpan) => boolean) =>
  receiver.waitFor((spans) => spans.some(predicate)).then((spans) => spans.filter(predicate));

const SPAN_KIND_CLIENT = 3;
const STATUS_ERROR = 2;

describe('traced playground runs', () => {
  it('exports an OpenAI run as a junjo-playground span with the GenAI attributes, over OTLP/HTTP protobuf with the key', async () => {
    const reply = await generate({
      model: 'openai/gpt-4o',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Trace me, OpenAI.' },
      ],
      temperature: 0.2,
      max_tokens: 64,
      stop: ['END'],
    });
    expect(reply.status).toBe(200);

    const [span] = await spanWith((s) => s.attributes['input.value'] === 'Trace me, OpenAI.');
    expect(span).toBeDefined();
    const exported = receiver.exports[0]!;
    expect(exported.path).toBe('/v1/traces');
    expect(exported.headers['content-type']).toBe('application/x-protobuf');
    expect(exported.headers['x-junjo-api-key']).toBe(PLAYGROUND_KEY);

    expect(span!.name).toBe('chat gpt-4o');
    expect(span!.kind).toBe(SPAN_KIND_CLIENT);
    expect(span!.parentSpanId).toBe('');
    expect(span!.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(span!.resource['service.name']).toBe('junjo-playground');
    expect(span!.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.request.temperature': 0.2,
      'gen_ai.request.max_tokens': 64,
      'gen_ai.request.stop_sequences': ['END'],
      'gen_ai.response.id': 'chatcmpl-fake-1',
      'gen_ai.response.model': 'gpt-4o-2024-08-06',
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': 11,
      'gen_ai.usage.output_tokens': 7,
      'gen_ai.output.type': 'text',
      'openinference.span.kind': 'LLM',
      'llm.provider': 'openai',
      'llm.model_name': 'gpt-4o',
      'output.value': 'Hello from OpenAI.',
    });
    expect(JSON.parse(span!.attributes['gen_ai.input.messages'] as string)).toEqual([
      { role: 'user', parts: [{ type: 'text', content: 'Trace me, OpenAI.' }] },
    ]);
    expect(JSON.parse(span!.attributes['gen_ai.system_instructions'] as string)).toEqual([
      { type: 'text', content: 'You are terse.' },
    ]);
    expect(JSON.parse(span!.attributes['gen_ai.output.messages'] as string)).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: 'Hello from OpenAI.' }], finish_reason: 'stop' },
    ]);
    expect(JSON.parse(span!.attributes['llm.invocation_parameters'] as string)).toEqual({
      temperature: 0.2,
      max_tokens: 64,
      stop: ['END'],
    });
    // The provider key never travels with the telemetry.
    expect(exported.body.toString('latin1')).not.toContain(fakes.keys.openai);
  });

  it('names Anthropic and Gemini by their GenAI provider names, each run its own trace', async () => {
    for (const [model, content] of [
      ['anthropic/claude-sonnet-4-6', 'Trace me, Claude.'],
      ['gemini/gemini-2.5-flash', 'Trace me, Gemini.'],
    ] as const) {
      const reply = await generate({ model, messages: [{ role: 'user', content }], reasoning_effort: 'low' });
      expect(reply.status).toBe(200);
    }
    const [claude] = await spanWith((s) => s.attributes['input.value'] === 'Trace me, Claude.');
    const [gemini] = await spanWith((s) => s.attributes['input.value'] === 'Trace me, Gemini.');
    expect(claude!.attributes).toMatchObject({
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': 'claude-sonnet-4-6',
      'gen_ai.usage.input_tokens': 21,
      'gen_ai.usage.output_tokens': 9,
      'llm.provider': 'anthropic',
    });
    expect(gemini!.attributes).toMatchObject({
      'gen_ai.provider.name': 'gcp.gemini',
      'gen_ai.request.model': 'gemini-2.5-flash',
      'gen_ai.usage.input_tokens': 14,
      'gen_ai.usage.output_tokens': 6,
      'llm.provider': 'google',
    });
    expect(JSON.parse(gemini!.attributes['llm.invocation_parameters'] as string)).toEqual({
      reasoning_effort: 'low',
    });
    const traces = new Set(receiver.spans().map((s) => s.traceId));
    expect(traces.size).toBe(receiver.spans().length);
  });

  it('marks a failed run as an error span', async () => {
    fakes.openai.next(openAiWire.error(500, 'Upstream exploded.'));
    const reply = await generate({
      model: 'openai/gpt-4o',
      messages: [{ role: 'user', content: 'Fail me.' }],
    });
    expect(reply.status).toBe(502);
    const [span] = await spanWith((s) => s.attributes['input.value'] === 'Fail me.');
    expect(span!.status).toEqual({ code: STATUS_ERROR, message: 'Provider error: Upstream exploded.' });
    expect(span!.attributes['error.type']).toBe('provider_error');
    expect(span!.attributes).not.toHaveProperty('gen_ai.usage.input_tokens');
  });

  it('answers promptly while the receiver hangs or fails, and exports again once it recovers', async () => {
    for (const mode of ['hang', 'error'] as const) {
      receiver.state.mode = mode;
      const exportsBefore = receiver.exports.length;
      const started = Date.now();
      const reply = await generate({
        model: 'openai/gpt-4o',
        messages: [{ role: 'user', content: `While the receiver is ${mode}.` }],
      });
      expect(reply.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(1000);
      // The export was attempted (and is hanging or failed), not skipped.
      await receiver.waitFor(() => receiver.exports.length > exportsBefore);
    }
    receiver.state.mode = 'ok';
    expect(
      (await generate({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'Recovered.' }] }))
        .status,
    ).toBe(200);
    await spanWith((s) => s.attributes['input.value'] === 'Recovered.');
  });
});
