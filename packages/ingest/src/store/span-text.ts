import { DuckDBBlobValue, type DuckDBValue } from '@duckdb/node-api';
import { toSpanRecord } from '@junjo/core/span';
import { decodeSpan } from '../otlp/messages.ts';

/**
 * The contract JSON text of a `spans` row (0003_span_otlp.sql): its `json` when the row has one, else the
 * text core's converter makes of its OTLP bytes — the text the record path would have stored for that span.
 * About 15 µs a span, paid for the spans a query returns instead of for every span the indexer stores.
 */
export function spanText(json: DuckDBValue, otlp: DuckDBValue, serviceName: DuckDBValue): string {
  if (typeof json === 'string') return json;
  if (!(otlp instanceof DuckDBBlobValue) || typeof serviceName !== 'string') {
    throw new TypeError('span store: a spans row has neither JSON text nor OTLP bytes');
  }
  return toSpanRecord(decodeSpan(otlp.bytes), serviceName).json;
}

/** `spanText` of each row of a `SELECT json, otlp, service_name` result's columns. */
export function spanTexts(columns: DuckDBValue[][]): string[] {
  const [json = [], otlp = [], service = []] = columns;
  return json.map((value, i) => spanText(value, otlp[i] ?? null, service[i] ?? null));
}
