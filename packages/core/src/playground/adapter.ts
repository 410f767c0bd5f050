import type { GenerateResponse, Message, ModelInfo, Provider, ReasoningEffort } from './schema.ts';

/** What the caller wants back: free text, any JSON object, or JSON matching a schema. */
export type OutputFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; schema: Record<string, unknown> };

/** One validated generate request, with the provider prefix taken off the model. */
export interface Chat {
  /** The provider's own model name (`gpt-4o`, not `openai/gpt-4o`). */
  model: string;
  /** In the caller's order; adapters whose API has a separate system field hoist the system messages. */
  messages: Message[];
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  maxCompletionTokens?: number;
  stop?: string[];
  reasoningEffort?: ReasoningEffort;
  output: OutputFormat;
}

/** How a provider call failed, as far as the SDK tells us. Anything else is our bug (a plain 500). */
export type ProviderFailure =
  | { kind: 'status'; status: number; message: string }
  | { kind: 'connection'; message: string }
  | { kind: 'timeout' };

export interface ClientSettings {
  apiKey: string;
  /** Without trailing slash; undefined means the provider's public endpoint. */
  baseUrl?: string;
  timeoutMs: number;
}

/**
 * One provider behind the playground, built on that provider's official SDK.
 *
 * Invariants every implementation keeps (functions/test/llm-*.test.ts run the same cases against all three):
 * - The API key comes only from `ClientSettings`, never from the environment, and never appears in a
 *   returned value or thrown message.
 * - The SDK never retries: one `generate` is one provider request, so errors and timeouts surface at once.
 * - `signal` aborts the request in flight; the caller turns that into a timeout.
 * - Provider failures are thrown as the SDK's own errors and recognised by `classify`; the answer is
 *   always normalised to `GenerateResponse`, with `usage` and `reasoning_content` null when not given.
 * - `listModels` returns only chat-capable models, ids prefixed `provider/`, reading every page.
 */
export interface ProviderAdapter {
  readonly provider: Provider;
  generate(chat: Chat, signal: AbortSignal): Promise<GenerateResponse>;
  listModels(signal: AbortSignal): Promise<ModelInfo[]>;
  classify(error: unknown): ProviderFailure | undefined;
}

/**
 * Thinking budgets (tokens) for Anthropic extended thinking and Gemini 2.x `thinkingBudget`. 1024 is
 * Anthropic's minimum budget.
 */
export const THINKING_BUDGET: Record<ReasoningEffort, number> = {
  minimal: 1024,
  low: 2048,
  medium: 8192,
  high: 16384,
};

/** Splits system messages (for APIs with a separate system field) from the conversation turns. */
export function splitSystem(messages: Message[]): {
  system: string[];
  turns: Array<{ role: 'user' | 'assistant'; content: string }>;
} {
  const system: string[] = [];
  const turns: Array<{ role: 'user' | 'assistant'; content: string }> = [];
  for (const m of messages) {
    if (m.role === 'system') system.push(m.content);
    else turns.push({ role: m.role, content: m.content });
  }
  return { system, turns };
}

/** Current time in whole seconds, OpenAI's `created`. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Total tokens when the provider reports only the parts. */
export function usageOf(prompt: number, completion: number, total?: number) {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total ?? prompt + completion };
}
