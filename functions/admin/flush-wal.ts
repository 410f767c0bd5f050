import * as SpanQuery from '@junjo/core/span-query';
import { http } from '../middleware/http.ts';
import { json } from '../middleware/response.ts';

/** Drains the ingest backlog into the span store now (the Junjo UI's settings page calls it). */
export const handler = http('POST /api/admin/flush-wal', {}, async () => {
  const { recordsIndexed, spansIndexed } = await SpanQuery.flushWal();
  return json(200, {
    success: true,
    message: `Indexed ${plural(spansIndexed, 'span')} from ${plural(recordsIndexed, 'WAL record')}`,
    files_indexed: recordsIndexed,
  });
});

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
