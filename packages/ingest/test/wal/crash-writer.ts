// Child process for the crash and lock tests, which SIGKILL it: opens the WAL in argv[2] (segment size
// argv[4]) and appends payloadFor(seq) for seq = argv[3], argv[3] + 1, ... from 8 concurrent appenders, printing
// `ack <seq> <position>` once each append is acknowledged. Run with `node --import tsx`.
import { Wal } from '../../src/wal/index.ts';
import { payloadFor } from './payload.ts';

const [dir, firstSeq, segmentBytes] = process.argv.slice(2);
const wal = await Wal.open(dir!, { segmentBytes: Number(segmentBytes) });
let nextSeq = Number(firstSeq);
// stdout is a pipe, which Node writes synchronously: a printed line reached the parent before any kill.
process.stdout.write('ready\n');

async function appendForever(): Promise<never> {
  for (;;) {
    const seq = nextSeq++;
    const position = await wal.append(payloadFor(seq));
    process.stdout.write(`ack ${seq} ${position}\n`);
  }
}

await Promise.all(Array.from({ length: 8 }, appendForever));
