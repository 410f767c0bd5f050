import * as ApiKey from '@junjo/core/api-key';
import * as Config from '@junjo/core/config';
import { type RunningIngest, startIngest } from '@junjo/ingest/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as generateHandler } from '../llm/generate.ts';
import { handler as createFirstUser } from '../users/create-first-user.ts';
import { startFakeProviders, usePlaygroundEnv } from './llm-fakes.ts';
import { apiEvent, invoke, sessionFrom } from './support.ts';

// The playground's own trace, through this server's real ingest receiver, into the span store.
const fakes = await startFakeProviders();
usePlaygroundEnv({
  ...fakes.env,
  GRPC_PORT: '0',
  OTLP_HTTP_PORT: '0',
  INTERNAL_GRPC_PORT: '0',
  JUNJO_INGEST_HOST: '127.0.0.1',
});

let ingest: RunningIngest;
let cookie = '';
beforeAll(async () => {
  ingest = await startIngest(Config.get());
  const { key } = await ApiKey.create('playground');
  // The key and the receiver's port exist only now; the tracer is created at the first run.
  Config.update({
    playground: {
      ...Config.get().playground,
      otlpUrl: `http://127.0.0.1:${ingest.httpPort}/v1/traces`,
      apiKey: key,
    },
  });
  cookie = sessionFrom(
    await invoke(
      createFirstUser,
      apiEvent('POST /users/create-first-user', '/users/create-first-user', {
        body: { email: 'p@example.com', password: 'playground 1' },
      }),
    ),
  );
});
afterAll(async () => {
  await ingest.close();
  await fakes.close();
});

describe('traced playground runs reach the real ingest receiver', () => {
  it('stores the run as a junjo-playground span with the GenAI attributes', async () => {
    const reply = await invoke(
      generateHandler,
      apiEvent('POST /llm/generate', '/llm/generate', {
        cookies: [cookie],
        body: { model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'Into the store, please.' }] },
      }),
    );
    expect(reply.status).toBe(200);

    let spans: Array<{ attributes_json: Record<string, unknown>; service_name: string; kind: string }> = [];
    const deadline = Date.now() + 10_000;
    while (spans.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      await ingest.indexer.flush();
      spans = JSON.parse(await ingest.store.serviceSpans('junjo-playground', 10));
    }
    expect(spans).toHaveLength(1);
    expect(spans[0]).toMatchObject({ service_name: 'junjo-playground', kind: 'CLIENT' });
    expect(spans[0]!.attributes_json).toMatchObject({
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.usage.input_tokens': 11,
      'gen_ai.usage.output_tokens': 7,
    });
    expect(
      JSON.parse(await ingest.store.rootSpans('junjo-playground', { hasLlm: true, limit: 10 })),
    ).toHaveLength(1);
  });
});
