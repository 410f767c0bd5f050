import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useIngest } from '../support.ts';
import { request, span, spanDaysAgo } from '../wire.ts';

// A pass every 0.3 s, so that the test sees one run on its own.
const get = useIngest({ JUNJO_RETENTION_DAYS: '2', JUNJO_RETENTION_EVERY_MINUTES: '0.005' });

describe('retention in the background', () => {
  it('deletes old spans on its own, every JUNJO_RETENTION_EVERY_MINUTES', async () => {
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
    const stored = async () =>
      (JSON.parse(await ingest.store.traceSpans(traceId.toString('hex'))) as Array<{ span_id: string }>)
        .map((s) => s.span_id)
        .sort();
    const started = Date.now();
    while ((await stored()).length > 1 && Date.now() - started < 10_000) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await stored()).toEqual([fresh.toString('hex')]);
  });
});
