import { describe, expect, it } from 'vitest';
import { useIngest } from '../support.ts';
import { sendOldAndFresh, storedSpanIds } from './retention-spans.ts';

// A pass every 0.3 s, so that the test sees one run on its own.
const get = useIngest({ JUNJO_RETENTION_DAYS: '2', JUNJO_RETENTION_EVERY_MINUTES: '0.005' });

describe('retention in the background', () => {
  it('deletes old spans on its own, every JUNJO_RETENTION_EVERY_MINUTES', async () => {
    const { ingest } = get();
    const { traceId, fresh } = await sendOldAndFresh(get());
    await ingest.indexer.flush();
    const started = Date.now();
    while ((await storedSpanIds(ingest.store, traceId)).length > 1 && Date.now() - started < 10_000) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await storedSpanIds(ingest.store, traceId)).toEqual([fresh]);
  });
});
