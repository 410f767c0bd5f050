/**
 * The self-host HTTP adapter: one node:http server that mounts every entry of `functions/routes.ts` and turns
 * each request into the API Gateway HTTP API (payload 2.0) event its Lambda would receive on AWS, then turns
 * the handler's result back into an HTTP response the way API Gateway does. Self-host and cloud run the very
 * same handler code, so this file is where their behaviour could drift; keep it faithful rather than clever.
 */
import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
  STATUS_CODES,
  validateHeaderName,
  validateHeaderValue,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { logger } from '@junjo/core/logger';
import type { Route } from '@junjo/functions/routes';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';

/** A Lambda handler as the functions/ files export it. */
export type Handler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** What {@link createApp} needs. */
export interface AppOptions {
  routes: readonly Route[];
  /** Resolves a route's `handler` module path to its exported handler (see {@link defaultLoadHandler}). */
  loadHandler: (modulePath: string) => Promise<Handler>;
  /** Larger request bodies are refused with 413 (API Gateway has its own, fixed limit). */
  maxBodyBytes: number;
}

/** A listening server from {@link listen}. */
export interface RunningServer {
  server: Server;
  /** Where a client on this machine reaches it, e.g. `http://127.0.0.1:1323`. */
  url: string;
  /** Stops accepting, drops idle keep-alive connections and resolves once in-flight requests are answered. */
  close(): Promise<void>;
}

/** A node:http request listener, as {@link createApp} returns. */
export type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** Lambda's default timeout as SST deploys it; handlers only read it through getRemainingTimeInMillis. */
const LAMBDA_TIMEOUT_MS = 30_000;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

interface CompiledRoute {
  route: Route;
  /** One entry per path segment: the literal text, or `{ param }` for `{name}`. */
  segments: Array<string | { param: string }>;
}

/**
 * Orders routes so the first match is the most specific one: at the first segment where two patterns differ,
 * a literal beats a parameter (API Gateway's rule). Only patterns of equal length can match the same path,
 * so comparing position by position is enough; the sort is stable, so the table order breaks ties.
 */
function compile(routes: readonly Route[]): CompiledRoute[] {
  const compiled = routes.map((route) => ({
    route,
    segments: route.path
      .slice(1)
      .split('/')
      .map((s) => (/^\{[^{}/]+\}$/.test(s) ? { param: s.slice(1, -1) } : s)),
  }));
  const rank = (c: CompiledRoute) => c.segments.map((s) => (typeof s === 'string' ? 0 : 1));
  return compiled.sort((a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    if (ra.length !== rb.length) return ra.length - rb.length;
    const i = ra.findIndex((v, k) => v !== rb[k]);
    return i === -1 ? 0 : ra[i]! - rb[i]!;
  });
}

/** The raw (still percent-encoded) parameter values when `segments` fits the pattern, else undefined. */
function match(compiled: CompiledRoute, segments: string[]): Record<string, string> | undefined {
  if (compiled.segments.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, pattern] of compiled.segments.entries()) {
    const actual = segments[i]!;
    if (typeof pattern === 'string') {
      if (pattern !== actual) return undefined;
    } else {
      if (actual === '') return undefined;
      params[pattern.param] = actual;
    }
  }
  return params;
}

/**
 * The request listener: routes, builds the payload 2.0 event and fake Context, calls the handler and writes
 * its result. Never throws and never leaves a request unanswered (unless the client is already gone).
 */
export function createApp(options: AppOptions): Listener {
  const compiled = compile(options.routes);
  return (req, res) => {
    // Errors on either stream (client gone) are not ours to crash on; the response just goes nowhere.
    req.on('error', () => {});
    res.on('error', () => {});
    handle(req, res, compiled, options).catch((error: unknown) => {
      logger.error('Unexpected error in the HTTP adapter', { error: asError(error) });
      if (!res.headersSent) sendJson(res, 500, 'Internal Server Error');
      else res.destroy();
    });
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  compiled: CompiledRoute[],
  options: AppOptions,
): Promise<void> {
  const url = req.url ?? '';
  const queryAt = url.indexOf('?');
  const rawPath = queryAt === -1 ? url : url.slice(0, queryAt);
  const rawQueryString = queryAt === -1 ? '' : url.slice(queryAt + 1);
  const method = req.method ?? 'GET';
  // Origin-form only: `*` (OPTIONS *) and absolute-form targets name no route of ours.
  const segments = rawPath.startsWith('/') ? rawPath.slice(1).split('/') : undefined;

  const candidates = segments
    ? compiled.flatMap((c) => {
        const params = match(c, segments);
        return params ? [{ route: c.route, params }] : [];
      })
    : [];
  if (candidates.length === 0) return sendJson(res, 404, 'Not Found');
  // Preflight goes to the path's own handler: its CORS middleware answers it, as it would behind API Gateway.
  const found = method === 'OPTIONS' ? candidates[0] : candidates.find((c) => c.route.method === method);
  if (!found) {
    const allow = [...new Set([...candidates.map((c) => c.route.method), 'OPTIONS'])].join(', ');
    return sendJson(res, 405, 'Method Not Allowed', { allow });
  }

  let pathParameters: Record<string, string> | undefined;
  try {
    for (const [name, raw] of Object.entries(found.params)) {
      pathParameters ??= {};
      pathParameters[name] = decodeURIComponent(raw);
    }
  } catch {
    return sendJson(res, 400, 'Malformed path');
  }

  const declared = Number(req.headers['content-length']);
  if (declared > options.maxBodyBytes) return refuseBody(req, res);
  const body = await readBody(req, options.maxBodyBytes);
  if (body === 'aborted') return;
  if (body === 'too-large') return refuseBody(req, res);

  const now = new Date();
  const requestId = randomUUID();
  const routeKey = `${method} ${found.route.path}`;
  const event = buildEvent(req, { rawPath, rawQueryString, routeKey, requestId, now, pathParameters, body });
  const context = fakeContext(found.route.handler, requestId, now.getTime());

  let result: unknown;
  try {
    const handler = await options.loadHandler(found.route.handler);
    result = await handler(event, context);
  } catch (error) {
    logger.error('Handler failed', { requestId, routeKey, error: asError(error) });
    return sendJson(res, 500, 'Internal Server Error', { 'x-request-id': requestId });
  }
  const response = toResponse(result);
  if (!response) {
    logger.error('Handler returned a malformed result', { requestId, routeKey, resultType: typeof result });
    return sendJson(res, 500, 'Internal Server Error', { 'x-request-id': requestId });
  }
  res.writeHead(response.status, response.headers);
  res.end(response.body);
}

/** Buffers the body up to `limit` bytes; past it, stops buffering and discards the rest as it arrives. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large' | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        chunks.length = 0;
        resolve('too-large');
        // Keep draining (not buffering) so the kernel does not reset the connection under the 413.
        req.resume();
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    // 'close' before 'end' means the client went away mid-body; the first resolve wins.
    req.on('close', () => resolve('aborted'));
  });
}

/**
 * 413, then close the connection: whatever the client still sends is of no use. Node destroys the socket as
 * soon as the response is flushed, and a socket closed with unread upload bytes makes the kernel send a RST
 * that can overtake the 413 on the client; so half-close instead, keep discarding what arrives, and destroy
 * only when the client stops sending or after a grace period.
 */
function refuseBody(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  socket.destroySoon = () => {
    socket.end();
    const timer = setTimeout(() => socket.destroy(), 2_000);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  };
  req.resume();
  sendJson(res, 413, 'Request body too large', { connection: 'close' });
}

function sendJson(
  res: ServerResponse,
  status: number,
  detail: string,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify({ detail });
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

interface EventParts {
  rawPath: string;
  rawQueryString: string;
  routeKey: string;
  requestId: string;
  now: Date;
  pathParameters: Record<string, string> | undefined;
  body: Buffer;
}

/** The event API Gateway HTTP API sends with payload format 2.0; optional keys are absent, not undefined. */
function buildEvent(req: IncomingMessage, p: EventParts): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (!values) continue;
    if (name === 'cookie') cookies = values.flatMap((v) => v.split('; ')).filter(Boolean);
    else headers[name] = values.join(',');
  }
  const sourceIp = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  // API Gateway appends the caller's address and says how it was reached; handlers may rely on these.
  headers['x-forwarded-for'] = headers['x-forwarded-for']
    ? `${headers['x-forwarded-for']}, ${sourceIp}`
    : sourceIp;
  headers['x-forwarded-proto'] = 'http';
  headers['x-forwarded-port'] = String(req.socket.localPort ?? '');

  let queryStringParameters: Record<string, string> | undefined;
  for (const [key, value] of new URLSearchParams(p.rawQueryString)) {
    queryStringParameters ??= {};
    queryStringParameters[key] =
      key in queryStringParameters ? `${queryStringParameters[key]},${value}` : value;
  }

  const domainName = headers.host ?? 'localhost';
  const method = req.method ?? 'GET';
  const text = isTextual(headers['content-type']);
  return {
    version: '2.0',
    routeKey: p.routeKey,
    rawPath: p.rawPath,
    rawQueryString: p.rawQueryString,
    ...(cookies?.length ? { cookies } : {}),
    headers,
    ...(queryStringParameters ? { queryStringParameters } : {}),
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName,
      domainPrefix: domainName.replace(/:\d+$/, '').split('.')[0]!,
      http: {
        method,
        path: p.rawPath,
        protocol: 'HTTP/1.1',
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: p.requestId,
      routeKey: p.routeKey,
      stage: '$default',
      time: apiGatewayTime(p.now),
      timeEpoch: p.now.getTime(),
    },
    ...(p.pathParameters ? { pathParameters: p.pathParameters } : {}),
    ...(p.body.length > 0 ? { body: p.body.toString(text ? 'utf8' : 'base64') } : {}),
    isBase64Encoded: p.body.length > 0 && !text,
  };
}

/** Content types whose bodies API Gateway passes as text; everything else arrives base64-encoded. */
function isTextual(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return (
    type.startsWith('text/') ||
    type === 'application/json' ||
    type === 'application/xml' ||
    type === 'application/x-www-form-urlencoded' ||
    type.endsWith('+json') ||
    type.endsWith('+xml')
  );
}

/** `28/Nov/2025:18:39:05 +0000`, the format of requestContext.time. */
function apiGatewayTime(d: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`
  );
}

function fakeContext(modulePath: string, requestId: string, startedAt: number): Context {
  const functionName = `junjo-${modulePath.replaceAll('/', '-')}`;
  const unsupported = () => {
    throw new Error('The callback-style Context methods are not supported; return a promise');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, startedAt + LAMBDA_TIMEOUT_MS - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

interface HttpResponse {
  status: number;
  headers: OutgoingHttpHeaders;
  body: Buffer;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isHeaderValue = (v: unknown) =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/**
 * API Gateway's reading of a payload 2.0 result: an object with `statusCode` is a structured response; any
 * other string or JSON object/array is itself the body (200, application/json). Undefined when API Gateway
 * would answer 500 (malformed structured response, or nothing usable at all).
 */
function toResponse(result: unknown): HttpResponse | undefined {
  const json = (body: string): HttpResponse => ({
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(body),
  });
  if (typeof result === 'string') return json(result);
  if (typeof result !== 'object' || result === null) return undefined;
  if (!('statusCode' in result)) return json(JSON.stringify(result));

  const r = result as Record<string, unknown>;
  const {
    statusCode,
    headers = {},
    multiValueHeaders = {},
    cookies = [],
    body = '',
    isBase64Encoded = false,
  } = r;
  if (
    typeof statusCode !== 'number' ||
    !Number.isInteger(statusCode) ||
    statusCode < 100 ||
    statusCode > 599
  ) {
    return undefined;
  }
  if (!isRecord(headers) || !Object.values(headers).every(isHeaderValue)) return undefined;
  if (!isRecord(multiValueHeaders)) return undefined;
  if (!Array.isArray(cookies) || !cookies.every((c) => typeof c === 'string')) return undefined;
  if (typeof body !== 'string' || typeof isBase64Encoded !== 'boolean') return undefined;

  const merged = new Map<string, string[]>();
  const add = (name: string, value: unknown) => {
    const key = name.toLowerCase();
    merged.set(key, [...(merged.get(key) ?? []), String(value)]);
  };
  for (const [name, value] of Object.entries(headers)) add(name, value);
  for (const [name, values] of Object.entries(multiValueHeaders)) {
    if (!Array.isArray(values) || !values.every(isHeaderValue)) return undefined;
    for (const value of values) add(name, value);
  }
  for (const cookie of cookies) add('set-cookie', cookie);
  // Node frames the body itself; a handler's own length or encoding header could only contradict it.
  merged.delete('content-length');
  merged.delete('transfer-encoding');
  try {
    for (const [name, values] of merged) {
      validateHeaderName(name);
      for (const value of values) validateHeaderValue(name, value);
    }
  } catch {
    return undefined;
  }
  return {
    status: statusCode,
    headers: Object.fromEntries(
      [...merged].map(([name, values]) => [name, values.length === 1 ? values[0]! : values]),
    ),
    body: Buffer.from(body, isBase64Encoded ? 'base64' : 'utf8'),
  };
}

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

const handlerCache = new Map<string, Promise<Handler>>();

/**
 * Imports `@junjo/functions/<modulePath>` and returns its `handler` export, once per path. A failed import is
 * forgotten so that the next request tries again (e.g. after fixing a file under `tsx watch`).
 */
export function defaultLoadHandler(modulePath: string): Promise<Handler> {
  let loading = handlerCache.get(modulePath);
  if (!loading) {
    loading = import(`@junjo/functions/${modulePath}`).then((module: { handler?: unknown }) => {
      if (typeof module.handler !== 'function') {
        throw new Error(`functions/${modulePath}.ts does not export a handler function`);
      }
      return module.handler as Handler;
    });
    loading.catch(() => handlerCache.delete(modulePath));
    handlerCache.set(modulePath, loading);
  }
  return loading;
}

/**
 * Starts an HTTP server for `listener` (port 0 picks a free port). Malformed requests get a JSON 4xx and
 * their connection closed instead of reaching the listener; nothing a client sends can crash the process.
 */
export function listen(listener: Listener, options: { port: number; host: string }): Promise<RunningServer> {
  const server = createServer(listener);
  // Sockets whose request is being answered: a client error there must not write a second response.
  const busy = new WeakSet<Duplex>();
  let closing: Promise<void> | undefined;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    busy.add(socket);
    res.once('close', () => {
      busy.delete(socket);
      // A keep-alive connection that was in flight during close() would otherwise idle for keepAliveTimeout.
      if (closing) setImmediate(() => server.closeIdleConnections());
    });
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (busy.has(socket) || !socket.writable || error.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const status =
      error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = JSON.stringify({ detail: STATUS_CODES[status] });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      () => socket.destroy(),
    );
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      server.on('error', (error) => logger.error('HTTP server error', { error }));
      const { address, port } = server.address() as AddressInfo;
      const host =
        address === '0.0.0.0'
          ? '127.0.0.1'
          : address === '::'
            ? '[::1]'
            : address.includes(':')
              ? `[${address}]`
              : address;
      const close = () => {
        closing ??= new Promise<void>((done, fail) => {
          server.close((error) => (error ? fail(error) : done()));
          server.closeIdleConnections();
        });
        return closing;
      };
      resolve({ server, url: `http://${host}:${port}`, close });
    });
  });
}
