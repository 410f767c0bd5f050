import { describe, expect, it } from 'vitest';
import { useIngest } from '../support.ts';
import { sendOldAndFresh } from './retention-spans.ts';

const get = useIngest({ JUNJO_RETENTION_DAYS: '2' });

describe('retention', () => {
  it('deletes spans older than JUNJO_RETENTION_DAYS and keeps the rest', async () => {
    const { ingest } = get();
    const { traceId, old, fresh } = await sendOldAndFresh(get());
    await ingest.indexer.flush();
    const stored = async () =>
      (JSON.parse(await ingest.store.traceSpans(traceId)) as Array<{ span_id: string }>)
        .map((s) => s.span_id)
        .sort();
    expect(await stored()).toEqual([old, fresh].sort());
    expect(await ingest.applyRetention()).toBe(1);
    expect(await stored()).toEqual([fresh]);
  });
});
