import Anthropic, { APIConnectionError, APIConnectionTimeoutError, APIError } from '@anthropic-ai/sdk';
import type { MessageCreateParamsNonStreaming, StopReason, Tool } from '@anthropic-ai/sdk/resources/messages';
import {
  type Chat,
  type ClientSettings,
  nowSeconds,
  type ProviderAdapter,
  type ProviderFailure,
  splitSystem,
  THINKING_BUDGET,
  usageOf,
} from './adapter.ts';
import type { GenerateResponse, ModelInfo } from './schema.ts';

const DEFAULT_BASE_URL = 'https://api.anthropic.com';
/** The Messages API requires `max_tokens`; this is used when the caller gives none. */
const DEFAULT_MAX_TOKENS = 4096;
const MIN_THINKING_BUDGET = 1024;
/** The forced tool that carries structured output: its input is the JSON answer. */
export const JSON_TOOL = 'json_response';
/** Models from before extended thinking, for model lists from servers that omit `capabilities`. */
const NO_THINKING = /^claude-(instant|2|3-(opus|sonnet|haiku)|3-5)/;

/** The SDK's types no longer list the sampling parameters; the Messages API still takes them. */
type Params = MessageCreateParamsNonStreaming & { temperature?: number; top_p?: number };

const FINISH: Record<StopReason, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  tool_use: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  refusal: 'content_filter',
};

/** Messages API through `@anthropic-ai/sdk`. */
export function createAnthropicAdapter(settings: ClientSettings): ProviderAdapter {
  const client = new Anthropic({
    apiKey: settings.apiKey,
    baseURL: settings.baseUrl ?? DEFAULT_BASE_URL,
    maxRetries: 0,
    // An explicit timeout also stops the SDK refusing large non-streaming max_tokens.
    timeout: settings.timeoutMs,
  });

  return {
    provider: 'anthropic',

    async generate(chat: Chat, signal: AbortSignal): Promise<GenerateResponse> {
      const message = await client.messages.create(toParams(chat), { signal });
      const text: string[] = [];
      const thinking: string[] = [];
      let json: string | undefined;
      for (const block of message.content) {
        if (block.type === 'text') text.push(block.text);
        else if (block.type === 'thinking') thinking.push(block.thinking);
        else if (block.type === 'tool_use' && block.name === JSON_TOOL) json = JSON.stringify(block.input);
      }
      const u = message.usage;
      const prompt = u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);
      return {
        id: message.id,
        object: 'chat.completion',
        created: nowSeconds(),
        model: message.model ?? chat.model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: json ?? text.join('') },
            finish_reason: message.stop_reason ? (FINISH[message.stop_reason] ?? message.stop_reason) : null,
          },
        ],
        usage: usageOf(prompt, u.output_tokens),
        reasoning_content: thinking.length > 0 ? thinking.join('\n\n') : null,
      };
    },

    async listModels(signal: AbortSignal): Promise<ModelInfo[]> {
      const models: ModelInfo[] = [];
      for await (const model of client.models.list({ limit: 1000 }, { signal })) {
        if (model.lifecycle === 'retired') continue;
        const capabilities = model.capabilities;
        models.push({
          id: `anthropic/${model.id}`,
          provider: 'anthropic',
          display_name: model.display_name || model.id,
          supports_reasoning: capabilities?.thinking?.supported ?? !NO_THINKING.test(model.id),
          supports_vision: capabilities?.image_input?.supported ?? true,
          max_tokens: model.max_tokens ?? null,
        });
      }
      return models;
    },

    classify(error: unknown): ProviderFailure | undefined {
      if (error instanceof APIConnectionTimeoutError) return { kind: 'timeout' };
      if (error instanceof APIConnectionError) return { kind: 'connection', message: error.message };
      if (error instanceof APIError && error.status !== undefined) {
        return { kind: 'status', status: error.status, message: error.apiMessage ?? '' };
      }
      return undefined;
    },
  };
}

/**
 * System messages become `system` blocks; `stop` becomes `stop_sequences`. Reasoning effort turns on
 * extended thinking with a budget from THINKING_BUDGET, kept below `max_tokens` as the API requires.
 * Structured output is a tool whose input schema is the requested schema, forced with `tool_choice` —
 * except with thinking on, where the API allows only `auto`, so the tool is offered instead.
 */
function toParams(chat: Chat): Params {
  const { system, turns } = splitSystem(chat.messages);
  const budget = chat.reasoningEffort ? THINKING_BUDGET[chat.reasoningEffort] : undefined;
  const maxTokens =
    chat.maxCompletionTokens ?? chat.maxTokens ?? DEFAULT_MAX_TOKENS + (budget === undefined ? 0 : budget);
  const params: Params = { model: chat.model, max_tokens: maxTokens, messages: turns };
  if (system.length > 0) params.system = system.map((text) => ({ type: 'text', text }));
  if (chat.temperature !== undefined) params.temperature = chat.temperature;
  if (chat.topP !== undefined) params.top_p = chat.topP;
  if (chat.stop !== undefined) params.stop_sequences = chat.stop;
  if (budget !== undefined) {
    params.thinking = {
      type: 'enabled',
      budget_tokens: Math.max(MIN_THINKING_BUDGET, Math.min(budget, maxTokens - 1)),
    };
  }
  if (chat.output.type !== 'text') {
    const schema = chat.output.type === 'json_schema' ? chat.output.schema : { type: 'object' };
    params.tools = [
      {
        name: JSON_TOOL,
        description: 'Give the final answer by calling this tool; its input is the JSON response.',
        input_schema: schema as Tool.InputSchema,
      },
    ];
    params.tool_choice = budget === undefined ? { type: 'tool', name: JSON_TOOL } : { type: 'auto' };
  }
  return params;
}
