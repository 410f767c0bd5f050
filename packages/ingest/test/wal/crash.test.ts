import { readdir, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { logger } from '@junjo/core/logger';
import { describe, expect, it, vi } from 'vitest';
import { Wal } from '../../src/wal/index.ts';
import { HEADER_BYTES } from '../../src/wal/record.ts';
import { payloadFor } from './payload.ts';
import { firstMismatch, readAll, useWalDir } from './support.ts';
import { startWriter } from './writer-process.ts';

const SEGMENT_BYTES = 1024 * 1024;
const CYCLES = 25;

/**
 * A SIGKILL leaves every written byte in the page cache, so on its own it never tears a record. Half the
 * cycles also play a power cut: the last segment loses a random part of what lies past `syncedEnd`.
 */
async function cutUnsyncedTail(dir: string, syncedEnd: number): Promise<void> {
  const last = (await readdir(dir))
    .filter((name) => name.endsWith('.wal'))
    .sort()
    .at(-1)!;
  const file = path.join(dir, last);
  const keep = Math.max(syncedEnd - Number(last.slice(0, 20)), 0);
  const { size } = await stat(file);
  if (size > keep) await truncate(file, keep + Math.floor(Math.random() * (size - keep)));
}

describe('SegmentWal under SIGKILL', () => {
  const { dir, track } = useWalDir();

  it(`keeps every acknowledged append through ${CYCLES} kills at random moments`, async () => {
    // Taking over the dead writer's lock and truncating torn tails are expected here.
    const warn = vi.spyOn(logger, 'warn').mockImplementation(() => {});
    const acked = new Map<number, number>();
    let durable = 0;
    let syncedEnd = 0;
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      // The writer appends payloadFor(seq) from the first sequence number not yet in the log.
      const writer = startWriter(dir(), durable, SEGMENT_BYTES);
      if (cycle % 5 === 4) {
        // Any moment, start-up and recovery included.
        await sleep(Math.random() * 800);
      } else {
        await writer.ready;
        await sleep(Math.random() * 250);
      }
      await writer.kill();
      for (const { seq, position } of writer.acks) {
        expect(acked.has(seq), `seq ${seq} acknowledged twice`).toBe(false);
        acked.set(seq, position);
        syncedEnd = Math.max(syncedEnd, position + HEADER_BYTES + payloadFor(seq).byteLength);
      }
      if (cycle % 2 === 1) await cutUnsyncedTail(dir(), syncedEnd);

      const wal = track(await Wal.open(dir(), { segmentBytes: SEGMENT_BYTES }));
      const records = await readAll(wal);
      // Durable records are exactly payloadFor(0), payloadFor(1), ...: no gap, no duplicate, no damage.
      expect(firstMismatch(records, payloadFor)).toBe(-1);
      expect(records.length).toBeGreaterThanOrEqual(durable);
      const seqAt = new Map(records.map((record, seq) => [record.position, seq]));
      for (const [seq, position] of acked) expect(seqAt.get(position), `acked seq ${seq}`).toBe(seq);
      durable = records.length;
      // Opening synced whatever it recovered.
      syncedEnd = wal.end();
      await wal.close();
    }
    expect(acked.size).toBeGreaterThan(100);
    expect(warn).toHaveBeenCalledWith('wal: truncating a torn or corrupt tail', expect.anything());
  }, 240_000);
});
