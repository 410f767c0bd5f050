import { describe, expect, it } from 'vitest';
import { useIngest } from '../support.ts';
import { sendOldAndFresh } from './retention-spans.ts';

// A pass every 0.3 s, so that the test sees one run on its own.
const get = useIngest({ JUNJO_RETENTION_DAYS: '2', JUNJO_RETENTION_EVERY_MINUTES: '0.005' });

describe('retention in the background', () => {
  it('deletes old spans on its own, every JUNJO_RETENTION_EVERY_MINUTES', async () => {
    const { ingest } = get();
    const { traceId, fresh } = await sendOldAndFresh(get());
    await ingest.indexer.flush();
    const stored = async () =>
      (JSON.parse(await ingest.store.traceSpans(traceId)) as Array<{ span_id: string }>).map(
        (s) => s.span_id,
      );
    const started = Date.now();
    while ((await stored()).length > 1 && Date.now() - started < 10_000) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await stored()).toEqual([fresh]);
  });
});
