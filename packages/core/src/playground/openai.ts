import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import {
  type Chat,
  type ClientSettings,
  nowSeconds,
  type ProviderAdapter,
  type ProviderFailure,
  usageOf,
} from './adapter.ts';
import type { GenerateResponse, ModelInfo } from './schema.ts';

const DEFAULT_BASE_URL = 'https://api.openai.com/v1';
const SCHEMA_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Models the models API lists that chat completions cannot serve (embeddings, speech, images, moderation,
 * Responses-only models). Anchored to OpenAI's own names so an OpenAI-compatible server's chat models
 * (`…-Instruct`, `…-pro`) stay listed.
 */
const NOT_CHAT =
  /embed|whisper|tts|transcribe|moderation|realtime|audio|dall-e|gpt-image|sora|davinci|babbage|gpt-3\.5-turbo-instruct|computer-use|codex|deep-research|^(o\d|gpt-5)[\w.-]*-pro\b/i;
const REASONING = /^(o\d|gpt-5(?!-chat))/i;
const VISION = /^(gpt-4o|gpt-4\.1|gpt-4-turbo|gpt-4\.5|gpt-5|o1(?!-mini)|o3(?!-mini)|o4)/i;

/** Chat completions through the `openai` SDK; any OpenAI-compatible server works via OPENAI_BASE_URL. */
export function createOpenAiAdapter(settings: ClientSettings): ProviderAdapter {
  const client = new OpenAI({
    apiKey: settings.apiKey,
    baseURL: settings.baseUrl ?? DEFAULT_BASE_URL,
    organization: null,
    project: null,
    maxRetries: 0,
    timeout: settings.timeoutMs,
  });

  return {
    provider: 'openai',

    async generate(chat: Chat, signal: AbortSignal): Promise<GenerateResponse> {
      const completion = await client.chat.completions.create(toParams(chat), { signal });
      let reasoning: string | null = null;
      const choices = completion.choices.map((choice) => {
        // OpenAI itself returns no reasoning text; compatible servers (vLLM, Ollama, DeepSeek) do.
        const extra = choice.message as { reasoning_content?: unknown; reasoning?: unknown };
        const text = extra.reasoning_content ?? extra.reasoning;
        if (reasoning === null && typeof text === 'string' && text !== '') reasoning = text;
        return {
          index: choice.index,
          message: {
            role: 'assistant' as const,
            content: choice.message.content ?? choice.message.refusal ?? '',
          },
          finish_reason: choice.finish_reason ?? null,
        };
      });
      const usage = completion.usage;
      return {
        id: completion.id,
        object: 'chat.completion',
        created: completion.created ?? nowSeconds(),
        model: completion.model ?? chat.model,
        choices,
        usage: usage ? usageOf(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) : null,
        reasoning_content: reasoning,
      };
    },

    async listModels(signal: AbortSignal): Promise<ModelInfo[]> {
      const models: ModelInfo[] = [];
      for await (const model of client.models.list({ signal })) {
        if (NOT_CHAT.test(model.id)) continue;
        models.push({
          id: `openai/${model.id}`,
          provider: 'openai',
          display_name: model.id,
          supports_reasoning: REASONING.test(model.id),
          supports_vision: VISION.test(model.id),
          max_tokens: null,
        });
      }
      return models;
    },

    classify(error: unknown): ProviderFailure | undefined {
      if (error instanceof APIConnectionTimeoutError) return { kind: 'timeout' };
      if (error instanceof APIConnectionError) return { kind: 'connection', message: error.message };
      if (error instanceof APIError && error.status !== undefined) {
        const body = error.error as { message?: unknown } | undefined;
        const message = typeof body?.message === 'string' ? body.message : '';
        return { kind: 'status', status: error.status, message };
      }
      return undefined;
    },
  };
}

/** The request, field for field; only what the caller set is sent. */
function toParams(chat: Chat): ChatCompletionCreateParamsNonStreaming {
  const params: ChatCompletionCreateParamsNonStreaming = {
    model: chat.model,
    messages: chat.messages.map((m) => ({ role: m.role, content: m.content })),
  };
  if (chat.temperature !== undefined) params.temperature = chat.temperature;
  if (chat.topP !== undefined) params.top_p = chat.topP;
  if (chat.maxTokens !== undefined) params.max_tokens = chat.maxTokens;
  if (chat.maxCompletionTokens !== undefined) params.max_completion_tokens = chat.maxCompletionTokens;
  if (chat.stop !== undefined) params.stop = chat.stop;
  if (chat.reasoningEffort !== undefined) params.reasoning_effort = chat.reasoningEffort;
  if (chat.output.type === 'json_object') params.response_format = { type: 'json_object' };
  if (chat.output.type === 'json_schema') {
    const title = chat.output.schema.title;
    params.response_format = {
      type: 'json_schema',
      json_schema: {
        name: typeof title === 'string' && SCHEMA_NAME.test(title) ? title : 'response_schema',
        strict: true,
        schema: chat.output.schema,
      },
    };
  }
  return params;
}
