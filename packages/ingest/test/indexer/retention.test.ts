import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useIngest } from '../support.ts';
import { cat, request, span, varint } from '../wire.ts';

const get = useIngest({ JUNJO_RETENTION_DAYS: '2' });

/** start_time_unix_nano (field 7, fixed64) and end (field 8) of a span `daysAgo` days old. */
function times(daysAgo: number): Buffer {
  const startNs = BigInt(Date.now() - daysAgo * 86_400_000) * 1_000_000n;
  const fixed64 = (n: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(n);
    return b;
  };
  return cat(varint((7 << 3) | 1), fixed64(startNs), varint((8 << 3) | 1), fixed64(startNs + 1_000_000n));
}

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
        span([times(3)], { traceId, spanId: old }),
        span([times(0)], { traceId, spanId: fresh }),
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
