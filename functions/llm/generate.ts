import * as Playground from '@junjo/core/playground';
import { http } from '../middleware/http.ts';
import { json } from '../middleware/response.ts';

/** One chat request to OpenAI, Anthropic or Gemini, answered in the one response shape (CONTRACT §7). */
export const handler = http('POST /llm/generate', { body: Playground.GenerateRequest }, async ({ body }) =>
  json(200, await Playground.generate(body)),
);
