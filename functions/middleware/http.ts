import { randomUUID } from 'node:crypto';
import * as Config from '@junjo/core/config';
import { type ErrorKind, forbidden, isAppError } from '@junjo/core/errors';
import { logger } from '@junjo/core/logger';
import * as Session from '@junjo/core/session';
import middy, { type MiddlewareObj, type Request } from '@middy/core';
import httpCors from '@middy/http-cors';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { route as findRoute, type Route, type RouteKey, type routes } from '../routes.ts';
import { readSessionCookie } from './cookies.ts';
import { type HttpResult, json } from './response.ts';
import { isValidationFailure, toDetails, ValidationFailure } from './validation.ts';

type Event = APIGatewayProxyEventV2;
type Result = APIGatewayProxyStructuredResultV2;
type HttpRequest = Request<Event, Result>;

/** Status for each core error kind: the one mapping for HTTP (ingest has its own for gRPC). */
const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
  unavailable: 503,
  upstream: 502,
  timeout: 504,
  internal: 500,
};

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** What the stack worked out about a request, kept beside the event rather than on it. */
interface RequestState {
  requestId: string;
  auth?: Session.Authenticated;
  body?: unknown;
  path?: unknown;
  query?: unknown;
}
const state = new WeakMap<Event, RequestState>();

function stateOf(event: Event): RequestState {
  let s = state.get(event);
  if (!s) {
    s = { requestId: event.requestContext?.requestId || randomUUID() };
    state.set(event, s);
  }
  return s;
}

function withHeader(request: HttpRequest, name: string, value: string): void {
  if (!request.response) return;
  request.response.headers = { ...request.response.headers, [name]: value };
}

/**
 * Request id from `x-request-id` (when sane) or API Gateway's; echoed back and put on every log line with
 * the Lambda context. (Powertools' injectLambdaContext is not used: it resets the log level per call.)
 */
const requestContext = (): MiddlewareObj<Event, Result> => {
  const finish = (request: HttpRequest) => {
    withHeader(request, 'x-request-id', stateOf(request.event).requestId);
    logger.resetKeys();
  };
  return {
    before: (request) => {
      const incoming = request.event.headers?.['x-request-id'];
      const s = stateOf(request.event);
      if (incoming && REQUEST_ID.test(incoming)) s.requestId = incoming;
      logger.addContext(request.context);
      logger.appendKeys({ request_id: s.requestId, route: request.event.routeKey });
    },
    after: finish,
    onError: finish,
  };
};

/**
 * @middy/http-cors, built on first use so the allowed origins come from the loaded config rather than
 * from import time. It also answers preflight OPTIONS itself.
 */
const cors = (): MiddlewareObj<Event, Result> => {
  let inner: MiddlewareObj<Event, Result> | undefined;
  const get = () => {
    inner ??= httpCors({
      origins: Config.get().allowOrigins,
      credentials: true,
      methods: 'GET,POST,DELETE,OPTIONS',
      headers: 'content-type,x-request-id',
      exposeHeaders: 'x-request-id',
      maxAge: 600,
      disableBeforePreflightResponse: false,
    }) as MiddlewareObj<Event, Result>;
    return inner;
  };
  return {
    before: (request) => get().before?.(request),
    after: (request) => get().after?.(request),
    onError: (request) => get().onError?.(request),
  };
};

/** Maps every error to one response: core kinds by STATUS, validation to 422, anything else to a bare 500. */
const errorMapper = (): MiddlewareObj<Event, Result> => ({
  onError: (request) => {
    const error = request.error;
    if (isValidationFailure(error)) {
      request.response = json(422, { detail: error.detail });
      return;
    }
    if (isAppError(error)) {
      const retry = error.details.retryAfterSeconds;
      request.response = json(
        STATUS[error.kind],
        { detail: error.message },
        {
          headers: retry ? { 'retry-after': String(retry) } : {},
        },
      );
      if (STATUS[error.kind] >= 500) logger.warn('request failed', { code: error.code, error });
      return;
    }
    logger.error('unhandled error', { error: error as Error });
    request.response = json(500, { detail: 'Internal Server Error' });
  },
});

/** CSRF guard: unsafe methods from a browser origin outside JUNJO_ALLOW_ORIGINS are refused. */
const originCheck = (): MiddlewareObj<Event, Result> => ({
  before: (request) => {
    const method = request.event.requestContext.http.method.toUpperCase();
    const origin = request.event.headers?.origin;
    if (!origin || !UNSAFE_METHODS.has(method)) return;
    const allowed = Config.get().allowOrigins;
    if (!allowed.includes('*') && !allowed.includes(origin.replace(/\/+$/, ''))) {
      throw forbidden('origin_not_allowed', 'Origin not allowed');
    }
  },
});

/** Session routes check the cookie's server-side row before anything looks at the body. */
const sessionAuth = (auth: Route['auth']): MiddlewareObj<Event, Result> => ({
  before: async (request) => {
    if (auth !== 'session') return;
    stateOf(request.event).auth = await Session.authenticate(readSessionCookie(request.event));
  },
});

// `disableContentTypeCheck` exists in the v6 code but not in its typings.
const jsonParser = httpJsonBodyParser({ disableContentTypeCheck: true } as Parameters<
  typeof httpJsonBodyParser
>[0]) as MiddlewareObj<Event, Result>;

/**
 * JSON bodies via @middy/http-json-body-parser, whatever the content type (curl users forget it). The
 * parser answers malformed JSON with 415; the contract says 422 `json_invalid`.
 */
const jsonBody = (enabled: boolean): MiddlewareObj<Event, Result> => ({
  before: async (request) => {
    const { body } = request.event;
    if (!enabled || body === undefined || body === '') return;
    try {
      await jsonParser.before?.(request);
    } catch (error) {
      const reason = (error as { cause?: { message?: string } }).cause?.message ?? 'Invalid JSON';
      const position = /position (\d+)/.exec(reason)?.[1];
      throw new ValidationFailure([
        {
          type: 'json_invalid',
          loc: position === undefined ? ['body'] : ['body', Number(position)],
          msg: 'JSON decode error',
          input: {},
          ctx: { error: reason },
        },
      ]);
    }
  },
});

interface Schemas<B extends z.ZodType, P extends z.ZodType, Q extends z.ZodType> {
  body?: B;
  path?: P;
  query?: Q;
}

/** zod validation of body, path and query; all problems reported together in FastAPI's shape. */
const validation = (schemas: Schemas<z.ZodType, z.ZodType, z.ZodType>): MiddlewareObj<Event, Result> => ({
  before: (request) => {
    const s = stateOf(request.event);
    const details = [];
    const parts = [
      ['body', schemas.body, request.event.body],
      ['path', schemas.path, request.event.pathParameters ?? {}],
      ['query', schemas.query, request.event.queryStringParameters ?? {}],
    ] as const;
    for (const [location, schema, value] of parts) {
      if (!schema) continue;
      const parsed = schema.safeParse(value, { reportInput: true });
      if (parsed.success) s[location] = parsed.data;
      else details.push(...toDetails(location, parsed.error.issues));
    }
    if (details.length > 0) throw new ValidationFailure(details);
  },
});

type Routes = (typeof routes)[number];
type RouteOf<K extends RouteKey> = K extends `${infer M} ${infer P}`
  ? Extract<Routes, { method: M; path: P }>
  : never;
type Infer<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface HandlerInput<K extends RouteKey, B, P, Q> {
  body: Infer<B>;
  path: Infer<P>;
  query: Infer<Q>;
  /** The signed-in user and session; present exactly on `auth: 'session'` routes. */
  auth: RouteOf<K>['auth'] extends 'session' ? Session.Authenticated : undefined;
  event: Event;
  context: Context;
  requestId: string;
}

/**
 * The one middy stack, used by every endpoint: request id + logger context → CORS → error mapping →
 * Origin check → session auth (401 before any body validation) → JSON body → zod validation → handler.
 * The route's auth comes from functions/routes.ts, so the table is the only place it is declared.
 */
export function http<
  K extends RouteKey,
  B extends z.ZodType = never,
  P extends z.ZodType = never,
  Q extends z.ZodType = never,
>(key: K, schemas: Schemas<B, P, Q>, fn: (input: HandlerInput<K, B, P, Q>) => Promise<HttpResult>) {
  const entry = findRoute(key);
  return middy<Event, Result>()
    .use(requestContext())
    .use(cors())
    .use(errorMapper())
    .use(originCheck())
    .use(sessionAuth(entry.auth))
    .use(jsonBody(schemas.body !== undefined))
    .use(validation(schemas))
    .handler(async (event, context) => {
      const s = stateOf(event);
      return fn({
        body: s.body,
        path: s.path,
        query: s.query,
        auth: s.auth,
        event,
        context,
        requestId: s.requestId,
      } as HandlerInput<K, B, P, Q>);
    });
}
