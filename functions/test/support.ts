import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as Db from '@junjo/core/db';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { afterAll, beforeAll } from 'vitest';

/**
 * Points this test file's process at a fresh data dir (libSQL file + generated secret) before any
 * handler loads the config, and removes it afterwards. Vitest isolates modules per file.
 */
export function useTempDataDir(extraEnv: Record<string, string> = {}): { dir: () => string } {
  let dir = '';
  const saved: Record<string, string | undefined> = {};
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'junjo-test-'));
    const env = { JUNJO_DATA_DIR: dir, JUNJO_LOG_LEVEL: 'silent', ...extraEnv };
    for (const key of [
      'JUNJO_LIBSQL_URL',
      'JUNJO_SESSION_SECRET',
      'JUNJO_ENV',
      'JUNJO_ALLOW_ORIGINS',
      ...Object.keys(env),
    ]) {
      saved[key] = process.env[key];
      delete process.env[key];
    }
    Object.assign(process.env, env);
  });
  afterAll(async () => {
    await Db.close();
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir: () => dir };
}

export interface EventInit {
  headers?: Record<string, string>;
  cookies?: string[];
  query?: Record<string, string>;
  pathParameters?: Record<string, string>;
  /** An object is sent as JSON; a string is sent as is. */
  body?: unknown;
  isBase64Encoded?: boolean;
  sourceIp?: string;
}

/** A payload-2.0 API Gateway event as API Gateway builds it, for `"METHOD /path"` and a concrete path. */
export function apiEvent(routeKey: string, rawPath: string, init: EventInit = {}): APIGatewayProxyEventV2 {
  const [method] = routeKey.split(' ') as [string];
  const rawQueryString = new URLSearchParams(init.query ?? {}).toString();
  const now = new Date();
  const body =
    init.body === undefined
      ? undefined
      : typeof init.body === 'string'
        ? init.body
        : JSON.stringify(init.body);
  const headers: Record<string, string> = {
    host: 'api.test',
    'user-agent': 'vitest',
    ...(body !== undefined
      ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }
      : {}),
    ...init.headers,
  };
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString,
    ...(init.cookies ? { cookies: init.cookies } : {}),
    headers,
    ...(init.query ? { queryStringParameters: init.query } : {}),
    ...(init.pathParameters ? { pathParameters: init.pathParameters } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.test',
      domainPrefix: 'api',
      http: {
        method,
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: init.sourceIp ?? '127.0.0.1',
        userAgent: 'vitest',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: init.isBase64Encoded ?? false,
  };
}

/** A Lambda context like the one AWS passes, with a deadline far away. */
export function lambdaContext(functionName = 'junjo-test'): Context {
  const deadline = Date.now() + 30_000;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'test',
    getRemainingTimeInMillis: () => deadline - Date.now(),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export interface Reply {
  status: number;
  headers: Record<string, string>;
  cookies: string[];
  text: string;
  /** The parsed JSON body (undefined when empty or not JSON). */
  // biome-ignore lint/suspicious/noExplicitAny: tests index into arbitrary JSON replies
  body: any;
}

type AnyHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2 | string>;

/** Invokes an exported handler the way Lambda does and normalises the result. */
export async function invoke(handler: AnyHandler, event: APIGatewayProxyEventV2): Promise<Reply> {
  const raw = await handler(event, lambdaContext());
  if (typeof raw === 'string') throw new Error('handlers must return a structured result');
  const text = raw.body ?? '';
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  const headers = Object.fromEntries(
    Object.entries(raw.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]),
  );
  return { status: raw.statusCode ?? 200, headers, cookies: raw.cookies ?? [], text, body };
}

/** `session=<token>` from a Set-Cookie list, as a browser would send it back. */
export function sessionFrom(reply: Reply): string {
  const cookie = reply.cookies.find((c) => c.startsWith('session='));
  if (!cookie) throw new Error(`no session cookie in ${JSON.stringify(reply.cookies)}`);
  return cookie.split(';')[0]!;
}
