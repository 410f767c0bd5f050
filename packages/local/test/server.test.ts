import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { logger } from '@junjo/core/logger';
import type { Route } from '@junjo/functions/routes';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createApp, defaultLoadHandler, type Handler, listen, type RunningServer } from '../src/server.ts';

const MAX_BODY = 64 * 1024;
const PNG_BYTES = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0xfe, 0x80]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Echo {
  event: APIGatewayProxyEventV2;
  context: { functionName: string; awsRequestId: string; remaining: number; invokedFunctionArn: string };
}

const calls: string[] = [];

const echo: Handler = async (event, context: Context) => {
  calls.push(event.routeKey);
  const ctx = {
    functionName: context.functionName,
    awsRequestId: context.awsRequestId,
    remaining: context.getRemainingTimeInMillis(),
    invokedFunctionArn: context.invokedFunctionArn,
  };
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ event, context: ctx }),
  };
};

const handlers: Record<string, Handler> = {
  echo,
  literal: async () => ({ statusCode: 200, body: 'literal route' }),
  binary: async () => ({
    statusCode: 200,
    headers: { 'content-type': 'image/png' },
    body: PNG_BYTES.toString('base64'),
    isBase64Encoded: true,
  }),
  cookies: async () =>
    ({
      statusCode: 201,
      headers: { 'x-count': 3, 'x-flag': true },
      multiValueHeaders: { 'x-multi': ['one', 'two'] },
      cookies: ['a=1; Path=/', 'b=2; HttpOnly; SameSite=Strict'],
    }) as never,
  empty: async () => ({ statusCode: 204 }),
  throws: async () => {
    throw new Error('secret database detail');
  },
  garbage: async () => ({ statusCode: 'nope' }) as never,
  undefined: async () => undefined as never,
  'bad-header': async () => ({ statusCode: 200, headers: { 'x-bad': 'a\r\nInjected: yes' } }),
  string: async () => 'plain string' as never,
  object: async () => ({ message: 'hi' }) as never,
};

const testRoutes: readonly Route[] = [
  { method: 'GET', path: '/echo', handler: 'echo', auth: 'public' },
  { method: 'POST', path: '/echo', handler: 'echo', auth: 'public' },
  { method: 'GET', path: '/users/{id}', handler: 'echo', auth: 'public' },
  { method: 'DELETE', path: '/users/{id}', handler: 'echo', auth: 'public' },
  { method: 'GET', path: '/users/db-has-users', handler: 'literal', auth: 'public' },
  { method: 'GET', path: '/items/{a}/parts/{b}', handler: 'echo', auth: 'public' },
  { method: 'GET', path: '/binary', handler: 'binary', auth: 'public' },
  { method: 'GET', path: '/cookies', handler: 'cookies', auth: 'public' },
  { method: 'GET', path: '/empty', handler: 'empty', auth: 'public' },
  { method: 'GET', path: '/throws', handler: 'throws', auth: 'public' },
  { method: 'GET', path: '/garbage', handler: 'garbage', auth: 'public' },
  { method: 'GET', path: '/undefined', handler: 'undefined', auth: 'public' },
  { method: 'GET', path: '/bad-header', handler: 'bad-header', auth: 'public' },
  { method: 'GET', path: '/string', handler: 'string', auth: 'public' },
  { method: 'GET', path: '/object', handler: 'object', auth: 'public' },
];

const loadHandler = async (path: string) => {
  const handler = handlers[path];
  if (!handler) throw new Error(`no test handler ${path}`);
  return handler;
};

let running: RunningServer;
let base: string;
let port: number;

beforeAll(async () => {
  running = await listen(createApp({ routes: testRoutes, loadHandler, maxBodyBytes: MAX_BODY }), {
    port: 0,
    host: '127.0.0.1',
  });
  base = running.url;
  port = Number(new URL(base).port);
});
afterAll(() => running.close());
beforeEach(() => {
  calls.length = 0;
  vi.restoreAllMocks();
});

async function getEcho(path: string, init?: RequestInit): Promise<Echo> {
  const res = await fetch(base + path, init);
  expect(res.status).toBe(200);
  return (await res.json()) as Echo;
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** node:http client, for what fetch cannot send: repeated headers, chunked bodies we control. */
function rawRequest(
  path: string,
  options: { method?: string; headers?: OutgoingHttpHeaders | string[]; body?: Buffer } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('the event', () => {
  it('is a payload 2.0 event with the request context API Gateway sends', async () => {
    const before = Date.now();
    const { event, context } = await getEcho('/echo', { headers: { 'User-Agent': 'junjo-test/1.0' } });
    expect(event.version).toBe('2.0');
    expect(event.routeKey).toBe('GET /echo');
    expect(event.rawPath).toBe('/echo');
    expect(event.rawQueryString).toBe('');
    expect(event.isBase64Encoded).toBe(false);
    for (const key of ['body', 'cookies', 'queryStringParameters', 'pathParameters', 'stageVariables']) {
      expect(Object.keys(event)).not.toContain(key);
    }
    const rc = event.requestContext;
    expect(rc).toMatchObject({
      accountId: 'local',
      apiId: 'local',
      domainName: `127.0.0.1:${port}`,
      domainPrefix: '127',
      http: {
        method: 'GET',
        path: '/echo',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'junjo-test/1.0',
      },
      routeKey: 'GET /echo',
      stage: '$default',
    });
    expect(rc.requestId).toMatch(UUID);
    expect(rc.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    expect(rc.timeEpoch).toBeGreaterThanOrEqual(before);
    expect(rc.timeEpoch).toBeLessThanOrEqual(Date.now());
    expect(event.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(event.headers['x-forwarded-port']).toBe(String(port));
    expect(context.awsRequestId).toBe(rc.requestId);
    expect(context.functionName).toBe('junjo-echo');
    expect(context.invokedFunctionArn).toMatch(/:function:junjo-echo$/);
    expect(context.remaining).toBeGreaterThan(25_000);
    expect(context.remaining).toBeLessThanOrEqual(30_000);
  });

  it('gives each request its own id', async () => {
    const [a, b] = await Promise.all([getEcho('/echo'), getEcho('/echo')]);
    expect(a.event.requestContext.requestId).not.toBe(b.event.requestContext.requestId);
  });

  it('lower-cases header names, joins repeated headers with commas and splits cookies out', async () => {
    const res = await rawRequest('/echo', {
      // The array form is sent as is: Node adds no Host header of its own.
      headers: [
        'Host',
        `127.0.0.1:${port}`,
        'X-Multi',
        'a',
        'X-MULTI',
        'b',
        'X-Single',
        'Value With Case',
        'Cookie',
        'session=abc; theme=dark',
        'Cookie',
        'lang=en',
        'X-Forwarded-For',
        '10.0.0.1',
      ],
    });
    expect(res.status).toBe(200);
    const { event } = JSON.parse(res.body.toString()) as Echo;
    expect(event.headers['x-multi']).toBe('a,b');
    expect(event.headers['x-single']).toBe('Value With Case');
    expect(event.headers.host).toBe(`127.0.0.1:${port}`);
    expect(Object.keys(event.headers).every((k) => k === k.toLowerCase())).toBe(true);
    expect(event.headers.cookie).toBeUndefined();
    expect(event.cookies).toEqual(['session=abc', 'theme=dark', 'lang=en']);
    // API Gateway appends the caller to a forwarded chain rather than trusting it.
    expect(event.headers['x-forwarded-for']).toBe('10.0.0.1, 127.0.0.1');
  });

  it('keeps the raw query string and decodes the parameters, joining repeated keys', async () => {
    const { event } = await getEcho('/echo?a=1&b=x%20y&c=p+q&a=2&e=%40%2B&flag&d=');
    expect(event.rawPath).toBe('/echo');
    expect(event.rawQueryString).toBe('a=1&b=x%20y&c=p+q&a=2&e=%40%2B&flag&d=');
    expect(event.queryStringParameters).toEqual({ a: '1,2', b: 'x y', c: 'p q', e: '@+', flag: '', d: '' });
  });

  it('decodes path parameters and names the matched route', async () => {
    const one = await getEcho('/users/someone%40example.com');
    expect(one.event.routeKey).toBe('GET /users/{id}');
    expect(one.event.rawPath).toBe('/users/someone%40example.com');
    expect(one.event.pathParameters).toEqual({ id: 'someone@example.com' });

    const two = await getEcho('/items/a%20b/parts/%E2%9C%93?x=1');
    expect(two.event.routeKey).toBe('GET /items/{a}/parts/{b}');
    expect(two.event.pathParameters).toEqual({ a: 'a b', b: '✓' });
    expect(two.event.rawQueryString).toBe('x=1');
  });

  it('passes textual bodies as utf8 text', async () => {
    const json = '{"name":"Zoë ✓"}';
    for (const type of [
      'application/json',
      'application/json; charset=utf-8',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/vnd.api+json',
      'image/svg+xml',
    ]) {
      const { event } = await getEcho('/echo', {
        method: 'POST',
        headers: { 'content-type': type },
        body: json,
      });
      expect(event.isBase64Encoded, type).toBe(false);
      expect(event.body, type).toBe(json);
    }
  });

  it('passes binary bodies base64-encoded, byte for byte', async () => {
    const bytes = randomBytes(40_000);
    const { event } = await getEcho('/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    expect(event.routeKey).toBe('POST /echo');
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body!, 'base64').equals(bytes)).toBe(true);

    // No content type at all is binary too.
    const raw = await rawRequest('/echo', { method: 'POST', body: Buffer.from('hello') });
    const untyped = JSON.parse(raw.body.toString()) as Echo;
    expect(untyped.event.isBase64Encoded).toBe(true);
    expect(untyped.event.body).toBe(Buffer.from('hello').toString('base64'));
  });

  it('accepts a body of exactly the limit', async () => {
    const bytes = randomBytes(MAX_BODY);
    const { event } = await getEcho('/echo', { method: 'POST', body: bytes });
    expect(Buffer.from(event.body!, 'base64').equals(bytes)).toBe(true);
  });
});

describe('routing', () => {
  it('prefers a literal segment over a parameter', async () => {
    const res = await fetch(`${base}/users/db-has-users`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('literal route');
    // For a method only the parameter route has, the parameter route still applies (as on API Gateway).
    const { event } = await getEcho('/users/db-has-users', { method: 'DELETE' });
    expect(event.routeKey).toBe('DELETE /users/{id}');
    expect(event.pathParameters).toEqual({ id: 'db-has-users' });
  });

  it('answers 404 for unknown paths, trailing slashes and empty parameters', async () => {
    for (const path of ['/nope', '/echo/', '/users/', '/users', '/items/a/parts/', '/users/a/b', '//echo']) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(404);
      expect(await res.json(), path).toEqual({ detail: 'Not Found' });
    }
    expect(calls).toEqual([]);
  });

  it('answers 405 with Allow for a known path and another method, HEAD included', async () => {
    const post = await fetch(`${base}/users/42`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, DELETE, OPTIONS');
    expect(await post.json()).toEqual({ detail: 'Method Not Allowed' });

    const head = await fetch(`${base}/echo`, { method: 'HEAD' });
    expect(head.status).toBe(405);
    expect(head.headers.get('allow')).toBe('GET, POST, OPTIONS');
    expect(calls).toEqual([]);
  });

  it('dispatches OPTIONS to the handler of the path', async () => {
    const res = await fetch(`${base}/users/42`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5151', 'access-control-request-method': 'DELETE' },
    });
    expect(res.status).toBe(200);
    const { event } = (await res.json()) as Echo;
    expect(event.requestContext.http.method).toBe('OPTIONS');
    expect(event.routeKey).toBe('OPTIONS /users/{id}');
    expect(event.headers['access-control-request-method']).toBe('DELETE');

    const unknown = await fetch(`${base}/nope`, { method: 'OPTIONS' });
    expect(unknown.status).toBe(404);
  });

  it('answers 400 for a malformed escape in a path parameter', async () => {
    for (const path of ['/users/%E0%A4%A', '/users/%ZZ', '/users/%']) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(400);
      expect(await res.json(), path).toEqual({ detail: 'Malformed path' });
    }
    expect(calls).toEqual([]);
  });
});

describe('the response', () => {
  it('decodes a base64 body', async () => {
    const res = await fetch(`${base}/binary`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await res.arrayBuffer()).equals(PNG_BYTES)).toBe(true);
  });

  it('sends one Set-Cookie per cookie, multi-value headers and stringified values', async () => {
    const res = await fetch(`${base}/cookies`);
    expect(res.status).toBe(201);
    expect(res.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; HttpOnly; SameSite=Strict']);
    expect(res.headers.get('x-count')).toBe('3');
    expect(res.headers.get('x-flag')).toBe('true');
    expect(res.headers.get('x-multi')).toBe('one, two');
    expect(await res.text()).toBe('');
  });

  it('sends an empty 204', async () => {
    const res = await fetch(`${base}/empty`);
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
  });

  it('treats a string or a plain object without statusCode as a JSON body, as API Gateway does', async () => {
    const text = await fetch(`${base}/string`);
    expect(text.status).toBe(200);
    expect(text.headers.get('content-type')).toBe('application/json');
    expect(await text.text()).toBe('plain string');

    const object = await fetch(`${base}/object`);
    expect(object.status).toBe(200);
    expect(object.headers.get('content-type')).toBe('application/json');
    expect(await object.json()).toEqual({ message: 'hi' });
  });

  it('turns a throwing handler into a generic 500 and logs the real error with the request id', async () => {
    const logged = vi.spyOn(logger, 'error').mockImplementation(() => {});
    const res = await fetch(`${base}/throws`);
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ detail: 'Internal Server Error' });
    expect(text).not.toContain('secret');
    const requestId = res.headers.get('x-request-id');
    expect(requestId).toMatch(UUID);
    expect(logged).toHaveBeenCalledTimes(1);
    const [message, attributes] = logged.mock.calls[0] as [string, { requestId: string; error: Error }];
    expect(message).toBe('Handler failed');
    expect(attributes.requestId).toBe(requestId);
    expect(attributes.error.message).toBe('secret database detail');
  });

  it('turns malformed results into a generic 500', async () => {
    const logged = vi.spyOn(logger, 'error').mockImplementation(() => {});
    for (const path of ['/garbage', '/undefined', '/bad-header']) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(500);
      expect(res.headers.get('injected'), path).toBeNull();
      expect(await res.json(), path).toEqual({ detail: 'Internal Server Error' });
    }
    expect(logged).toHaveBeenCalledTimes(3);
  });
});

describe('body limit', () => {
  it('refuses a body whose Content-Length is over the limit without calling the handler', async () => {
    // 8 MiB is far more than socket buffers hold: the client is still uploading when the 413 arrives.
    for (const size of [MAX_BODY + 1, 8 * 1024 * 1024]) {
      const res = await fetch(`${base}/echo`, { method: 'POST', body: randomBytes(size) });
      expect(res.status, String(size)).toBe(413);
      expect(res.headers.get('connection')).toBe('close');
      expect(await res.json()).toEqual({ detail: 'Request body too large' });
    }
    expect(calls).toEqual([]);
  });

  it('refuses a chunked body once it passes the limit, while the client is still sending', async () => {
    const result = await new Promise<{ status: number; body: string; sent: number }>((resolve, reject) => {
      let sent = 0;
      let answered = false;
      const req = httpRequest(
        { host: '127.0.0.1', port, path: '/echo', method: 'POST', agent: false },
        (res) => {
          answered = true;
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            body += c;
          });
          res.on('end', () => resolve({ status: res.statusCode!, body, sent }));
        },
      );
      req.on('error', (error) => (answered ? undefined : reject(error)));
      const chunk = randomBytes(64 * 1024);
      // Never end the request: the 413 must come from counting bytes, not from the end of the body.
      const pump = () => {
        if (answered || sent > 200 * MAX_BODY) return;
        sent += chunk.length;
        req.write(chunk);
        setImmediate(pump);
      };
      pump();
    });
    expect(result.status).toBe(413);
    expect(JSON.parse(result.body)).toEqual({ detail: 'Request body too large' });
    expect(result.sent).toBeGreaterThan(MAX_BODY);
    expect(result.sent).toBeLessThan(200 * MAX_BODY);
    expect(calls).toEqual([]);
  });
});

describe('robustness', () => {
  it('answers garbage bytes with 400 and keeps serving', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('\x00\x01GARBAGE \xff\r\n\r\n'));
      let data = '';
      socket.setEncoding('latin1');
      socket.on('data', (c: string) => {
        data += c;
      });
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(reply.endsWith('{"detail":"Bad Request"}')).toBe(true);
    const { event } = await getEcho('/echo');
    expect(event.routeKey).toBe('GET /echo');
  });

  it('survives a client that disconnects mid-body', async () => {
    await new Promise<void>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n${'a'.repeat(10)}`);
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 50);
      });
      socket.on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 50));
    const { event } = await getEcho('/echo');
    expect(event.routeKey).toBe('GET /echo');
    expect(calls).toEqual(['GET /echo']);
  });
});

describe('listen', () => {
  it('gives a usable url and on close waits for in-flight requests, then refuses new ones', async () => {
    let release!: () => void;
    let started!: () => void;
    const inHandler = new Promise<void>((r) => {
      started = r;
    });
    const slow: Handler = async () => {
      started();
      await new Promise<void>((r) => {
        release = r;
      });
      return { statusCode: 200, body: 'done' };
    };
    const server = await listen(
      createApp({
        routes: [{ method: 'GET', path: '/slow', handler: 'slow', auth: 'public' }],
        loadHandler: async () => slow,
        maxBodyBytes: 10,
      }),
      { port: 0, host: '127.0.0.1' },
    );
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const response = fetch(`${server.url}/slow`);
    await inHandler;

    let closed = false;
    const closing = server.close().then(() => {
      closed = true;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toBe(false);

    const releasedAt = Date.now();
    release();
    const res = await response;
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('done');
    await closing;
    // Well under the 5 s keep-alive timeout: the idle keep-alive connection was closed, not waited out.
    expect(Date.now() - releasedAt).toBeLessThan(1_000);
    await expect(fetch(`${server.url}/slow`)).rejects.toThrow();
  });
});

describe('defaultLoadHandler', () => {
  it('refuses a functions module without a handler export, and a missing module', async () => {
    await expect(defaultLoadHandler('routes')).rejects.toThrow(
      'functions/routes.ts does not export a handler function',
    );
    await expect(defaultLoadHandler('no/such-module')).rejects.toThrow();
  });
});
