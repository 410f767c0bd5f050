import type { SpanRecordInput } from '../../src/store/index.ts';
import { patch, record } from './records.ts';

/** Records the crash writer re-sends after each restart. */
export const OVERLAP = 700;

/** Size of the batch starting at record `from`: varied, and the same on every run. */
export const batchSize = (from: number) => 1500 + ((from * 7919) % 2500);

/** Record `i` of the crash test's stream: 10 spans a trace, in start-time order, a patch on every 50th. */
export function crashRecord(i: number): SpanRecordInput {
  return record({
    trace: Math.floor(i / 10),
    span: i,
    parent: i % 10 === 0 ? undefined : i - (i % 10),
    startMs: i,
    service: `svc-${i % 3}`,
    statePatches: i % 50 === 0 ? [patch(0, i)] : [],
  });
}

/** State patches among records 0 .. n-1. */
export const patchesBefore = (n: number) => Math.ceil(n / 50);
