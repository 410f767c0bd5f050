import { z } from 'zod';

/** The playground's providers, in the order error messages list them. */
export const PROVIDERS = ['openai', 'anthropic', 'gemini'] as const;
export type Provider = (typeof PROVIDERS)[number];

export const REASONING_EFFORTS = ['minimal', 'low', 'medium', 'high'] as const;
export type ReasoningEffort = (typeof REASONING_EFFORTS)[number];

/** `provider/model`; the model part may itself contain `/` (OpenAI-compatible servers name models that way). */
const MODEL_ID = new RegExp(`^(${PROVIDERS.join('|')})/\\S+$`);

const number = (min: number, max?: number) => {
  const base = z
    .number({ error: 'Input should be a valid number' })
    .min(min, `Input should be greater than or equal to ${min}`);
  return max === undefined ? base : base.max(max, `Input should be less than or equal to ${max}`);
};
const positiveInt = () =>
  z
    .number({ error: 'Input should be a valid integer' })
    .int('Input should be a valid integer')
    .positive('Input should be greater than 0');

export const Message = z.object({
  role: z.enum(['system', 'user', 'assistant'], {
    error: "Input should be 'system', 'user' or 'assistant'",
  }),
  content: z.string({ error: 'Input should be a valid string' }),
});
export type Message = z.output<typeof Message>;

/** `POST /llm/generate` (CONTRACT §7). Optional fields also accept `null`, as the FastAPI backend did. */
export const GenerateRequest = z.object({
  model: z
    .string({ error: 'Input should be a valid string' })
    .regex(MODEL_ID, `Model must be "provider/model" with provider one of: ${PROVIDERS.join(', ')}`),
  messages: z.array(Message).min(1, 'List should have at least 1 item'),
  temperature: number(0, 2).nullish(),
  max_tokens: positiveInt().nullish(),
  top_p: number(0, 1).nullish(),
  stop: z.array(z.string()).max(4, 'List should have at most 4 items').nullish(),
  reasoning_effort: z
    .enum(REASONING_EFFORTS, { error: "Input should be 'minimal', 'low', 'medium' or 'high'" })
    .nullish(),
  max_completion_tokens: positiveInt().nullish(),
  json_mode: z.boolean({ error: 'Input should be a valid boolean' }).nullish(),
  json_schema: z.record(z.string(), z.unknown(), { error: 'Input should be a valid dictionary' }).nullish(),
});
export type GenerateRequest = z.output<typeof GenerateRequest>;

/** The one answer shape, whichever provider answered (OpenAI's chat completion, trimmed). */
export const GenerateResponse = z.strictObject({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.number().int(),
  model: z.string(),
  choices: z.array(
    z.strictObject({
      index: z.number().int(),
      message: z.strictObject({ role: z.literal('assistant'), content: z.string() }),
      finish_reason: z.string().nullable(),
    }),
  ),
  usage: z
    .strictObject({
      prompt_tokens: z.number().int(),
      completion_tokens: z.number().int(),
      total_tokens: z.number().int(),
    })
    .nullable(),
  reasoning_content: z.string().nullable(),
});
export type GenerateResponse = z.output<typeof GenerateResponse>;
export type Choice = GenerateResponse['choices'][number];
export type Usage = NonNullable<GenerateResponse['usage']>;

export const ModelInfo = z.strictObject({
  id: z.string(),
  provider: z.enum(PROVIDERS),
  display_name: z.string(),
  supports_reasoning: z.boolean(),
  supports_vision: z.boolean(),
  /** The largest output (`max_tokens`) the model accepts, when the provider says. */
  max_tokens: z.number().int().nullable(),
});
export type ModelInfo = z.output<typeof ModelInfo>;
