import * as Playground from '@junjo/core/playground';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { handler as modelsHandler } from '../llm/models.ts';
import { handler as refreshHandler } from '../llm/refresh-models.ts';
import { handler as createFirstUser } from '../users/create-first-user.ts';
import { anthropicWire, geminiWire, openAiWire, startFakeProviders, usePlaygroundEnv } from './llm-fakes.ts';
import { apiEvent, invoke, sessionFrom } from './support.ts';

const fakes = await startFakeProviders();
usePlaygroundEnv(fakes.env);
afterAll(() => fakes.close());

let cookie = '';
beforeAll(async () => {
  const reply = await invoke(
    createFirstUser,
    apiEvent('POST /users/create-first-user', '/users/create-first-user', {
      body: { email: 'models@example.com', password: 'playground 1' },
    }),
  );
  cookie = sessionFrom(reply);
});
afterEach(() => {
  vi.useRealTimers();
});

const Models = z.strictObject({ models: z.array(Playground.ModelInfo) });

const list = (provider: string) =>
  invoke(
    modelsHandler,
    apiEvent('GET /llm/providers/{provider}/models', `/llm/providers/${provider}/models`, {
      cookies: [cookie],
      pathParameters: { provider },
    }),
  );
const refresh = (provider: string) =>
  invoke(
    refreshHandler,
    apiEvent('POST /llm/providers/{provider}/models/refresh', `/llm/providers/${provider}/models/refresh`, {
      cookies: [cookie],
      pathParameters: { provider },
    }),
  );

async function ids(reply: Awaited<ReturnType<typeof list>>): Promise<string[]> {
  expect(reply.status, reply.text).toBe(200);
  return Models.parse(reply.body).models.map((m) => m.id);
}

const cases = [
  {
    provider: 'openai',
    fake: () => fakes.openai,
    listPath: /^\/v1\/models$/,
    /** One listing is one request (OpenAI's list is not paged). */
    requestsPerListing: () => 1,
    error: openAiWire.error,
    chat: ['openai/gpt-4o', 'openai/gpt-4o-mini', 'openai/o3-mini', 'openai/gpt-5'],
    add: () => fakes.openai.models.push('gpt-4.1'),
    added: 'openai/gpt-4.1',
  },
  {
    provider: 'anthropic',
    fake: () => fakes.anthropic,
    listPath: /^\/v1\/models$/,
    /** The fake pages by 2, so a listing is one request per page. */
    requestsPerListing: () => Math.ceil(fakes.anthropic.models.length / 2),
    error: anthropicWire.error,
    chat: [
      'anthropic/claude-sonnet-4-5-20250929',
      'anthropic/claude-haiku-4-5-20251001',
      'anthropic/claude-3-haiku-20240307',
    ],
    add: () =>
      fakes.anthropic.models.push({
        id: 'claude-opus-4-1-20250805',
        display_name: 'Claude Opus 4.1',
        thinking: true,
      }),
    added: 'anthropic/claude-opus-4-1-20250805',
  },
  {
    provider: 'gemini',
    fake: () => fakes.gemini,
    listPath: /^\/v1beta\/models$/,
    /** The fake pages by 2, so a listing is one request per page. */
    requestsPerListing: () => Math.ceil(fakes.gemini.models.length / 2),
    error: geminiWire.error,
    chat: ['gemini/gemini-2.5-flash', 'gemini/gemini-2.5-pro', 'gemini/gemma-3-27b-it'],
    add: () =>
      fakes.gemini.models.push({
        name: 'gemini-2.5-flash-lite',
        displayName: 'Gemini 2.5 Flash-Lite',
        methods: ['generateContent'],
      }),
    added: 'gemini/gemini-2.5-flash-lite',
  },
] as const;

describe.each(cases)('model discovery for $provider', (c) => {
  const listings = () => c.fake().count(c.listPath);

  it('lists only chat models, reading every page; concurrent first lists share one listing', async () => {
    const replies = await Promise.all([list(c.provider), list(c.provider), list(c.provider)]);
    for (const reply of replies) expect(await ids(reply)).toEqual(c.chat);
    expect(listings()).toBe(c.requestsPerListing());
    for (const model of Models.parse(replies[0]!.body).models) expect(model.provider).toBe(c.provider);
  });

  it('serves the second list from the cache, and again 14 minutes later', async () => {
    const before = listings();
    expect(await ids(await list(c.provider))).toEqual(c.chat);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 14 * 60_000);
    expect(await ids(await list(c.provider))).toEqual(c.chat);
    expect(listings()).toBe(before);
  });

  it('refresh asks the provider again and repopulates the cache', async () => {
    c.add();
    expect(await ids(await list(c.provider))).not.toContain(c.added);
    const before = listings();
    expect(await ids(await refresh(c.provider))).toEqual([...c.chat, c.added]);
    expect(listings()).toBe(before + c.requestsPerListing());
    // The refreshed list is what the cache now serves, without another call.
    expect(await ids(await list(c.provider))).toEqual([...c.chat, c.added]);
    expect(listings()).toBe(before + c.requestsPerListing());
  });

  it('lists from the provider again once the 15 minutes are over', async () => {
    const before = listings();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + Playground.MODEL_CACHE_TTL_MS + 1000);
    expect(await ids(await list(c.provider))).toEqual([...c.chat, c.added]);
    expect(listings()).toBe(before + c.requestsPerListing());
  });

  it('answers a provider failure with 502 and keeps serving the cached list', async () => {
    const before = listings();
    c.fake().next(c.error(500, 'Models are unavailable right now.'));
    const failed = await refresh(c.provider);
    expect(failed.status).toBe(502);
    expect(failed.body).toEqual({ detail: 'Provider error: Models are unavailable right now.' });
    expect(listings()).toBe(before + 1);
    expect(await ids(await list(c.provider))).toEqual([...c.chat, c.added]);
    expect(listings()).toBe(before + 1);
  });
});

describe('model metadata', () => {
  const byId = async (provider: string) =>
    new Map(Models.parse((await list(provider)).body).models.map((m) => [m.id, m]));

  it('OpenAI: display name is the id; reasoning and vision by model family', async () => {
    const models = await byId('openai');
    expect(models.get('openai/gpt-4o')).toEqual({
      id: 'openai/gpt-4o',
      provider: 'openai',
      display_name: 'gpt-4o',
      supports_reasoning: false,
      supports_vision: true,
      max_tokens: null,
    });
    expect(models.get('openai/o3-mini')).toMatchObject({ supports_reasoning: true, supports_vision: false });
    expect(models.get('openai/gpt-5')).toMatchObject({ supports_reasoning: true, supports_vision: true });
  });

  it('Anthropic: display name, thinking and max_tokens from the models API', async () => {
    const models = await byId('anthropic');
    expect(models.get('anthropic/claude-sonnet-4-5-20250929')).toEqual({
      id: 'anthropic/claude-sonnet-4-5-20250929',
      provider: 'anthropic',
      display_name: 'Claude Sonnet 4.5',
      supports_reasoning: true,
      supports_vision: true,
      max_tokens: 64000,
    });
    expect(models.get('anthropic/claude-3-haiku-20240307')).toMatchObject({
      supports_reasoning: false,
      max_tokens: 4096,
    });
  });

  it('Gemini: display name, thinking and output token limit from the models API', async () => {
    const models = await byId('gemini');
    expect(models.get('gemini/gemini-2.5-flash')).toEqual({
      id: 'gemini/gemini-2.5-flash',
      provider: 'gemini',
      display_name: 'Gemini 2.5 Flash',
      supports_reasoning: true,
      supports_vision: true,
      max_tokens: 65536,
    });
    expect(models.get('gemini/gemma-3-27b-it')).toMatchObject({
      supports_reasoning: false,
      supports_vision: false,
      max_tokens: 8192,
    });
  });
});

describe('invalid providers', () => {
  it.each(['mistral', 'OpenAI', 'openai ', 'google'])(
    'answers %j with 400 on both routes',
    async (provider) => {
      for (const reply of [await list(provider), await refresh(provider)]) {
        expect(reply.status).toBe(400);
        expect(reply.body).toEqual({ detail: 'Invalid provider. Must be one of: openai, anthropic, gemini' });
      }
    },
  );
});
