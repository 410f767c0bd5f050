import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { traceRequestFromJson } from '../../src/otlp/json.ts';
import { fixtureText, useIngest } from '../support.ts';
import { cat, field, nestedAttribute, request, span, stringAttribute } from '../wire.ts';

// A 1 MiB limit keeps the oversized cases cheap to send.
const MAX = 1024 * 1024;
const get = useIngest({ JUNJO_INGEST_MAX_REQUEST_BYTES: String(MAX) });

/** Deterministic pseudo-random numbers, so a failing case can be reproduced from its index. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** The generated protobuf bodies: random, truncated, bit-flipped, nested, wide, invalid UTF-8, oversized. */
function* protobufCases(base: Buffer, count: number): Generator<[string, Buffer]> {
  const random = rng(42);
  const int = (n: number) => Math.floor(random() * n);
  // Building these is the slow part; a few shapes, each sent many times over, cover the point.
  const wide = [1000, 5000, 20_000].map((n) =>
    request([span(Array.from({ length: n }, (_, k) => field(9, stringAttribute(`a${k}`, 'v'))))]),
  );
  const nested = [20, 31, 33, 200, 2000].map((depth) => request([span([field(9, nestedAttribute(depth))])]));
  for (let i = 0; i < count; i++) {
    switch (i % 8) {
      case 0:
        yield [`random ${i}`, randomBytes(int(4096))];
        break;
      case 1:
        yield [`truncated ${i}`, base.subarray(0, int(base.length))];
        break;
      case 2: {
        const flipped = Buffer.from(base);
        for (let f = 0; f <= int(4); f++) {
          const at = int(flipped.length);
          flipped[at] = flipped[at]! ^ (1 << int(8));
        }
        yield [`bit-flipped ${i}`, flipped];
        break;
      }
      case 3:
        yield [`nested ${i}`, nested[int(nested.length)]!];
        break;
      case 4:
        yield [`wide ${i}`, wide[int(wide.length)]!];
        break;
      case 5:
        yield [
          `invalid utf-8 ${i}`,
          request([span([field(9, stringAttribute('k', Buffer.from([0xc3, 0x28, 0xff, int(256)])))])]),
        ];
        break;
      case 6:
        yield [`oversized ${i}`, cat(base, randomBytes(MAX + int(4096)))];
        break;
      default: {
        // Valid framing, garbage inside: a span whose fields are random bytes.
        yield [`garbage span ${i}`, request([cat(span(), randomBytes(int(512)))])];
      }
    }
  }
}

const GRPC_CODES = new Set([grpc.status.OK, grpc.status.INVALID_ARGUMENT, grpc.status.RESOURCE_EXHAUSTED]);
const HTTP_CODES = new Set([200, 400, 413, 415]);

function grpcExport(client: grpc.Client, key: string, body: Buffer): Promise<number> {
  const metadata = new grpc.Metadata();
  metadata.set('x-junjo-api-key', key);
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      metadata,
      (error) => resolve(error ? (error.code ?? -1) : grpc.status.OK),
    ),
  );
}

async function inBatches<T>(items: Iterable<T>, size: number, fn: (item: T) => Promise<void>) {
  let batch: Promise<void>[] = [];
  for (const item of items) {
    batch.push(fn(item));
    if (batch.length >= size) {
      await Promise.all(batch);
      batch = [];
    }
  }
  await Promise.all(batch);
}

describe('bad input never crashes ingest and gets a documented code', () => {
  it('5,000 generated protobuf cases over gRPC, then a valid export succeeds', async () => {
    const { key, grpcUrl } = get();
    const base = Buffer.from(traceRequestFromJson(fixtureText()));
    const client = new grpc.Client(grpcUrl.replace('http://', ''), grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': 8 * MAX,
    });
    const seen = new Map<number, number>();
    await inBatches(protobufCases(base, 5000), 16, async ([name, body]) => {
      const code = await grpcExport(client, key, body);
      seen.set(code, (seen.get(code) ?? 0) + 1);
      expect(GRPC_CODES.has(code), `${name}: gRPC code ${code}`).toBe(true);
    });
    expect(seen.get(grpc.status.INVALID_ARGUMENT)).toBeGreaterThan(1000);
    expect(seen.get(grpc.status.RESOURCE_EXHAUSTED)).toBeGreaterThan(100);
    expect(await grpcExport(client, key, base)).toBe(grpc.status.OK);
    client.close();
  });

  it('5,000 generated cases over HTTP (protobuf, JSON, gzip, wrong content types), then a valid export succeeds', async () => {
    const { key, httpUrl } = get();
    const json = fixtureText();
    const base = Buffer.from(traceRequestFromJson(json));
    const random = rng(7);
    const bodies = protobufCases(base, 3000);
    function* cases(): Generator<[string, Record<string, string>, Uint8Array | string]> {
      for (const [name, body] of bodies) yield [name, { 'content-type': 'application/x-protobuf' }, body];
      for (let i = 0; i < 2000; i++) {
        const cut = Math.floor(random() * json.length);
        switch (i % 5) {
          case 0:
            yield [`truncated json ${i}`, { 'content-type': 'application/json' }, json.slice(0, cut)];
            break;
          case 1:
            yield [
              `json invalid utf-8 ${i}`,
              { 'content-type': 'application/json' },
              cat(Buffer.from(json.slice(0, cut)), Buffer.from([0xff, 0xfe]), Buffer.from(json.slice(cut))),
            ];
            break;
          case 2:
            yield [
              `json wrong types ${i}`,
              { 'content-type': 'application/json' },
              JSON.stringify({
                resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: i, spanId: {}, name: [] }] }] }],
              }),
            ];
            break;
          case 3:
            yield [
              `wrong content type ${i}`,
              { 'content-type': ['text/plain', 'application/xml', 'multipart/form-data', ''][i % 4]! },
              json,
            ];
            break;
          default:
            yield [
              `broken gzip ${i}`,
              { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
              gzipSync(base).subarray(0, cut % 200),
            ];
        }
      }
    }
    await inBatches(cases(), 16, async ([name, headers, body]) => {
      const response = await fetch(`${httpUrl}/v1/traces`, {
        method: 'POST',
        headers: { 'x-junjo-api-key': key, ...headers },
        body,
      });
      await response.arrayBuffer();
      expect(HTTP_CODES.has(response.status), `${name}: HTTP ${response.status}`).toBe(true);
    });
    const ok = await fetch(`${httpUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'x-junjo-api-key': key, 'content-type': 'application/json' },
      body: json,
    });
    expect(ok.status).toBe(200);
  });

  it('refuses a gzip bomb with 413 without inflating it', async () => {
    const { key, httpUrl } = get();
    const bomb = gzipSync(Buffer.alloc(64 * MAX));
    expect(bomb.length).toBeLessThan(MAX);
    const response = await fetch(`${httpUrl}/v1/traces`, {
      method: 'POST',
      headers: {
        'x-junjo-api-key': key,
        'content-type': 'application/x-protobuf',
        'content-encoding': 'gzip',
      },
      body: bomb,
    });
    expect(response.status).toBe(413);
  });

  it('rejects spans with bad ids in partial_success and keeps the rest', async () => {
    const { key, httpUrl, ingest } = get();
    const good = span();
    const badTrace = span([], { traceId: randomBytes(15) });
    const badSpan = span([], { spanId: Buffer.alloc(8) });
    const before = ingest.wal.end();
    const response = await fetch(`${httpUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'x-junjo-api-key': key, 'content-type': 'application/x-protobuf' },
      body: request([badTrace, good, badSpan]),
    });
    expect(response.status).toBe(200);
    const jsonResponse = await fetch(`${httpUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'x-junjo-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({
        resourceSpans: [
          { scopeSpans: [{ spans: [{ traceId: 'zz', spanId: '0102030405060708', name: 'bad' }] }] },
        ],
      }),
    });
    const partial = (await jsonResponse.json()) as {
      partialSuccess: { errorMessage: string; rejectedSpans: string | number };
    };
    expect(partial.partialSuccess.errorMessage).toMatch(/trace/i);
    expect(Number(partial.partialSuccess.rejectedSpans)).toBe(1);
    const { records } = await ingest.wal.read(before);
    expect(records).toHaveLength(1);
  });
});
