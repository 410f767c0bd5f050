import * as Playground from '@junjo/core/playground';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as generateHandler } from '../llm/generate.ts';
import { handler as modelsHandler } from '../llm/models.ts';
import { handler as refreshHandler } from '../llm/refresh-models.ts';
import { handler as createFirstUser } from '../users/create-first-user.ts';
import {
  anthropicWire,
  geminiWire,
  openAiWire,
  startFakeProviders,
  startOtlpReceiver,
  usePlaygroundEnv,
} from './llm-fakes.ts';
import { apiEvent, invoke, sessionFrom } from './support.ts';

const fakes = await startFakeProviders();
// Tracing is configured with a receiver but no JUNJO_PLAYGROUND_API_KEY: nothing may be exported.
const receiver = await startOtlpReceiver();
usePlaygroundEnv({ ...fakes.env, JUNJO_PLAYGROUND_OTLP_URL: receiver.url });
afterAll(async () => {
  await fakes.close();
  await receiver.close();
});

let cookie = '';
beforeAll(async () => {
  const reply = await invoke(
    createFirstUser,
    apiEvent('POST /users/create-first-user', '/users/create-first-user', {
      body: { email: 'playground@example.com', password: 'playground 1' },
    }),
  );
  cookie = sessionFrom(reply);
});

const generate = (body: unknown, cookies = [cookie]) =>
  invoke(generateHandler, apiEvent('POST /llm/generate', '/llm/generate', { cookies, body }));

/** Generates, expects 200 and the contract's response shape, and returns the parsed answer. */
async function generateOk(body: Record<string, unknown>): Promise<Playground.GenerateResponse> {
  const reply = await generate(body);
  expect(reply.status, reply.text).toBe(200);
  return Playground.GenerateResponse.parse(reply.body);
}

const USER_ONLY = [{ role: 'user', content: 'Say hello.' }];
const CONVERSATION = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Name a colour.' },
  { role: 'assistant', content: 'Blue.' },
  { role: 'system', content: 'Answer in English.' },
  { role: 'user', content: 'Another.' },
];
const PERSON = {
  title: 'Person',
  type: 'object',
  properties: { name: { type: 'string' }, age: { type: 'integer' } },
  required: ['name', 'age'],
  additionalProperties: false,
};

const providers = [
  {
    provider: 'openai',
    model: 'openai/gpt-4o',
    fake: () => fakes.openai,
    error: openAiWire.error,
    plain: {
      id: 'chatcmpl-fake-1',
      model: 'gpt-4o-2024-08-06',
      content: 'Hello from OpenAI.',
      usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 },
    },
  },
  {
    provider: 'anthropic',
    model: 'anthropic/claude-sonnet-4-6',
    fake: () => fakes.anthropic,
    error: anthropicWire.error,
    plain: {
      id: 'msg_fake_1',
      model: 'claude-sonnet-4-6',
      content: 'Hello from Claude.',
      usage: { prompt_tokens: 21, completion_tokens: 9, total_tokens: 30 },
    },
  },
  {
    provider: 'gemini',
    model: 'gemini/gemini-2.5-flash',
    fake: () => fakes.gemini,
    error: geminiWire.error,
    plain: {
      id: 'gemini-response-1',
      model: 'gemini-2.5-flash',
      content: 'Hello from Gemini.',
      usage: { prompt_tokens: 14, completion_tokens: 6, total_tokens: 20 },
    },
  },
] as const;

describe.each(providers)('POST /llm/generate with $provider', ({ provider, model, fake, error, plain }) => {
  it('normalises a plain answer to the contract shape, sending the configured key once', async () => {
    const before = fake().requests.length;
    const answer = await generateOk({ model, messages: USER_ONLY });
    expect(answer).toEqual({
      id: plain.id,
      object: 'chat.completion',
      created: expect.any(Number),
      model: plain.model,
      choices: [{ index: 0, message: { role: 'assistant', content: plain.content }, finish_reason: 'stop' }],
      usage: plain.usage,
      reasoning_content: null,
    });
    // The fakes answer 401 to any other key, so a 200 also proves the key came from config.
    expect(fake().requests.length).toBe(before + 1);
  });

  it.each([
    [401, 'Invalid authentication credentials.'],
    [429, 'Rate limit reached for requests. Please try again in 20s.'],
    [500, 'The server had an error while processing your request.'],
  ])('answers provider %i with 502 and the provider message, without retrying', async (status, message) => {
    const before = fake().requests.length;
    fake().next(error(status, message));
    const reply = await generate({ model, messages: USER_ONLY });
    expect(reply.status).toBe(502);
    expect(reply.body).toEqual({ detail: `Provider error: ${message}` });
    expect(fake().requests.length).toBe(before + 1);
  });

  it('answers a dropped connection with 502 naming the provider, never a stack', async () => {
    fake().next('drop');
    const reply = await generate({ model, messages: USER_ONLY });
    expect(reply.status).toBe(502);
    expect(reply.body.detail).toMatch(new RegExp(`^Provider error: could not reach ${provider} \\(.+\\)$`));
    expect(reply.text).not.toMatch(/\bat .+:\d+:\d+|node_modules/);
  });

  it('never echoes the API key, even when the provider quotes it', async () => {
    const key = fakes.keys[provider];
    fake().next(error(401, `Incorrect API key provided: ${key}.`));
    const reply = await generate({ model, messages: USER_ONLY });
    expect(reply.status).toBe(502);
    expect(reply.body).toEqual({ detail: 'Provider error: Incorrect API key provided: [REDACTED].' });
    expect(reply.text).not.toContain(key);
  });
});

describe('OpenAI mapping', () => {
  const openai = () => fakes.openai;

  it('sends only the model and the messages when nothing else is set', async () => {
    await generateOk({ model: 'openai/gpt-4o', messages: USER_ONLY });
    expect(openai().last().path).toBe('/v1/chat/completions');
    expect(openai().last().body).toEqual({ model: 'gpt-4o', messages: USER_ONLY });
  });

  it('maps every parameter, keeping system messages where they are', async () => {
    await generateOk({
      model: 'openai/gpt-4o',
      messages: CONVERSATION,
      temperature: 0.3,
      top_p: 0.9,
      max_tokens: 300,
      max_completion_tokens: 500,
      stop: ['END', '##'],
      reasoning_effort: 'low',
    });
    expect(openai().last().body).toEqual({
      model: 'gpt-4o',
      messages: CONVERSATION,
      temperature: 0.3,
      top_p: 0.9,
      max_tokens: 300,
      max_completion_tokens: 500,
      stop: ['END', '##'],
      reasoning_effort: 'low',
    });
  });

  it('json_mode alone asks for a JSON object; a schema without json_mode is not sent', async () => {
    await generateOk({ model: 'openai/gpt-4o', messages: USER_ONLY, json_mode: true });
    expect(openai().last().body.response_format).toEqual({ type: 'json_object' });
    await generateOk({ model: 'openai/gpt-4o', messages: USER_ONLY, json_schema: PERSON });
    expect(openai().last().body).not.toHaveProperty('response_format');
  });

  it('json_mode + json_schema asks for strict json_schema output, named by the schema title', async () => {
    openai().next({ status: 200, body: openAiWire.completion({ content: '{"name":"Ada","age":36}' }) });
    const answer = await generateOk({
      model: 'openai/gpt-4o',
      messages: USER_ONLY,
      json_mode: true,
      json_schema: PERSON,
    });
    expect(openai().last().body.response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'Person', strict: true, schema: PERSON },
    });
    expect(JSON.parse(answer.choices[0]!.message.content)).toEqual({ name: 'Ada', age: 36 });

    const untitled = { type: 'object', properties: { ok: { type: 'boolean' } } };
    await generateOk({ model: 'openai/gpt-4o', messages: USER_ONLY, json_mode: true, json_schema: untitled });
    expect(openai().last().body.response_format.json_schema.name).toBe('response_schema');
  });

  it('fills reasoning_content from an OpenAI-compatible server, and handles refusals and missing usage', async () => {
    openai().next({
      status: 200,
      body: openAiWire.completion(
        { content: '42', reasoning_content: 'Six times seven.' },
        { finish_reason: 'length', usage: null, model: 'deepseek-reasoner' },
      ),
    });
    const reasoned = await generateOk({
      model: 'openai/deepseek-reasoner',
      messages: USER_ONLY,
      reasoning_effort: 'high',
    });
    expect(openai().last().body.model).toBe('deepseek-reasoner');
    expect(reasoned.reasoning_content).toBe('Six times seven.');
    expect(reasoned.choices[0]).toEqual({
      index: 0,
      message: { role: 'assistant', content: '42' },
      finish_reason: 'length',
    });
    expect(reasoned.usage).toBeNull();

    openai().next({
      status: 200,
      body: openAiWire.completion({ content: null, refusal: 'I cannot help with that.' }),
    });
    const refused = await generateOk({ model: 'openai/gpt-4o', messages: USER_ONLY });
    expect(refused.choices[0]!.message.content).toBe('I cannot help with that.');
  });

  it('passes model names containing slashes through (OpenAI-compatible gateways)', async () => {
    await generateOk({ model: 'openai/meta-llama/Llama-3.1-8B-Instruct', messages: USER_ONLY });
    expect(openai().last().body.model).toBe('meta-llama/Llama-3.1-8B-Instruct');
  });
});

describe('Anthropic mapping', () => {
  const anthropic = () => fakes.anthropic;
  const model = 'anthropic/claude-sonnet-4-6';

  it('sends model, messages and the default max_tokens when nothing else is set', async () => {
    await generateOk({ model, messages: USER_ONLY });
    expect(anthropic().last().path).toBe('/v1/messages');
    expect(anthropic().last().body).toEqual({
      model: 'claude-sonnet-4-6',
      max_tokens: 4096,
      messages: USER_ONLY,
    });
  });

  it('hoists system messages into system blocks and maps sampling, stop and max tokens', async () => {
    await generateOk({
      model,
      messages: CONVERSATION,
      temperature: 0.3,
      top_p: 0.9,
      max_tokens: 300,
      stop: ['END', '##'],
    });
    expect(anthropic().last().body).toEqual({
      model: 'claude-sonnet-4-6',
      max_tokens: 300,
      system: [
        { type: 'text', text: 'You are terse.' },
        { type: 'text', text: 'Answer in English.' },
      ],
      messages: [
        { role: 'user', content: 'Name a colour.' },
        { role: 'assistant', content: 'Blue.' },
        { role: 'user', content: 'Another.' },
      ],
      temperature: 0.3,
      top_p: 0.9,
      stop_sequences: ['END', '##'],
    });
  });

  it('turns reasoning_effort into extended thinking with a budget below max_tokens', async () => {
    await generateOk({ model, messages: USER_ONLY, reasoning_effort: 'medium' });
    expect(anthropic().last().body).toMatchObject({
      max_tokens: 8192 + 4096,
      thinking: { type: 'enabled', budget_tokens: 8192 },
    });
    await generateOk({ model, messages: USER_ONLY, reasoning_effort: 'high', max_tokens: 3000 });
    expect(anthropic().last().body).toMatchObject({
      max_tokens: 3000,
      thinking: { type: 'enabled', budget_tokens: 2999 },
    });
    await generateOk({
      model,
      messages: USER_ONLY,
      reasoning_effort: 'low',
      max_tokens: 100,
      max_completion_tokens: 5000,
    });
    expect(anthropic().last().body).toMatchObject({
      max_tokens: 5000,
      thinking: { type: 'enabled', budget_tokens: 2048 },
    });
    await generateOk({ model, messages: USER_ONLY, reasoning_effort: 'minimal' });
    expect(anthropic().last().body.thinking).toEqual({ type: 'enabled', budget_tokens: 1024 });
  });

  it('returns thinking blocks as reasoning_content and counts cached input tokens', async () => {
    anthropic().next({
      status: 200,
      body: anthropicWire.message(
        [
          { type: 'thinking', thinking: 'First, 6 x 7.', signature: 'sig' },
          { type: 'redacted_thinking', data: 'opaque' },
          { type: 'thinking', thinking: 'That is 42.', signature: 'sig' },
          { type: 'text', text: 'The answer is 42.' },
        ],
        {
          stop_reason: 'max_tokens',
          usage: {
            input_tokens: 10,
            cache_creation_input_tokens: 5,
            cache_read_input_tokens: 100,
            output_tokens: 50,
          },
        },
      ),
    });
    const answer = await generateOk({ model, messages: USER_ONLY, reasoning_effort: 'low' });
    expect(answer.reasoning_content).toBe('First, 6 x 7.\n\nThat is 42.');
    expect(answer.choices[0]).toEqual({
      index: 0,
      message: { role: 'assistant', content: 'The answer is 42.' },
      finish_reason: 'length',
    });
    expect(answer.usage).toEqual({ prompt_tokens: 115, completion_tokens: 50, total_tokens: 165 });
  });

  it('json_mode + json_schema forces a tool whose input schema is the schema; its input is the content', async () => {
    anthropic().next({
      status: 200,
      body: anthropicWire.message(
        [{ type: 'tool_use', id: 'toolu_1', name: 'json_response', input: { name: 'Ada', age: 36 } }],
        { stop_reason: 'tool_use' },
      ),
    });
    const answer = await generateOk({ model, messages: USER_ONLY, json_mode: true, json_schema: PERSON });
    expect(anthropic().last().body.tools).toEqual([
      { name: 'json_response', description: expect.any(String), input_schema: PERSON },
    ]);
    expect(anthropic().last().body.tool_choice).toEqual({ type: 'tool', name: 'json_response' });
    expect(JSON.parse(answer.choices[0]!.message.content)).toEqual({ name: 'Ada', age: 36 });
    expect(answer.choices[0]!.finish_reason).toBe('stop');
  });

  it('json_mode alone uses an any-object schema; with thinking on the tool is offered, not forced', async () => {
    await generateOk({ model, messages: USER_ONLY, json_mode: true });
    expect(anthropic().last().body.tools[0].input_schema).toEqual({ type: 'object' });
    expect(anthropic().last().body.tool_choice).toEqual({ type: 'tool', name: 'json_response' });

    await generateOk({
      model,
      messages: USER_ONLY,
      json_mode: true,
      json_schema: PERSON,
      reasoning_effort: 'low',
    });
    expect(anthropic().last().body.tool_choice).toEqual({ type: 'auto' });
    expect(anthropic().last().body.thinking).toEqual({ type: 'enabled', budget_tokens: 2048 });

    await generateOk({ model, messages: USER_ONLY, json_schema: PERSON });
    expect(anthropic().last().body).not.toHaveProperty('tools');
  });
});

describe('Gemini mapping', () => {
  const gemini = () => fakes.gemini;
  const model = 'gemini/gemini-2.5-flash';

  it('sends only the contents when nothing else is set', async () => {
    await generateOk({ model, messages: USER_ONLY });
    expect(gemini().last().path).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    expect(gemini().last().body).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'Say hello.' }] }],
      generationConfig: {},
    });
  });

  it('puts system messages in systemInstruction, assistant turns as model, and maps the config', async () => {
    await generateOk({
      model,
      messages: CONVERSATION,
      temperature: 0.3,
      top_p: 0.9,
      max_tokens: 300,
      stop: ['END', '##'],
    });
    expect(gemini().last().body).toEqual({
      contents: [
        { role: 'user', parts: [{ text: 'Name a colour.' }] },
        { role: 'model', parts: [{ text: 'Blue.' }] },
        { role: 'user', parts: [{ text: 'Another.' }] },
      ],
      systemInstruction: { parts: [{ text: 'You are terse.' }, { text: 'Answer in English.' }] },
      generationConfig: { temperature: 0.3, topP: 0.9, maxOutputTokens: 300, stopSequences: ['END', '##'] },
    });
    await generateOk({ model, messages: USER_ONLY, max_tokens: 100, max_completion_tokens: 700 });
    expect(gemini().last().body.generationConfig).toEqual({ maxOutputTokens: 700 });
  });

  it('maps reasoning_effort to a thinking budget (2.x) or level (3+), with thoughts included', async () => {
    await generateOk({ model, messages: USER_ONLY, reasoning_effort: 'low' });
    expect(gemini().last().body.generationConfig).toEqual({
      thinkingConfig: { thinkingBudget: 2048, includeThoughts: true },
    });
    await generateOk({ model: 'gemini/gemini-3-pro-preview', messages: USER_ONLY, reasoning_effort: 'high' });
    expect(gemini().last().path).toBe('/v1beta/models/gemini-3-pro-preview:generateContent');
    expect(gemini().last().body.generationConfig).toEqual({
      thinkingConfig: { thinkingLevel: 'HIGH', includeThoughts: true },
    });
  });

  it('returns thought parts as reasoning_content and counts thought tokens as completion', async () => {
    gemini().next({
      status: 200,
      body: geminiWire.response(
        [{ text: 'Multiply six by seven.', thought: true }, { text: 'The answer ' }, { text: 'is 42.' }],
        {
          finishReason: 'MAX_TOKENS',
          usageMetadata: {
            promptTokenCount: 9,
            candidatesTokenCount: 5,
            thoughtsTokenCount: 30,
            totalTokenCount: 44,
          },
        },
      ),
    });
    const answer = await generateOk({ model, messages: USER_ONLY, reasoning_effort: 'medium' });
    expect(answer.reasoning_content).toBe('Multiply six by seven.');
    expect(answer.choices[0]).toEqual({
      index: 0,
      message: { role: 'assistant', content: 'The answer is 42.' },
      finish_reason: 'length',
    });
    expect(answer.usage).toEqual({ prompt_tokens: 9, completion_tokens: 35, total_tokens: 44 });
  });

  it('json_mode sets the JSON MIME type; a schema goes in responseJsonSchema', async () => {
    await generateOk({ model, messages: USER_ONLY, json_mode: true });
    expect(gemini().last().body.generationConfig).toEqual({ responseMimeType: 'application/json' });

    gemini().next({ status: 200, body: geminiWire.response([{ text: '{"name":"Ada","age":36}' }]) });
    const answer = await generateOk({ model, messages: USER_ONLY, json_mode: true, json_schema: PERSON });
    expect(gemini().last().body.generationConfig).toEqual({
      responseMimeType: 'application/json',
      responseJsonSchema: PERSON,
    });
    expect(JSON.parse(answer.choices[0]!.message.content)).toEqual({ name: 'Ada', age: 36 });
  });

  it('answers a blocked prompt (no candidates) with an empty content_filter choice', async () => {
    gemini().next({
      status: 200,
      body: {
        promptFeedback: { blockReason: 'SAFETY' },
        usageMetadata: { promptTokenCount: 3, totalTokenCount: 3 },
      },
    });
    const answer = await generateOk({ model, messages: USER_ONLY });
    expect(answer.choices).toEqual([
      { index: 0, message: { role: 'assistant', content: '' }, finish_reason: 'content_filter' },
    ]);
    expect(answer.usage).toEqual({ prompt_tokens: 3, completion_tokens: 0, total_tokens: 3 });
  });
});

describe('request validation (422, no provider call)', () => {
  const totalRequests = () =>
    fakes.openai.requests.length + fakes.anthropic.requests.length + fakes.gemini.requests.length;

  it('{"model":"openai/gpt-4o"} without messages is 422 Field required', async () => {
    const reply = await generate({ model: 'openai/gpt-4o' });
    expect(reply.status).toBe(422);
    expect(reply.body.detail).toEqual([
      { type: 'missing', loc: ['body', 'messages'], msg: 'Field required', input: null },
    ]);
  });

  const bad: Array<[string, Record<string, unknown>, (string | number)[]]> = [
    ['a model without provider', { model: 'gpt-4o' }, ['body', 'model']],
    ['an unknown provider', { model: 'mistral/mistral-large' }, ['body', 'model']],
    ['an empty model name', { model: 'openai/' }, ['body', 'model']],
    ['a non-string model', { model: 42 }, ['body', 'model']],
    ['no messages at all', { messages: [] }, ['body', 'messages']],
    ['a tool role', { messages: [{ role: 'tool', content: 'x' }] }, ['body', 'messages', 0, 'role']],
    ['a message without content', { messages: [{ role: 'user' }] }, ['body', 'messages', 0, 'content']],
    ['temperature above 2', { temperature: 2.01 }, ['body', 'temperature']],
    ['negative temperature', { temperature: -0.1 }, ['body', 'temperature']],
    ['top_p above 1', { top_p: 1.5 }, ['body', 'top_p']],
    ['max_tokens of 0', { max_tokens: 0 }, ['body', 'max_tokens']],
    ['fractional max_tokens', { max_tokens: 10.5 }, ['body', 'max_tokens']],
    ['max_completion_tokens of -1', { max_completion_tokens: -1 }, ['body', 'max_completion_tokens']],
    ['five stop sequences', { stop: ['a', 'b', 'c', 'd', 'e'] }, ['body', 'stop']],
    ['an unknown reasoning effort', { reasoning_effort: 'extreme' }, ['body', 'reasoning_effort']],
    ['a json_schema that is not an object', { json_schema: ['x'] }, ['body', 'json_schema']],
  ];
  it.each(bad)('refuses %s', async (_, change, loc) => {
    const before = totalRequests();
    const reply = await generate({ model: 'openai/gpt-4o', messages: USER_ONLY, ...change });
    expect(reply.status, reply.text).toBe(422);
    expect(reply.body.detail.map((d: { loc: unknown }) => d.loc)).toContainEqual(loc);
    expect(totalRequests()).toBe(before);
  });

  it('accepts the range boundaries and explicit nulls', async () => {
    for (const change of [
      { temperature: 0, top_p: 0 },
      { temperature: 2, top_p: 1, stop: ['a', 'b', 'c', 'd'] },
      { temperature: null, max_tokens: null, json_mode: null, json_schema: null, reasoning_effort: null },
    ]) {
      const reply = await generate({ model: 'openai/gpt-4o', messages: USER_ONLY, ...change });
      expect(reply.status, JSON.stringify(change)).toBe(200);
    }
  });
});

describe('authentication', () => {
  it('answers 401 on every playground route without a session, before validation and without a provider call', async () => {
    const before = fakes.openai.requests.length;
    const replies = [
      await generate({ model: 'openai/gpt-4o', messages: USER_ONLY }, []),
      await generate({ model: 'nonsense' }, []),
      await invoke(
        modelsHandler,
        apiEvent('GET /llm/providers/{provider}/models', '/llm/providers/openai/models', {
          pathParameters: { provider: 'openai' },
        }),
      ),
      await invoke(
        refreshHandler,
        apiEvent('POST /llm/providers/{provider}/models/refresh', '/llm/providers/openai/models/refresh', {
          pathParameters: { provider: 'openai' },
        }),
      ),
    ];
    for (const reply of replies) {
      expect(reply.status).toBe(401);
      expect(reply.body).toEqual({ detail: 'Unauthorized: No valid session' });
    }
    expect(fakes.openai.requests.length).toBe(before);
  });
});

describe('tracing without JUNJO_PLAYGROUND_API_KEY', () => {
  it('exported nothing for any of the runs above', async () => {
    expect(fakes.openai.requests.length).toBeGreaterThan(5);
    await Playground.flushTraces();
    await new Promise((r) => setTimeout(r, 200));
    expect(receiver.exports).toHaveLength(0);
  });
});
