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
--
-- ZSTD: a third of the bytes FSST, DuckDB's own choice, takes for these short protobuf messages, and a
-- quarter less checkpoint time; reading a trace's 20 rows costs the same (measured on 500,000 spans of the
-- bench:query set: 11.5 against 35.5 MB, 300-350 against 430-540 ms to checkpoint, lookup p50 1.4-1.5
-- against 1.6-1.7 ms). ZSTD needs a file of storage version v1.2.0, which the store creates; on a file
-- created by an earlier build (v1.0.0) the clause is dropped (store/schema.ts) and DuckDB chooses, FSST as
-- before. Stores that applied this file before the clause was added (2026-11-29) keep DuckDB's choice too.
ALTER TABLE spans ADD COLUMN otlp BLOB USING COMPRESSION zstd;
ALTER TABLE spans ALTER COLUMN json DROP NOT NULL;
