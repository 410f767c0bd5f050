import { type Attributes, ROOT_CONTEXT, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import {
  ATTR_GEN_AI_INPUT_MESSAGES,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_OUTPUT_MESSAGES,
  ATTR_GEN_AI_OUTPUT_TYPE,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MAX_TOKENS,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_REQUEST_STOP_SEQUENCES,
  ATTR_GEN_AI_REQUEST_TEMPERATURE,
  ATTR_GEN_AI_REQUEST_TOP_P,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_ID,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_SYSTEM_INSTRUCTIONS,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  GEN_AI_PROVIDER_NAME_VALUE_ANTHROPIC,
  GEN_AI_PROVIDER_NAME_VALUE_GCP_GEMINI,
  GEN_AI_PROVIDER_NAME_VALUE_OPENAI,
} from '@opentelemetry/semantic-conventions/incubating';
import * as Config from '../config/index.ts';
import { isAppError } from '../errors/index.ts';
import { logger } from '../logger/index.ts';
import { type Chat, splitSystem } from './adapter.ts';
import type { GenerateResponse, Provider } from './schema.ts';

/** The service name playground runs appear under. */
export const PLAYGROUND_SERVICE = 'junjo-playground';

/** `gen_ai.provider.name` well-known values, and OpenInference's `llm.provider` (which the Junjo UI reads). */
const GEN_AI_PROVIDER: Record<Provider, string> = {
  openai: GEN_AI_PROVIDER_NAME_VALUE_OPENAI,
  anthropic: GEN_AI_PROVIDER_NAME_VALUE_ANTHROPIC,
  gemini: GEN_AI_PROVIDER_NAME_VALUE_GCP_GEMINI,
};
const OPENINFERENCE_PROVIDER: Record<Provider, string> = {
  openai: 'openai',
  anthropic: 'anthropic',
  gemini: 'google',
};

interface Tracing {
  provider: BasicTracerProvider;
  tracer: Tracer;
}
/** undefined: not decided yet; null: off (no JUNJO_PLAYGROUND_API_KEY). */
let tracing: Tracing | null | undefined;

/**
 * Created once per process on first use. Spans go through a BatchSpanProcessor to an OTLP/HTTP protobuf
 * exporter; nothing is registered globally, so other OpenTelemetry users in the process are unaffected.
 */
function getTracing(): Tracing | null {
  if (tracing !== undefined) return tracing;
  const { otlpUrl, apiKey } = Config.get().playground;
  tracing = null;
  if (!apiKey) return tracing;
  try {
    const exporter = new OTLPTraceExporter({ url: otlpUrl, headers: { 'x-junjo-api-key': apiKey } });
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: PLAYGROUND_SERVICE }),
      spanProcessors: [new BatchSpanProcessor(exporter)],
    });
    tracing = { provider, tracer: provider.getTracer('junjo-server/playground', Config.VERSION) };
  } catch (error) {
    logger.warn('playground tracing is off: the exporter could not be created', {
      error: (error as Error).message,
    });
  }
  return tracing;
}

/**
 * Runs one generate call inside a `chat {model}` CLIENT span with the GenAI semantic conventions (plus the
 * OpenInference attributes the Junjo UI reads to reopen a span in the playground). A span is its own
 * trace. Export starts right after the span ends and is never awaited, so a slow or absent receiver
 * cannot delay or fail the answer. Without a playground API key this is just `run()`.
 */
export async function traceGenerate(
  provider: Provider,
  chat: Chat,
  run: () => Promise<GenerateResponse>,
): Promise<GenerateResponse> {
  const t = getTracing();
  if (!t) return run();
  const span = t.tracer.startSpan(
    `chat ${chat.model}`,
    { kind: SpanKind.CLIENT, attributes: requestAttributes(provider, chat) },
    ROOT_CONTEXT,
  );
  try {
    const response = await run();
    span.setAttributes(responseAttributes(response));
    return response;
  } catch (error) {
    // Only AppError messages are meant to be shown; anything else stays in the server log.
    const known = isAppError(error);
    span.setAttribute('error.type', known ? error.code : 'internal_error');
    span.setStatus({ code: SpanStatusCode.ERROR, message: known ? error.message : 'Internal Server Error' });
    throw error;
  } finally {
    span.end();
    t.provider.forceFlush().catch(() => undefined);
  }
}

/** Sends any spans still buffered; for shutdown and tests. */
export async function flushTraces(): Promise<void> {
  await tracing?.provider.forceFlush();
}

function requestAttributes(provider: Provider, chat: Chat): Attributes {
  const { system, turns } = splitSystem(chat.messages);
  const maxTokens = chat.maxCompletionTokens ?? chat.maxTokens;
  const attributes: Attributes = {
    [ATTR_GEN_AI_OPERATION_NAME]: 'chat',
    [ATTR_GEN_AI_PROVIDER_NAME]: GEN_AI_PROVIDER[provider],
    [ATTR_GEN_AI_REQUEST_MODEL]: chat.model,
    [ATTR_GEN_AI_OUTPUT_TYPE]: chat.output.type === 'text' ? 'text' : 'json',
    [ATTR_GEN_AI_INPUT_MESSAGES]: JSON.stringify(
      turns.map((m) => ({ role: m.role, parts: [{ type: 'text', content: m.content }] })),
    ),
    'openinference.span.kind': 'LLM',
    'llm.provider': OPENINFERENCE_PROVIDER[provider],
    'llm.model_name': chat.model,
    'llm.invocation_parameters': JSON.stringify(invocationParameters(chat)),
    'input.value': turns.findLast((m) => m.role === 'user')?.content ?? '',
    'input.mime_type': 'text/plain',
  };
  if (system.length > 0) {
    attributes[ATTR_GEN_AI_SYSTEM_INSTRUCTIONS] = JSON.stringify(
      system.map((content) => ({ type: 'text', content })),
    );
  }
  if (chat.temperature !== undefined) attributes[ATTR_GEN_AI_REQUEST_TEMPERATURE] = chat.temperature;
  if (chat.topP !== undefined) attributes[ATTR_GEN_AI_REQUEST_TOP_P] = chat.topP;
  if (maxTokens !== undefined) attributes[ATTR_GEN_AI_REQUEST_MAX_TOKENS] = maxTokens;
  if (chat.stop !== undefined) attributes[ATTR_GEN_AI_REQUEST_STOP_SEQUENCES] = chat.stop;
  return attributes;
}

/** The request's parameters under the contract's names (what the UI puts back into its settings). */
function invocationParameters(chat: Chat): Record<string, unknown> {
  return {
    temperature: chat.temperature,
    top_p: chat.topP,
    max_tokens: chat.maxTokens,
    max_completion_tokens: chat.maxCompletionTokens,
    stop: chat.stop,
    reasoning_effort: chat.reasoningEffort,
    json_mode: chat.output.type !== 'text' || undefined,
    json_schema: chat.output.type === 'json_schema' ? chat.output.schema : undefined,
  };
}

function responseAttributes(response: GenerateResponse): Attributes {
  const first = response.choices[0];
  const output = response.choices.map((choice, i) => ({
    role: 'assistant',
    parts: [
      ...(i === 0 && response.reasoning_content !== null
        ? [{ type: 'reasoning', content: response.reasoning_content }]
        : []),
      { type: 'text', content: choice.message.content },
    ],
    finish_reason: choice.finish_reason ?? '',
  }));
  const attributes: Attributes = {
    [ATTR_GEN_AI_RESPONSE_ID]: response.id,
    [ATTR_GEN_AI_RESPONSE_MODEL]: response.model,
    [ATTR_GEN_AI_RESPONSE_FINISH_REASONS]: response.choices.map((c) => c.finish_reason ?? ''),
    [ATTR_GEN_AI_OUTPUT_MESSAGES]: JSON.stringify(output),
    'output.value': first?.message.content ?? '',
    'output.mime_type': 'text/plain',
  };
  if (response.usage) {
    attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS] = response.usage.prompt_tokens;
    attributes[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS] = response.usage.completion_tokens;
    attributes['llm.token_count.prompt'] = response.usage.prompt_tokens;
    attributes['llm.token_count.completion'] = response.usage.completion_tokens;
    attributes['llm.token_count.total'] = response.usage.total_tokens;
  }
  return attributes;
}
