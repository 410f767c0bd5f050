import { randomUUID } from 'node:crypto';
import {
  ApiError,
  type GenerateContentConfig,
  type GenerateContentResponse,
  GoogleGenAI,
  type ThinkingConfig,
  ThinkingLevel,
} from '@google/genai';
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
import type { Choice, GenerateResponse, ModelInfo, ReasoningEffort } from './schema.ts';

const DEFAULT_BASE_URL = 'https://generativelanguage.googleapis.com';
/** Models that answer generateContent but not with text (embeddings, speech, images, live audio, robots). */
const NOT_CHAT = /embed|tts|image|imagen|veo|aqa|live|native-audio|robotics|computer-use/i;

const LEVEL: Record<ReasoningEffort, ThinkingLevel> = {
  minimal: ThinkingLevel.MINIMAL,
  low: ThinkingLevel.LOW,
  medium: ThinkingLevel.MEDIUM,
  high: ThinkingLevel.HIGH,
};

const FINISH: Record<string, string> = {
  STOP: 'stop',
  MAX_TOKENS: 'length',
  SAFETY: 'content_filter',
  RECITATION: 'content_filter',
  BLOCKLIST: 'content_filter',
  PROHIBITED_CONTENT: 'content_filter',
  SPII: 'content_filter',
};

/** generateContent through `@google/genai` (the Gemini Developer API, never Vertex). */
export function createGeminiAdapter(settings: ClientSettings): ProviderAdapter {
  const client = new GoogleGenAI({
    vertexai: false,
    apiKey: settings.apiKey,
    // No retryOptions: the SDK then makes exactly one attempt.
    httpOptions: { baseUrl: settings.baseUrl ?? DEFAULT_BASE_URL },
  });

  return {
    provider: 'gemini',

    async generate(chat: Chat, signal: AbortSignal): Promise<GenerateResponse> {
      const { system, turns } = splitSystem(chat.messages);
      const response = await client.models.generateContent({
        model: chat.model,
        contents: turns.map((m) => ({
          role: m.role === 'assistant' ? 'model' : 'user',
          parts: [{ text: m.content }],
        })),
        config: toConfig(chat, system, signal),
      });
      return normalise(chat, response);
    },

    async listModels(signal: AbortSignal): Promise<ModelInfo[]> {
      const models: ModelInfo[] = [];
      const pager = await client.models.list({ config: { pageSize: 1000, abortSignal: signal } });
      for await (const model of pager) {
        const name = (model.name ?? '').replace(/^models\//, '');
        if (!name || !model.supportedActions?.includes('generateContent') || NOT_CHAT.test(name)) continue;
        models.push({
          id: `gemini/${name}`,
          provider: 'gemini',
          display_name: model.displayName || name,
          supports_reasoning: model.thinking ?? false,
          supports_vision: name.startsWith('gemini-'),
          max_tokens: model.outputTokenLimit ?? null,
        });
      }
      return models;
    },

    classify(error: unknown): ProviderFailure | undefined {
      if (error instanceof ApiError)
        return { kind: 'status', status: error.status, message: apiMessage(error) };
      // The SDK calls fetch directly, so a refused connection is undici's TypeError.
      if (error instanceof TypeError && error.message === 'fetch failed') {
        return { kind: 'connection', message: 'Connection error.' };
      }
      return undefined;
    },
  };
}

/**
 * System messages become `systemInstruction`; reasoning effort becomes `thinkingConfig` (a token budget for
 * Gemini 1.x/2.x, a thinking level from Gemini 3 on) with thoughts included; JSON mode sets the JSON MIME
 * type, and a schema goes in `responseJsonSchema` (standard JSON Schema, as the caller wrote it).
 */
function toConfig(chat: Chat, system: string[], signal: AbortSignal): GenerateContentConfig {
  const config: GenerateContentConfig = { abortSignal: signal };
  if (system.length > 0) config.systemInstruction = { parts: system.map((text) => ({ text })) };
  if (chat.temperature !== undefined) config.temperature = chat.temperature;
  if (chat.topP !== undefined) config.topP = chat.topP;
  const maxTokens = chat.maxCompletionTokens ?? chat.maxTokens;
  if (maxTokens !== undefined) config.maxOutputTokens = maxTokens;
  if (chat.stop !== undefined) config.stopSequences = chat.stop;
  if (chat.reasoningEffort) config.thinkingConfig = thinking(chat.model, chat.reasoningEffort);
  if (chat.output.type !== 'text') config.responseMimeType = 'application/json';
  if (chat.output.type === 'json_schema') config.responseJsonSchema = chat.output.schema;
  return config;
}

function thinking(model: string, effort: ReasoningEffort): ThinkingConfig {
  const major = Number(/^gemini-(\d+)/.exec(model)?.[1] ?? 0);
  return major >= 3
    ? { thinkingLevel: LEVEL[effort], includeThoughts: true }
    : { thinkingBudget: THINKING_BUDGET[effort], includeThoughts: true };
}

function normalise(chat: Chat, response: GenerateContentResponse): GenerateResponse {
  const thoughts: string[] = [];
  const choices: Choice[] = (response.candidates ?? []).map((candidate, i) => {
    const text: string[] = [];
    for (const part of candidate.content?.parts ?? []) {
      if (typeof part.text !== 'string') continue;
      if (part.thought) thoughts.push(part.text);
      else text.push(part.text);
    }
    const reason = candidate.finishReason;
    return {
      index: candidate.index ?? i,
      message: { role: 'assistant', content: text.join('') },
      finish_reason: reason ? (FINISH[reason] ?? reason.toLowerCase()) : null,
    };
  });
  // A blocked prompt has no candidates, only promptFeedback.
  if (choices.length === 0) {
    choices.push({
      index: 0,
      message: { role: 'assistant', content: '' },
      finish_reason: response.promptFeedback?.blockReason ? 'content_filter' : null,
    });
  }
  const u = response.usageMetadata;
  return {
    id: response.responseId ?? `gen-${randomUUID()}`,
    object: 'chat.completion',
    created: nowSeconds(),
    model: response.modelVersion ?? chat.model,
    choices,
    usage: u
      ? usageOf(
          u.promptTokenCount ?? 0,
          (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0),
          u.totalTokenCount,
        )
      : null,
    reasoning_content: thoughts.length > 0 ? thoughts.join('\n\n') : null,
  };
}

/** The SDK puts the whole error body, as JSON, in the message; the provider's own text is inside it. */
function apiMessage(error: ApiError): string {
  try {
    const body = JSON.parse(error.message) as { error?: { message?: unknown } };
    if (typeof body.error?.message === 'string') return body.error.message;
  } catch {
    // Not JSON: use the message as it is.
  }
  return error.message;
}
