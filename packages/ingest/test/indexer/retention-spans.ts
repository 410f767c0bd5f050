import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { SpanStore } from '../../src/store/index.ts';
import { request, span, spanDaysAgo } from '../wire.ts';

/**
 * Sends one trace over OTLP/HTTP: a span that started three days ago and one that started now. Returns their
 * hex ids.
 */
export async function sendOldAndFresh(target: { key: string; httpUrl: string }) {
  const traceId = randomBytes(16);
  const old = randomBytes(8);
  const fresh = randomBytes(8);
  const response = await fetch(`${target.httpUrl}/v1/traces`, {
    method: 'POST',
    headers: { 'x-junjo-api-key': target.key, 'content-type': 'application/x-protobuf' },
    body: request([
      span([spanDaysAgo(3)], { traceId, spanId: old }),
      span([spanDaysAgo(0)], { traceId, spanId: fresh }),
    ]),
  });
  expect(response.status).toBe(200);
  return { traceId: traceId.toString('hex'), old: old.toString('hex'), fresh: fresh.toString('hex') };
}

/** The span ids `store` holds for `traceId`, sorted. */
export async function storedSpanIds(store: SpanStore, traceId: string): Promise<string[]> {
  return (JSON.parse(await store.traceSpans(traceId)) as Array<{ span_id: string }>)
    .map((s) => s.span_id)
    .sort();
}
