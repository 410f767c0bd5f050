import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import { useTempDataDir } from './support.ts';

/**
 * Local stand-ins for the three provider APIs and for an OTLP/HTTP receiver, on 127.0.0.1 port 0. Each
 * speaks its API's wire format closely enough for the official SDK, checks the API key the SDK sends,
 * and records every request it receives so tests can assert what was sent.
 */

export interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  // biome-ignore lint/suspicious/noExplicitAny: tests index into the JSON bodies the SDKs sent
  body: any;
}

/** A scripted reply: a JSON answer, no answer at all, or a connection dropped mid-request. */
export type Reply = { status: number; body: unknown } | 'hang' | 'drop';

type Route = (request: Recorded) => Reply;

class FakeServer {
  readonly requests: Recorded[] = [];
  private readonly scripted: Reply[] = [];
  private server: Server | undefined;
  url = '';

  constructor(
    private readonly authorised: (headers: IncomingHttpHeaders) => boolean,
    private readonly unauthorised: Reply,
    private readonly route: Route,
  ) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void readBody(req).then((raw) => {
        const url = new URL(req.url ?? '/', 'http://fake');
        const recorded: Recorded = {
          method: req.method ?? '',
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body: raw.length > 0 ? JSON.parse(raw.toString('utf8')) : undefined,
        };
        this.requests.push(recorded);
        const reply = this.authorised(req.headers)
          ? (this.scripted.shift() ?? this.route(recorded))
          : this.unauthorised;
        if (reply === 'hang') return;
        if (reply === 'drop') {
          req.socket.destroy();
          return;
        }
        res.writeHead(reply.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(reply.body));
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** The next request gets `reply` instead of the default answer. */
  next(reply: Reply): void {
    this.scripted.push(reply);
  }

  last(): Recorded {
    const request = this.requests.at(-1);
    if (!request) throw new Error('the fake received no request');
    return request;
  }

  count(path: RegExp): number {
    return this.requests.filter((r) => path.test(r.path)).length;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Cursor pagination over a list, `pageSize` items a page: the page starting after `offset`. */
function page<T>(items: T[], offset: number, pageSize: number): { items: T[]; more: boolean } {
  return { items: items.slice(offset, offset + pageSize), more: offset + pageSize < items.length };
}

// OpenAI: POST /v1/chat/completions, GET /v1/models. Errors: {"error": {"message", "type", "code"}}.

export const openAiWire = {
  completion(
    message: { content: string | null; reasoning_content?: string; refusal?: string },
    extra: { finish_reason?: string; usage?: object | null; model?: string } = {},
  ) {
    return {
      id: 'chatcmpl-fake-1',
      object: 'chat.completion',
      created: 1_760_000_000,
      model: extra.model ?? 'gpt-4o-2024-08-06',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', refusal: null, ...message },
          finish_reason: extra.finish_reason ?? 'stop',
          logprobs: null,
        },
      ],
      usage:
        extra.usage === undefined
          ? { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 }
          : extra.usage,
    };
  },
  error(status: number, message: string): Reply {
    return { status, body: { error: { message, type: 'invalid_request_error', param: null, code: null } } };
  },
};

export const OPENAI_MODELS = [
  'gpt-4o',
  'gpt-4o-mini',
  'o3-mini',
  'gpt-5',
  'text-embedding-3-small',
  'whisper-1',
  'tts-1',
  'dall-e-3',
  'gpt-image-1',
  'omni-moderation-latest',
  'gpt-4o-realtime-preview',
  'gpt-4o-mini-transcribe',
  'davinci-002',
  'gpt-3.5-turbo-instruct',
  'o3-pro',
];

export function fakeOpenAi(apiKey: string, models: string[] = [...OPENAI_MODELS]) {
  const server = new FakeServer(
    (h) => h.authorization === `Bearer ${apiKey}`,
    openAiWire.error(401, 'Incorrect API key provided.'),
    (r) => {
      if (r.method === 'POST' && r.path === '/v1/chat/completions') {
        return { status: 200, body: openAiWire.completion({ content: 'Hello from OpenAI.' }) };
      }
      if (r.method === 'GET' && r.path === '/v1/models') {
        return {
          status: 200,
          body: {
            object: 'list',
            data: models.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'openai' })),
          },
        };
      }
      return openAiWire.error(404, `Unknown path ${r.path}`);
    },
  );
  return Object.assign(server, { models });
}

// Anthropic: POST /v1/messages, GET /v1/models (cursor pages). Errors: {"type":"error","error":{...}}.

export const anthropicWire = {
  message(content: object[], extra: { stop_reason?: string; usage?: object; model?: string } = {}) {
    return {
      id: 'msg_fake_1',
      type: 'message',
      role: 'assistant',
      model: extra.model ?? 'claude-sonnet-4-6',
      content,
      stop_reason: extra.stop_reason ?? 'end_turn',
      stop_sequence: null,
      usage: extra.usage ?? {
        input_tokens: 21,
        output_tokens: 9,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      },
    };
  },
  error(status: number, message: string): Reply {
    const type = status === 401 ? 'authentication_error' : status === 429 ? 'rate_limit_error' : 'api_error';
    return { status, body: { type: 'error', error: { type, message } } };
  },
};

export interface AnthropicModel {
  id: string;
  display_name: string;
  thinking?: boolean;
  vision?: boolean;
  max_tokens?: number;
  lifecycle?: 'active' | 'deprecated' | 'retired';
}

export const ANTHROPIC_MODELS: AnthropicModel[] = [
  { id: 'claude-sonnet-4-5-20250929', display_name: 'Claude Sonnet 4.5', thinking: true, max_tokens: 64000 },
  { id: 'claude-haiku-4-5-20251001', display_name: 'Claude Haiku 4.5', thinking: true, max_tokens: 64000 },
  { id: 'claude-3-haiku-20240307', display_name: 'Claude Haiku 3', thinking: false, max_tokens: 4096 },
  { id: 'claude-2.1', display_name: 'Claude 2.1', thinking: false, lifecycle: 'retired' },
];

/** Pages of 2, whatever `limit` the client asks for, so listing has to follow `after_id`. */
const FAKE_PAGE = 2;

export function fakeAnthropic(apiKey: string, models: AnthropicModel[] = [...ANTHROPIC_MODELS]) {
  const server = new FakeServer(
    // The Messages API takes the key as x-api-key or, as this SDK version sends it, a Bearer token.
    (h) => h['x-api-key'] === apiKey || h.authorization === `Bearer ${apiKey}`,
    anthropicWire.error(401, 'invalid x-api-key'),
    (r) => {
      if (r.method === 'POST' && r.path === '/v1/messages') {
        return { status: 200, body: anthropicWire.message([{ type: 'text', text: 'Hello from Claude.' }]) };
      }
      if (r.method === 'GET' && r.path === '/v1/models') {
        const after = r.query.get('after_id');
        const offset = after ? models.findIndex((m) => m.id === after) + 1 : 0;
        const { items, more } = page(models, offset, FAKE_PAGE);
        return {
          status: 200,
          body: {
            data: items.map((m) => ({
              type: 'model',
              id: m.id,
              display_name: m.display_name,
              created_at: '2025-09-29T00:00:00Z',
              lifecycle: m.lifecycle ?? 'active',
              max_tokens: m.max_tokens ?? null,
              capabilities: {
                thinking: { supported: m.thinking ?? false, types: {} },
                image_input: { supported: m.vision ?? true },
              },
            })),
            has_more: more,
            first_id: items[0]?.id ?? null,
            last_id: items.at(-1)?.id ?? null,
          },
        };
      }
      return anthropicWire.error(404, `Unknown path ${r.path}`);
    },
  );
  return Object.assign(server, { models });
}

// Gemini: POST /v1beta/models/{model}:generateContent, GET /v1beta/models (pageToken pages).
// Errors: {"error": {"code", "message", "status"}}.

export const geminiWire = {
  response(
    parts: object[],
    extra: { finishReason?: string; usageMetadata?: object; modelVersion?: string } = {},
  ) {
    return {
      candidates: [
        {
          content: { role: 'model', parts },
          finishReason: extra.finishReason ?? 'STOP',
          index: 0,
        },
      ],
      usageMetadata: extra.usageMetadata ?? {
        promptTokenCount: 14,
        candidatesTokenCount: 6,
        totalTokenCount: 20,
      },
      modelVersion: extra.modelVersion ?? 'gemini-2.5-flash',
      responseId: 'gemini-response-1',
    };
  },
  error(status: number, message: string): Reply {
    const names: Record<number, string> = {
      400: 'INVALID_ARGUMENT',
      401: 'UNAUTHENTICATED',
      429: 'RESOURCE_EXHAUSTED',
      500: 'INTERNAL',
    };
    return { status, body: { error: { code: status, message, status: names[status] ?? 'UNKNOWN' } } };
  },
};

export interface GeminiModel {
  name: string;
  displayName: string;
  methods: string[];
  thinking?: boolean;
  outputTokenLimit?: number;
}

export const GEMINI_MODELS: GeminiModel[] = [
  {
    name: 'gemini-2.5-flash',
    displayName: 'Gemini 2.5 Flash',
    methods: ['generateContent', 'countTokens'],
    thinking: true,
    outputTokenLimit: 65536,
  },
  {
    name: 'gemini-2.5-pro',
    displayName: 'Gemini 2.5 Pro',
    methods: ['generateContent', 'countTokens'],
    thinking: true,
    outputTokenLimit: 65536,
  },
  { name: 'text-embedding-004', displayName: 'Text Embedding 004', methods: ['embedContent'] },
  { name: 'gemini-embedding-001', displayName: 'Gemini Embedding 001', methods: ['embedContent'] },
  { name: 'imagen-4.0-generate-001', displayName: 'Imagen 4', methods: ['predict'] },
  {
    name: 'gemini-2.5-flash-preview-tts',
    displayName: 'Gemini 2.5 Flash TTS',
    methods: ['generateContent'],
  },
  {
    name: 'gemma-3-27b-it',
    displayName: 'Gemma 3 27B',
    methods: ['generateContent', 'countTokens'],
    outputTokenLimit: 8192,
  },
];

export function fakeGemini(apiKey: string, models: GeminiModel[] = [...GEMINI_MODELS]) {
  const server = new FakeServer(
    (h) => h['x-goog-api-key'] === apiKey,
    geminiWire.error(401, 'API key not valid. Please pass a valid API key.'),
    (r) => {
      if (r.method === 'POST' && /^\/v1beta\/models\/[^/]+:generateContent$/.test(r.path)) {
        return { status: 200, body: geminiWire.response([{ text: 'Hello from Gemini.' }]) };
      }
      if (r.method === 'GET' && r.path === '/v1beta/models') {
        const offset = Number(r.query.get('pageToken') ?? 0);
        const { items, more } = page(models, offset, FAKE_PAGE);
        return {
          status: 200,
          body: {
            models: items.map((m) => ({
              name: `models/${m.name}`,
              displayName: m.displayName,
              version: '001',
              inputTokenLimit: 1_048_576,
              outputTokenLimit: m.outputTokenLimit,
              supportedGenerationMethods: m.methods,
              thinking: m.thinking,
            })),
            ...(more ? { nextPageToken: String(offset + FAKE_PAGE) } : {}),
          },
        };
      }
      return geminiWire.error(400, `Unknown path ${r.path}`);
    },
  );
  return Object.assign(server, { models });
}

export type FakeProviders = Awaited<ReturnType<typeof startFakeProviders>>;

/** The three fakes, started, with the environment that points the server at them. */
export async function startFakeProviders() {
  const keys = {
    openai: `sk-test-${randomBytes(12).toString('hex')}`,
    anthropic: `sk-ant-test-${randomBytes(12).toString('hex')}`,
    gemini: `AIza-test-${randomBytes(12).toString('hex')}`,
  };
  const openai = await fakeOpenAi(keys.openai).start();
  const anthropic = await fakeAnthropic(keys.anthropic).start();
  const gemini = await fakeGemini(keys.gemini).start();
  return {
    openai,
    anthropic,
    gemini,
    keys,
    env: {
      OPENAI_API_KEY: keys.openai,
      OPENAI_BASE_URL: `${openai.url}/v1`,
      ANTHROPIC_API_KEY: keys.anthropic,
      ANTHROPIC_BASE_URL: anthropic.url,
      GEMINI_API_KEY: keys.gemini,
      GEMINI_BASE_URL: gemini.url,
    },
    close: () => Promise.all([openai.close(), anthropic.close(), gemini.close()]),
  };
}

const PLAYGROUND_VARIABLES = [
  'OPENAI_API_KEY',
  'OPENAI_BASE_URL',
  'ANTHROPIC_API_KEY',
  'ANTHROPIC_BASE_URL',
  'GEMINI_API_KEY',
  'GEMINI_BASE_URL',
  'JUNJO_LLM_TIMEOUT_MS',
  'JUNJO_PLAYGROUND_OTLP_URL',
  'JUNJO_PLAYGROUND_API_KEY',
];

/**
 * useTempDataDir with `env`, and every other playground variable removed for the file (so a key in the
 * developer's shell cannot leak into a test), restored afterwards.
 */
export function usePlaygroundEnv(env: Record<string, string>): void {
  useTempDataDir(env);
  const saved: Record<string, string | undefined> = {};
  beforeAll(() => {
    for (const name of PLAYGROUND_VARIABLES) {
      if (name in env) continue;
      saved[name] = process.env[name];
      delete process.env[name];
    }
  });
  afterAll(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value !== undefined) process.env[name] = value;
    }
  });
}

// OTLP/HTTP receiver: records POST /v1/traces and decodes the protobuf ExportTraceServiceRequest.

export interface ExportRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface DecodedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
  status: { code: number; message: string };
}

export async function startOtlpReceiver() {
  const exports: ExportRequest[] = [];
  const state = { mode: 'ok' as 'ok' | 'hang' | 'error' };
  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      exports.push({ path: req.url ?? '', headers: req.headers, body });
      if (state.mode === 'hang') return;
      res.writeHead(state.mode === 'error' ? 500 : 200, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  return {
    url,
    exports,
    state,
    spans: (): DecodedSpan[] => exports.flatMap((e) => decodeTraces(e.body)),
    /** Polls until `predicate` holds over the decoded spans; fails after `timeoutMs`. */
    async waitFor(predicate: (spans: DecodedSpan[]) => boolean, timeoutMs = 5000): Promise<DecodedSpan[]> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const spans = exports.flatMap((e) => decodeTraces(e.body));
        if (predicate(spans)) return spans;
        if (Date.now() > deadline) throw new Error(`spans never matched; got ${JSON.stringify(spans)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Field {
  no: number;
  value: bigint | Buffer;
}

/** Protobuf wire format: field number + varint / fixed64 / length-delimited / fixed32 values. */
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = buf[pos++];
      if (byte === undefined) throw new Error('truncated varint');
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  const take = (n: number): Buffer => {
    const slice = buf.subarray(pos, pos + n);
    pos += n;
    return slice;
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const no = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ no, value: varint() });
    else if (wire === 1) out.push({ no, value: take(8) });
    else if (wire === 2) out.push({ no, value: take(Number(varint())) });
    else if (wire === 5) out.push({ no, value: take(4) });
    else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

const bytesOf = (f: Field[], no: number): Buffer[] =>
  f.filter((x) => x.no === no && Buffer.isBuffer(x.value)).map((x) => x.value as Buffer);
const firstBytes = (f: Field[], no: number): Buffer => bytesOf(f, no)[0] ?? Buffer.alloc(0);
const firstVarint = (f: Field[], no: number): bigint => {
  const v = f.find((x) => x.no === no)?.value;
  return typeof v === 'bigint' ? v : 0n;
};

/** opentelemetry.proto.common.v1.AnyValue */
function anyValue(buf: Buffer): unknown {
  const [f] = fields(buf);
  if (!f) return null;
  switch (f.no) {
    case 1:
      return (f.value as Buffer).toString('utf8');
    case 2:
      return f.value === 1n;
    case 3:
      return Number(BigInt.asIntN(64, f.value as bigint));
    case 4:
      return (f.value as Buffer).readDoubleLE(0);
    case 5:
      return bytesOf(fields(f.value as Buffer), 1).map(anyValue);
    case 6:
      return keyValues(bytesOf(fields(f.value as Buffer), 1));
    case 7:
      return (f.value as Buffer).toString('hex');
    default:
      return null;
  }
}

/** repeated opentelemetry.proto.common.v1.KeyValue */
function keyValues(items: Buffer[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of items) {
    const f = fields(item);
    out[firstBytes(f, 1).toString('utf8')] = anyValue(firstBytes(f, 2));
  }
  return out;
}

/** ExportTraceServiceRequest → its spans, each with its resource's attributes. */
export function decodeTraces(body: Buffer): DecodedSpan[] {
  const spans: DecodedSpan[] = [];
  for (const resourceSpans of bytesOf(fields(body), 1)) {
    const rs = fields(resourceSpans);
    const resource = keyValues(bytesOf(fields(firstBytes(rs, 1)), 1));
    for (const scopeSpans of bytesOf(rs, 2)) {
      for (const spanBytes of bytesOf(fields(scopeSpans), 2)) {
        const s = fields(spanBytes);
        const status = fields(firstBytes(s, 15));
        spans.push({
          traceId: firstBytes(s, 1).toString('hex'),
          spanId: firstBytes(s, 2).toString('hex'),
          parentSpanId: firstBytes(s, 4).toString('hex'),
          name: firstBytes(s, 5).toString('utf8'),
          kind: Number(firstVarint(s, 6)),
          attributes: keyValues(bytesOf(s, 9)),
          resource,
          status: { code: Number(firstVarint(status, 3)), message: firstBytes(status, 2).toString('utf8') },
        });
      }
    }
  }
  return spans;
}
