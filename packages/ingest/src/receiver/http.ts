import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { logger } from '@junjo/core/logger';
import { OtlpJsonError, traceRequestFromJson } from '../otlp/json.ts';
import { encodeTraceResponse, traceResponseJson } from '../otlp/messages.ts';
import { apiKeyFrom } from './api-key.ts';
import type { IngestPipeline, Outcome } from './pipeline.ts';

const gunzipAsync = promisify(gunzip);

type Encoding = 'protobuf' | 'json';

const STATUS: Record<Outcome['kind'], number> = {
  ok: 200,
  unauthenticated: 401,
  invalid: 400,
  too_large: 413,
  unavailable: 503,
};
/** google.rpc.Code for the error bodies the OTLP/HTTP spec asks for. */
const RPC_CODE: Record<number, number> = {
  400: 3,
  401: 16,
  404: 5,
  405: 12,
  413: 8,
  415: 3,
  500: 13,
  503: 14,
};

const SIGNALS = new Set(['/v1/traces', '/v1/logs', '/v1/metrics']);

function encodingOf(contentType: string | undefined): Encoding | undefined {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return 'protobuf';
  if (type === 'application/json') return 'json';
  return undefined;
}

/** google.rpc.Status{code, message} in protobuf, hand-encoded: it is two fields. */
function statusProtobuf(code: number, message: string): Buffer {
  const text = Buffer.from(message, 'utf8');
  const length: number[] = [];
  let n = text.length;
  do {
    length.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x08, code, 0x12, ...length]), text]);
}

function send(
  res: ServerResponse,
  status: number,
  encoding: Encoding,
  body: Uint8Array | string,
  headers = {},
) {
  res.writeHead(status, {
    'content-type': encoding === 'json' ? 'application/json' : 'application/x-protobuf',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

function sendError(res: ServerResponse, status: number, encoding: Encoding, message: string, headers = {}) {
  const code = RPC_CODE[status] ?? 2;
  const body = encoding === 'json' ? JSON.stringify({ code, message }) : statusProtobuf(code, message);
  // A refused upload may still be arriving: ask to close, so the socket is not reused mid-body.
  send(res, status, encoding, body, {
    ...headers,
    ...(status === 413 || status === 401 ? { connection: 'close' } : {}),
  });
}

/** Reads at most `limit` bytes of body; resolves undefined (and stops buffering) past it. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        req.removeAllListeners('data');
        req.resume();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

export interface HttpReceiverOptions {
  host: string;
  port: number;
  maxRequestBytes: number;
}

/**
 * OTLP/HTTP: `POST /v1/traces` with protobuf or JSON bodies, optionally gzip; answers in the request's
 * encoding. `/v1/logs` and `/v1/metrics` are accepted after the key check. `GET /healthz` for probes.
 */
export async function startHttpReceiver(
  pipeline: IngestPipeline,
  options: HttpReceiverOptions,
): Promise<{ port: number; setServing(serving: boolean): void; close(): Promise<void> }> {
  let serving = true;
  const max = options.maxRequestBytes;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0]!;
    // Stopping: every answer (503s included) ends its connection, or a client re-sending on a keep-alive
    // socket would keep it busy and `close()` would wait for it for ever (seen once in CI under load).
    if (!serving) res.setHeader('connection', 'close');
    if (path === '/healthz') {
      res.writeHead(serving ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: serving ? 'ok' : 'stopping' }));
      return;
    }
    const encoding = encodingOf(req.headers['content-type']);
    const replyIn = encoding ?? 'json';
    if (!SIGNALS.has(path)) return sendError(res, 404, replyIn, 'Not Found');
    if (req.method !== 'POST') return sendError(res, 405, replyIn, 'Method Not Allowed', { allow: 'POST' });
    if (!encoding) {
      return sendError(res, 415, 'json', 'Content-Type must be application/x-protobuf or application/json');
    }
    const apiKey = apiKeyFrom((name) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    });
    const denied = await pipeline.authorize(apiKey);
    if (denied) return sendError(res, 401, encoding, denied.message);
    if (Number(req.headers['content-length']) > max)
      return sendError(res, 413, encoding, `request exceeds ${max} bytes`);

    let body = await readBody(req, max);
    if (!body) return sendError(res, 413, encoding, `request exceeds ${max} bytes`);
    const contentEncoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (contentEncoding === 'gzip') {
      try {
        // maxOutputLength stops a small gzip bomb from inflating past the request limit.
        body = await gunzipAsync(body, { maxOutputLength: max });
      } catch (error) {
        const tooLarge = (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
        return sendError(
          res,
          tooLarge ? 413 : 400,
          encoding,
          tooLarge ? `request exceeds ${max} bytes` : 'invalid gzip body',
        );
      }
    } else if (contentEncoding !== 'identity') {
      return sendError(res, 415, encoding, `unsupported Content-Encoding ${contentEncoding}`);
    }

    if (path !== '/v1/traces') return send(res, 200, encoding, encoding === 'json' ? '{}' : new Uint8Array());

    let request: Uint8Array;
    if (encoding === 'json') {
      try {
        request = traceRequestFromJson(new TextDecoder('utf-8', { fatal: true }).decode(body));
      } catch (error) {
        if (error instanceof OtlpJsonError || error instanceof TypeError || error instanceof SyntaxError) {
          return sendError(res, 400, encoding, `invalid OTLP/JSON: ${(error as Error).message}`);
        }
        throw error;
      }
    } else {
      request = body;
    }

    const outcome = await pipeline.exportTraces(request, apiKey);
    if (outcome.kind === 'ok') {
      return send(
        res,
        200,
        encoding,
        encoding === 'json' ? traceResponseJson(outcome) : encodeTraceResponse(outcome),
      );
    }
    const retry =
      outcome.kind === 'unavailable' ? { 'retry-after': String(Math.ceil(outcome.retryAfterMs / 1000)) } : {};
    return sendError(res, STATUS[outcome.kind], encoding, outcome.message, retry);
  }

  const server = createServer((req, res) => {
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    handle(req, res).catch((error: unknown) => {
      logger.error('OTLP/HTTP request failed', { error: error as Error });
      if (!res.headersSent) sendError(res, 500, 'json', 'internal error');
      else res.destroy();
    });
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  server.requestTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  return {
    port: (server.address() as AddressInfo).port,
    setServing(next: boolean) {
      serving = next;
    },
    /** Stops accepting connections and resolves when in-flight requests are answered. */
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    },
  };
}
