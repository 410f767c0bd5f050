import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useIngest } from '../support.ts';
import { request, span, spanDaysAgo } from '../wire.ts';

const get = useIngest({ JUNJO_RETENTION_DAYS: '2' });

describe('retention', () => {
  it('deletes spans older than JUNJO_RETENTION_DAYS and keeps the rest', async () => {
    const { ingest, key, httpUrl } = get();
    const traceId = randomBytes(16);
    const old = randomBytes(8);
    const fresh = randomBytes(8);
    const response = await fetch(`${httpUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'x-junjo-api-key': key, 'content-type': 'application/x-protobuf' },
      body: request([
        span([spanDaysAgo(3)], { traceId, spanId: old }),
        span([spanDaysAgo(0)], { traceId, spanId: fresh }),
      ]),
    });
    expect(response.status).toBe(200);
    await ingest.indexer.flush();
    const before = JSON.parse(await ingest.store.traceSpans(traceId.toString('hex'))) as Array<{
      span_id: string;
    }>;
    expect(before.map((s) => s.span_id).sort()).toEqual([old, fresh].map((b) => b.toString('hex')).sort());

    expect(await ingest.applyRetention()).toBe(1);
    const after = JSON.parse(await ingest.store.traceSpans(traceId.toString('hex'))) as Array<{
      span_id: string;
    }>;
    expect(after.map((s) => s.span_id)).toEqual([fresh.toString('hex')]);
  });
});
