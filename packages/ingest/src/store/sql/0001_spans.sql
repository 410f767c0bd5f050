-- The span store. No primary key and no ART index: they cost most of the write rate (measured in
-- packages/bench/src/store-write.ts) and live in memory. Rows are appended in ingest order, which is close
-- to start-time order, so the zone maps DuckDB keeps per row group on start_ns prune the time-bounded scans
-- (the write-time duplicate probe, retention); list queries find their rows by scanning narrow columns,
-- then fetch only the JSON texts they return (late materialization).

-- One row per span: trace lookups, a service's spans, one span. `json` is the contract Span object, returned
-- verbatim; it is also the source of truth for every other field, so a later migration can derive a new
-- column from it. Only the columns the queries filter and sort on are kept beside it: each one costs write
-- and checkpoint time for every span.
CREATE TABLE spans (
  -- Ids as integers, not hex text: 24 bytes instead of 48, no string work on write, fast equality.
  trace_id UHUGEINT NOT NULL,
  span_id UBIGINT NOT NULL,
  service_name VARCHAR NOT NULL,
  start_ns BIGINT NOT NULL,
  -- FSST (about 2.6x smaller here) chosen up front: letting DuckDB try every string compression on each
  -- checkpoint cost a quarter of the write rate (store-write.ts).
  json VARCHAR NOT NULL USING COMPRESSION fsst
);

-- The spans the root-span and workflow lists show (root spans, and spans whose junjo.span_type is workflow:
-- a few percent of all spans), with their JSON again. In `spans` these rows are scattered among the others,
-- and fetching 500 of them would decompress nearly every JSON vector of the table; here they are dense.
CREATE TABLE root_and_workflow_spans (
  trace_id UHUGEINT NOT NULL,
  span_id UBIGINT NOT NULL,
  service_name VARCHAR NOT NULL,
  start_ns BIGINT NOT NULL,
  is_root BOOLEAN NOT NULL,
  -- junjo_span_type = 'workflow'
  is_workflow BOOLEAN NOT NULL,
  json VARCHAR NOT NULL USING COMPRESSION fsst
);

-- Traces holding an LLM span (CONTRACT.md §6.5), one row per LLM span: the has_llm=true filter reads this
-- small table rather than a column of every span. A trace listed twice is harmless to the IN (…) reading it.
CREATE TABLE llm_traces (
  trace_id UHUGEINT NOT NULL,
  -- The LLM span's start, so retention removes the row with its span.
  start_ns BIGINT NOT NULL
);

-- One row per set_state event, for workflow state reconstruction: a workflow's patches are those of its trace
-- whose store_id is the workflow's junjo_wf_store_id, in time_ns order.
CREATE TABLE state_patches (
  trace_id UHUGEINT NOT NULL,
  span_id UBIGINT NOT NULL,
  -- The owning span's start, so retention removes patches with their span.
  span_start_ns BIGINT NOT NULL,
  event_index INTEGER NOT NULL,
  time_ns BIGINT NOT NULL,
  store_id VARCHAR NOT NULL,
  store_name VARCHAR NOT NULL,
  action VARCHAR NOT NULL,
  patch_id VARCHAR NOT NULL,
  patch VARCHAR NOT NULL
);

-- Distinct service names, kept beside the spans so the services list does not scan them.
CREATE TABLE services (
  service_name VARCHAR PRIMARY KEY
);

-- The ingest WAL position the stored spans reach; written in the same transaction as each batch.
CREATE TABLE ingest_checkpoint (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  wal_position BIGINT NOT NULL
);
