-- Spans kept as their OTLP bytes. The indexer reads what the tables need straight from the wire and stores
-- each span's `Span` message as it came; the contract's JSON text is made from those bytes when a query reads
-- the span (store/span-text.ts, with the converter the record path uses), so the JSON is built for the few
-- spans a query returns rather than for every span stored. Measured with `npm run bench:index`: decoding and
-- converting were two thirds of the indexer's CPU, and appending and committing a ~130-byte BLOB costs DuckDB
-- about half what a ~600-character FSST-compressed JSON text did.
--
-- Exactly one of `json` and `otlp` is set in each row: rows written before this file (and by the record
-- path, `SpanStore.write`) keep their JSON; rows of the indexer have their bytes. root_and_workflow_spans
-- keeps its JSON text for every row, so the lists read no bytes.
ALTER TABLE spans ADD COLUMN otlp BLOB;
ALTER TABLE spans ALTER COLUMN json DROP NOT NULL;
