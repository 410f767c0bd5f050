import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useIngest } from '../support.ts';
import { request, span, spanDaysAgo } from '../wire.ts';

const get = useIngest();

describe('retention', () => {
  it('is off by default: spans of any age are kept', async () => {
    const { ingest, key, httpUrl } = get();
    const traceId = randomBytes(16);
    const response = await fetch(`${httpUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'x-junjo-api-key': key, 'content-type': 'application/x-protobuf' },
      body: request([span([spanDaysAgo(3650)], { traceId })]),
    });
    expect(response.status).toBe(200);
    await ingest.indexer.flush();
    expect(await ingest.applyRetention()).toBe(0);
    expect(JSON.parse(await ingest.store.traceSpans(traceId.toString('hex')))).toHaveLength(1);
  });
});
