import { beforeAll, describe, expect, it } from 'vitest';
import { handler as generateHandler } from '../llm/generate.ts';
import { handler as modelsHandler } from '../llm/models.ts';
import { handler as refreshHandler } from '../llm/refresh-models.ts';
import { handler as createFirstUser } from '../users/create-first-user.ts';
import { usePlaygroundEnv } from './llm-fakes.ts';
import { apiEvent, invoke, sessionFrom } from './support.ts';

// No provider keys at all (usePlaygroundEnv also removes any from the developer's shell).
usePlaygroundEnv({});

let cookie = '';
beforeAll(async () => {
  const reply = await invoke(
    createFirstUser,
    apiEvent('POST /users/create-first-user', '/users/create-first-user', {
      body: { email: 'nokeys@example.com', password: 'playground 1' },
    }),
  );
  cookie = sessionFrom(reply);
});

const cases = [
  { provider: 'openai', model: 'openai/gpt-4o', variable: 'OPENAI_API_KEY' },
  { provider: 'anthropic', model: 'anthropic/claude-sonnet-4-6', variable: 'ANTHROPIC_API_KEY' },
  { provider: 'gemini', model: 'gemini/gemini-2.5-flash', variable: 'GEMINI_API_KEY' },
] as const;

describe.each(cases)('$provider without its key', ({ provider, model, variable }) => {
  const detail = { detail: `${variable} is not configured` };

  it('answers generate with 503 naming the variable', async () => {
    const reply = await invoke(
      generateHandler,
      apiEvent('POST /llm/generate', '/llm/generate', {
        cookies: [cookie],
        body: { model, messages: [{ role: 'user', content: 'Hello?' }] },
      }),
    );
    expect(reply.status).toBe(503);
    expect(reply.body).toEqual(detail);
  });

  it('answers model listing and refresh with 503 naming the variable', async () => {
    const replies = [
      await invoke(
        modelsHandler,
        apiEvent('GET /llm/providers/{provider}/models', `/llm/providers/${provider}/models`, {
          cookies: [cookie],
          pathParameters: { provider },
        }),
      ),
      await invoke(
        refreshHandler,
        apiEvent(
          'POST /llm/providers/{provider}/models/refresh',
          `/llm/providers/${provider}/models/refresh`,
          {
            cookies: [cookie],
            pathParameters: { provider },
          },
        ),
      ),
    ];
    for (const reply of replies) {
      expect(reply.status).toBe(503);
      expect(reply.body).toEqual(detail);
    }
  });
});
