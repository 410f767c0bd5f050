-- Where in time each trace's spans are: one row per trace and indexer batch, with the earliest and latest
-- span start of that trace in the batch. A trace (or span) lookup reads this small table first (a twentieth
-- of the spans' rows at 20 spans per trace), then scans `spans` only inside that start-time range, which the
-- zone maps on start_ns narrow to the row groups written around then, instead of the trace_id column of the
-- whole table. An unknown trace is answered from this table alone. Rows are never updated: a trace whose spans
-- arrive in several batches has several rows, and a re-sent span at most widens a range.
CREATE TABLE trace_times (
  trace_id UHUGEINT NOT NULL,
  min_start_ns BIGINT NOT NULL,
  -- Retention removes a row once every span it covers is gone.
  max_start_ns BIGINT NOT NULL
);

INSERT INTO trace_times SELECT trace_id, min(start_ns), max(start_ns) FROM spans GROUP BY trace_id;
