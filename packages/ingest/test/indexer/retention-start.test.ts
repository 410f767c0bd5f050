import * as Config from '@junjo/core/config';
import { describe, expect, it } from 'vitest';
import { startIngest } from '../../src/server.ts';
import { useIngest } from '../support.ts';
import { sendOldAndFresh, storedSpanIds } from './retention-spans.ts';

// An hour between passes: only the pass at start can run during the test.
const get = useIngest({ JUNJO_RETENTION_DAYS: '2', JUNJO_RETENTION_EVERY_MINUTES: '60' });

describe('retention at start', () => {
  it('runs a pass when ingest starts, not an interval later', async () => {
    const { ingest } = get();
    const { traceId, old, fresh } = await sendOldAndFresh(get());
    await ingest.indexer.flush();
    expect(await storedSpanIds(ingest.store, traceId)).toEqual([old, fresh].sort());
    await ingest.close();
    // The same data dir, started again.
    const restarted = await startIngest(Config.get());
    try {
      const started = Date.now();
      while ((await storedSpanIds(restarted.store, traceId)).length > 1 && Date.now() - started < 10_000) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await storedSpanIds(restarted.store, traceId)).toEqual([fresh]);
    } finally {
      await restarted.close();
    }
  });
});
