import { describe, expect, it } from 'vitest';
import { useIngest } from '../support.ts';
import { sendOldAndFresh, storedSpanIds } from './retention-spans.ts';

const get = useIngest({ JUNJO_RETENTION_DAYS: '2' });

describe('retention', () => {
  it('deletes spans older than JUNJO_RETENTION_DAYS and keeps the rest', async () => {
    const { ingest } = get();
    const { traceId, old, fresh } = await sendOldAndFresh(get());
    await ingest.indexer.flush();
    expect(await storedSpanIds(ingest.store, traceId)).toEqual([old, fresh].sort());
    expect(await ingest.applyRetention()).toBe(1);
    expect(await storedSpanIds(ingest.store, traceId)).toEqual([fresh]);
  });
});
