import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as generateHandler } from '../llm/generate.ts';
import { handler as refreshHandler } from '../llm/refresh-models.ts';
import { handler as createFirstUser } from '../users/create-first-user.ts';
import { startFakeProviders, usePlaygroundEnv } from './llm-fakes.ts';
import { apiEvent, invoke, sessionFrom } from './support.ts';

const TIMEOUT_MS = 400;
const fakes = await startFakeProviders();
usePlaygroundEnv({ ...fakes.env, JUNJO_LLM_TIMEOUT_MS: String(TIMEOUT_MS) });
afterAll(() => fakes.close());

let cookie = '';
beforeAll(async () => {
  const reply = await invoke(
    createFirstUser,
    apiEvent('POST /users/create-first-user', '/users/create-first-user', {
      body: { email: 'timeout@example.com', password: 'playground 1' },
    }),
  );
  cookie = sessionFrom(reply);
});

const cases = [
  { provider: 'openai', model: 'openai/gpt-4o', fake: () => fakes.openai },
  { provider: 'anthropic', model: 'anthropic/claude-sonnet-4-6', fake: () => fakes.anthropic },
  { provider: 'gemini', model: 'gemini/gemini-2.5-flash', fake: () => fakes.gemini },
] as const;

describe.each(cases)('a hanging $provider', ({ provider, model, fake }) => {
  it('is answered with 504 after JUNJO_LLM_TIMEOUT_MS, after one request, and the next call works', async () => {
    const before = fake().requests.length;
    fake().next('hang');
    const started = Date.now();
    const reply = await invoke(
      generateHandler,
      apiEvent('POST /llm/generate', '/llm/generate', {
        cookies: [cookie],
        body: { model, messages: [{ role: 'user', content: 'Are you there?' }] },
      }),
    );
    const elapsed = Date.now() - started;
    expect(reply.status).toBe(504);
    expect(reply.body).toEqual({ detail: `Provider timeout: ${provider} did not answer within 0.4 s` });
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    expect(elapsed).toBeLessThan(TIMEOUT_MS + 3000);
    expect(fake().requests.length).toBe(before + 1);

    const next = await invoke(
      generateHandler,
      apiEvent('POST /llm/generate', '/llm/generate', {
        cookies: [cookie],
        body: { model, messages: [{ role: 'user', content: 'Now?' }] },
      }),
    );
    expect(next.status).toBe(200);
  });

  it('times a hanging model listing out with 504 too', async () => {
    fake().next('hang');
    const reply = await invoke(
      refreshHandler,
      apiEvent('POST /llm/providers/{provider}/models/refresh', `/llm/providers/${provider}/models/refresh`, {
        cookies: [cookie],
        pathParameters: { provider },
      }),
    );
    expect(reply.status).toBe(504);
    expect(reply.body).toEqual({ detail: `Provider timeout: ${provider} did not answer within 0.4 s` });
  });
});
