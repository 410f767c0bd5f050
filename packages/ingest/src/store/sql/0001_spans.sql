-- The span store. No primary key and no ART index: they cost most of the write rate (measured in
-- packages/bench/src/store-write.ts) and live in memory. Rows are appended in ingest order, which is close
-- to start-time order, so the zone maps DuckDB keeps per row group on start_ns prune the time-bounded scans
-- (the write-time duplicate probe, retention); list queries find their rows by scanning narrow columns,
-- then fetch only the JSON texts they return (late materialization).

-- One row per span: trace lookups, a service's spans, one span. `json` is the contract Span object,
-- returned verbatim.
CREATE TABLE spans (
  -- Ids as integers, not hex text: 24 bytes instead of 48, no string work on write, fast equality.
  trace_id UHUGEINT NOT NULL,
  span_id UBIGINT NOT NULL,
  -- NULL for a root span.
  parent_span_id UBIGINT,
  service_name VARCHAR NOT NULL,
  start_ns BIGINT NOT NULL,
  end_ns BIGINT NOT NULL,
  -- junjo.span_type: '' | workflow | subflow | node | run_concurrent.
  junjo_span_type VARCHAR NOT NULL,
  -- LLM span (CONTRACT.md §6.5).
  is_llm BOOLEAN NOT NULL,
  json VARCHAR NOT NULL
);

-- The spans the root-span and workflow lists show (a few percent of all spans), with their JSON again. In
-- `spans` these rows are scattered among the others, and fetching 500 of them would decompress nearly every
-- JSON vector of the table; here they are dense.
CREATE TABLE root_and_workflow_spans (
  trace_id UHUGEINT NOT NULL,
  span_id UBIGINT NOT NULL,
  service_name VARCHAR NOT NULL,
  start_ns BIGINT NOT NULL,
  is_root BOOLEAN NOT NULL,
  -- junjo_span_type = 'workflow'
  is_workflow BOOLEAN NOT NULL,
  json VARCHAR NOT NULL
);

-- Traces holding an LLM span, one row per LLM span: the has_llm=true filter reads this small table rather
-- than a column of every span. A trace listed twice is harmless to the IN (…) that reads it.
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
