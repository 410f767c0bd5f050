// Child process for the span-store crash test, which SIGKILLs it: opens the store at argv[2] and, like an
// indexer resuming, writes batches of crashRecord(i) from the stored checkpoint on, forever, with two writes
// in flight. Its first batch re-sends the OVERLAP records before the checkpoint (a replay the store must not
// duplicate). Prints `ready` once open and `committed <checkpoint>` once each write has resolved. Run with
// `node --import tsx`.
import { SpanStore } from '../../src/store/index.ts';
import { batchSize, crashRecord, OVERLAP } from './crash-records.ts';

const store = await SpanStore.open(process.argv[2]!);
let from = (await store.checkpoint()) ?? 0;
// stdout is a pipe, which Node writes synchronously: a printed line reached the parent before any kill.
process.stdout.write('ready\n');

const inFlight: Promise<void>[] = [];
let first = Math.max(0, from - OVERLAP);
for (;;) {
  const to = from + batchSize(from);
  const records = [];
  for (let i = first; i < to; i++) records.push(crashRecord(i));
  inFlight.push(store.write(records, to).then(() => void process.stdout.write(`committed ${to}\n`)));
  if (inFlight.length === 2) await inFlight.shift();
  from = to;
  first = to;
}
