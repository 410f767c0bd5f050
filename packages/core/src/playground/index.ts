import * as Config from '../config/index.ts';
import { AppError, invalid, isAppError, unavailable } from '../errors/index.ts';
import type { Chat, ClientSettings, OutputFormat, ProviderAdapter } from './adapter.ts';
import { createAnthropicAdapter } from './anthropic.ts';
import { createGeminiAdapter } from './gemini.ts';
import { cachedModels } from './model-cache.ts';
import { createOpenAiAdapter } from './openai.ts';
import {
  GenerateRequest,
  type GenerateResponse,
  type ModelInfo,
  PROVIDERS,
  type Provider,
} from './schema.ts';
import { traceGenerate } from './tracing.ts';

export { MODEL_CACHE_TTL_MS } from './model-cache.ts';
export * from './schema.ts';
export { flushTraces, PLAYGROUND_SERVICE } from './tracing.ts';

const KEY_VARIABLE: Record<Provider, string> = {
  openai: 'OPENAI_API_KEY',
  anthropic: 'ANTHROPIC_API_KEY',
  gemini: 'GEMINI_API_KEY',
};
const CREATE: Record<Provider, (settings: ClientSettings) => ProviderAdapter> = {
  openai: createOpenAiAdapter,
  anthropic: createAnthropicAdapter,
  gemini: createGeminiAdapter,
};
/** Longest provider message passed on to clients (gateways sometimes answer with whole HTML pages). */
const MAX_MESSAGE = 500;

/** One SDK client per provider per process, made on first use. */
const adapters = new Map<Provider, ProviderAdapter>();

/** @throws invalid (400) unless `raw` is one of PROVIDERS. */
export function parseProvider(raw: string): Provider {
  if ((PROVIDERS as readonly string[]).includes(raw)) return raw as Provider;
  throw invalid('invalid_provider', `Invalid provider. Must be one of: ${PROVIDERS.join(', ')}`);
}

/**
 * Runs one chat request against the provider named by `model` and returns the normalised answer, traced
 * as a `junjo-playground` span when JUNJO_PLAYGROUND_API_KEY is set.
 * @throws unavailable (503) without the provider's key, upstream (502) for provider errors,
 *   timeout (504) after JUNJO_LLM_TIMEOUT_MS.
 */
export async function generate(input: GenerateRequest): Promise<GenerateResponse> {
  const request = GenerateRequest.parse(input);
  const slash = request.model.indexOf('/');
  const provider = parseProvider(request.model.slice(0, slash));
  const chat = toChat(request, request.model.slice(slash + 1));
  const adapter = adapterFor(provider);
  return traceGenerate(provider, chat, () =>
    callProvider(provider, adapter, (signal) => adapter.generate(chat, signal)),
  );
}

/**
 * The provider's chat-capable models, cached for MODEL_CACHE_TTL_MS; `refresh` asks the provider again
 * and repopulates the cache.
 * @throws invalid (400) for an unknown provider, and as `generate` for provider failures.
 */
export async function listModels(
  rawProvider: string,
  options: { refresh?: boolean } = {},
): Promise<ModelInfo[]> {
  const provider = parseProvider(rawProvider);
  return cachedModels(
    provider,
    () => {
      const adapter = adapterFor(provider);
      return callProvider(provider, adapter, (signal) => adapter.listModels(signal));
    },
    options.refresh ?? false,
  );
}

function toChat(request: GenerateRequest, model: string): Chat {
  const output: OutputFormat = !request.json_mode
    ? { type: 'text' }
    : request.json_schema
      ? { type: 'json_schema', schema: request.json_schema }
      : { type: 'json_object' };
  return {
    model,
    messages: request.messages,
    temperature: request.temperature ?? undefined,
    topP: request.top_p ?? undefined,
    maxTokens: request.max_tokens ?? undefined,
    maxCompletionTokens: request.max_completion_tokens ?? undefined,
    stop: request.stop ?? undefined,
    reasoningEffort: request.reasoning_effort ?? undefined,
    output,
  };
}

function adapterFor(provider: Provider): ProviderAdapter {
  const existing = adapters.get(provider);
  if (existing) return existing;
  const config = Config.get();
  const { apiKey, baseUrl } = config.providers[provider];
  if (!apiKey) throw unavailable('provider_not_configured', `${KEY_VARIABLE[provider]} is not configured`);
  const adapter = CREATE[provider]({ apiKey, baseUrl, timeoutMs: config.playground.timeoutMs });
  adapters.set(provider, adapter);
  return adapter;
}

/**
 * Calls the provider with an abort signal that fires after the configured timeout, and turns what can
 * go wrong into AppErrors whose messages are safe to show: the provider's own message (never the key),
 * a connection failure, or the timeout. Anything unrecognised is rethrown as is (a logged 500).
 */
async function callProvider<T>(
  provider: Provider,
  adapter: ProviderAdapter,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const { apiKey } = Config.get().providers[provider];
  const { timeoutMs } = Config.get().playground;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await call(controller.signal);
  } catch (error) {
    if (isAppError(error)) throw error;
    const failure = adapter.classify(error);
    if (controller.signal.aborted || failure?.kind === 'timeout') {
      throw new AppError(
        'timeout',
        'provider_timeout',
        `Provider timeout: ${provider} did not answer within ${timeoutMs / 1000} s`,
        {},
        { cause: error },
      );
    }
    if (!failure) throw error;
    const text =
      failure.kind === 'connection'
        ? `could not reach ${provider} (${failure.message})`
        : failure.message || `${provider} answered HTTP ${failure.status}`;
    throw new AppError(
      'upstream',
      'provider_error',
      `Provider error: ${scrub(text, apiKey)}`,
      {},
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
}

/** Never echo the key, even if a provider or gateway quotes it back; keep the message short. */
function scrub(message: string, apiKey: string | undefined): string {
  const safe = apiKey ? message.split(apiKey).join('[REDACTED]') : message;
  return safe.length > MAX_MESSAGE ? `${safe.slice(0, MAX_MESSAGE)}…` : safe;
}
