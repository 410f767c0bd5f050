import { spawnSync } from 'node:child_process';
import { appendFile, open, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { logger } from '@junjo/core/logger';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Wal } from '../../src/wal/index.ts';
import { encodeHeader, HEADER_BYTES } from '../../src/wal/record.ts';
import { payloadFor } from './payload.ts';
import { firstMismatch, readAll, useWalDir } from './support.ts';
import { describeWalContract } from './wal-contract.ts';
import { startWriter } from './writer-process.ts';

describeWalContract('SegmentWal', (dir) => Wal.open(dir));
describeWalContract('SegmentWal with 1 MiB segments', (dir) => Wal.open(dir, { segmentBytes: 1024 * 1024 }));

afterEach(() => {
  vi.restoreAllMocks();
});

/** Segment files in `dir` as [base, size], oldest first. */
async function segmentFiles(dir: string): Promise<Array<[number, number]>> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.wal')).sort();
  return Promise.all(
    names.map(async (name): Promise<[number, number]> => {
      expect(name).toMatch(/^\d{20}\.wal$/);
      return [Number(name.slice(0, 20)), (await stat(path.join(dir, name))).size];
    }),
  );
}

function lastSegmentPath(dir: string, files: Array<[number, number]>): string {
  return path.join(dir, `${String(files.at(-1)![0]).padStart(20, '0')}.wal`);
}

describe('SegmentWal segments', () => {
  const { dir, track } = useWalDir();

  it('rolls over to a new segment file named by its base position, and reads across segments', async () => {
    const wal = track(await Wal.open(dir(), { segmentBytes: 1024 }));
    const sizes = [100, 300, 500, 200, 5000, 10, 0, 700, 300, 300, 900, 50];
    const payloads = sizes.map((size, i) => new Uint8Array(size).fill(i + 1));
    const positions = [];
    for (const payload of payloads) positions.push(await wal.append(payload));

    const files = await segmentFiles(dir());
    expect(wal.stats().segments).toBe(files.length);
    expect(files.length).toBeGreaterThan(5);
    for (const [i, [base, size]] of files.entries()) {
      // Each segment starts at a record and ends where the next begins.
      expect(positions).toContain(base);
      if (i + 1 < files.length) expect(base + size).toBe(files[i + 1]![0]);
      if (size > 1024) expect(size).toBe(HEADER_BYTES + 5000);
    }
    const big = positions[4]!;
    expect(files.map(([base]) => base)).toContain(big);
    expect(files.map(([base]) => base)).toContain(big + HEADER_BYTES + 5000);

    for (const maxBytes of [1, 700, 4096, undefined]) {
      const records = await readAll(wal, 0, maxBytes);
      expect(records.map((r) => r.position)).toEqual(positions);
      expect(firstMismatch(records, (i) => payloads[i]!)).toBe(-1);
    }
  });

  it('deletes exactly the segments wholly before the released position', async () => {
    const wal = track(await Wal.open(dir(), { segmentBytes: 1000 }));
    const positions = [];
    for (let i = 0; i < 40; i++) positions.push(await wal.append(new Uint8Array(183).fill(i)));
    // 200-byte records, 5 to a segment: segment k holds records 5k..5k+4.
    const before = await segmentFiles(dir());
    expect(before.map(([base]) => base)).toEqual(positions.filter((_, i) => i % 5 === 0));

    // Mid-segment: segments 0..2 lie wholly before record 17, segment 3 holds it and stays.
    await wal.release(positions[17]!);
    expect((await segmentFiles(dir())).map(([base]) => base)).toEqual(before.slice(3).map(([base]) => base));
    expect(wal.unreleasedBytes()).toBe(wal.end() - positions[17]!);
    // At a segment boundary: segment 3 ends exactly at record 20.
    await wal.release(positions[20]!);
    expect((await segmentFiles(dir())).map(([base]) => base)).toEqual(before.slice(4).map(([base]) => base));
    expect(wal.stats().segments).toBe(4);
    // Everything released: the segment being appended to stays.
    await wal.release(wal.end());
    expect(wal.unreleasedBytes()).toBe(0);
    expect(await segmentFiles(dir())).toEqual([before.at(-1)]);
    expect(await wal.read(wal.firstUnreleased())).toEqual({ records: [], next: wal.end() });
    // Released records in the kept segment are still there for a reader starting from the oldest.
    expect((await readAll(wal, 0)).map((r) => r.position)).toEqual(positions.slice(35));
    await wal.close();

    const reopened = track(await Wal.open(dir(), { segmentBytes: 1000 }));
    expect(reopened.firstUnreleased()).toBe(reopened.end());
    expect(await reopened.append(new Uint8Array([1]))).toBe(positions.at(-1)! + 200);
  });

  it('refuses a released position that is not yet durable', async () => {
    const wal = track(await Wal.open(dir()));
    const pending = wal.append(new Uint8Array(10));
    await expect(wal.release(wal.end())).rejects.toThrow(/durable/);
    await pending;
    await wal.release(wal.end());
    expect(wal.unreleasedBytes()).toBe(0);
  });

  it('rejects a read that does not start at a record boundary', async () => {
    const wal = track(await Wal.open(dir()));
    const position = await wal.append(new Uint8Array(100).fill(7));
    await wal.append(new Uint8Array(100).fill(8));
    await expect(wal.read(position + 3)).rejects.toThrow(/not a record boundary/);
    await expect(wal.read(wal.end() + 1)).rejects.toThrow(RangeError);
  });
});

describe('SegmentWal I/O failure', () => {
  const { dir, track } = useWalDir();

  it('rejects the batch whose sync failed and every append after it, until reopened', async () => {
    const error = vi.spyOn(logger, 'error').mockImplementation(() => {});
    const wal = track(await Wal.open(dir()));
    const acknowledged = await wal.append(payloadFor(0));
    // The disk is the boundary: make the next fdatasync fail the way a dying disk does.
    const probe = await open(path.join(dir(), 'probe'), 'w');
    const fileHandle = Object.getPrototypeOf(probe) as { datasync(): Promise<void> };
    await probe.close();
    vi.spyOn(fileHandle, 'datasync').mockRejectedValueOnce(
      Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }),
    );

    const failed = [wal.append(payloadFor(1)), wal.append(payloadFor(2))];
    for (const append of failed)
      await expect(append).rejects.toMatchObject({ kind: 'unavailable', code: 'wal_failed' });
    await expect(wal.append(payloadFor(3))).rejects.toMatchObject({ code: 'wal_failed' });
    expect(error).toHaveBeenCalledWith(
      'wal: write failed; refusing appends until reopened',
      expect.anything(),
    );
    // What was durable stays readable.
    expect((await wal.read(0)).records.map((r) => r.position)).toEqual([acknowledged]);
    await wal.close();

    const reopened = track(await Wal.open(dir()));
    const records = await readAll(reopened);
    expect(records[0]?.position).toBe(acknowledged);
    expect(firstMismatch(records, payloadFor)).toBe(-1);
    expect(await reopened.append(payloadFor(records.length))).toBe(records.at(-1)!.next);
  });
});

describe('SegmentWal recovery', () => {
  const { dir, track } = useWalDir();

  /** Appends payloadFor(0..count-1), closes, and returns the positions and the end. */
  async function writeRecords(count: number, segmentBytes?: number) {
    const wal = await Wal.open(dir(), { segmentBytes });
    const positions = [];
    for (let seq = 0; seq < count; seq++) positions.push(await wal.append(payloadFor(seq)));
    const end = wal.end();
    await wal.close();
    return { positions, end };
  }

  function validRecord(payload: Uint8Array): Buffer {
    const header = Buffer.alloc(HEADER_BYTES);
    encodeHeader(header, 0, payload, 0, Date.now());
    return Buffer.concat([header, payload]);
  }

  const damages: Array<[string, (file: string, lastPosition: number, end: number) => Promise<number>]> = [
    [
      'half a record',
      async (file, _last, end) => {
        await appendFile(file, validRecord(payloadFor(999)).subarray(0, 2000));
        return end;
      },
    ],
    [
      'half a header',
      async (file, _last, end) => {
        await appendFile(file, validRecord(payloadFor(999)).subarray(0, 9));
        return end;
      },
    ],
    [
      'garbage',
      async (file, _last, end) => {
        await appendFile(file, Buffer.from('not a record at all, just bytes from a torn write'));
        return end;
      },
    ],
    [
      'zeros from a preallocated tail',
      async (file, _last, end) => {
        await appendFile(file, Buffer.alloc(4096));
        return end;
      },
    ],
    [
      'a flipped bit in the last payload',
      async (file, last, end) => {
        const bytes = await readFile(file);
        const at = bytes.length - (end - last) + HEADER_BYTES + 10;
        bytes[at] = bytes[at]! ^ 0x10;
        await writeFile(file, bytes);
        return last;
      },
    ],
  ];

  it.each(damages)('truncates %s at the last good record and keeps appending', async (_name, damage) => {
    const warn = vi.spyOn(logger, 'warn').mockImplementation(() => {});
    const { positions, end } = await writeRecords(10);
    const files = await segmentFiles(dir());
    const file = lastSegmentPath(dir(), files);
    const goodEnd = await damage(file, positions.at(-1)!, end);
    const sizeBefore = (await stat(file)).size;

    const wal = track(await Wal.open(dir()));
    expect(wal.end()).toBe(goodEnd);
    expect((await stat(file)).size).toBe(goodEnd - files.at(-1)![0]);
    expect(warn).toHaveBeenCalledWith(
      'wal: truncating a torn or corrupt tail',
      expect.objectContaining({ position: goodEnd, droppedBytes: sizeBefore - (goodEnd - files.at(-1)![0]) }),
    );
    const kept = positions.filter((p) => p < goodEnd);
    expect(await wal.append(payloadFor(kept.length))).toBe(goodEnd);
    const records = await readAll(wal);
    expect(records.map((r) => r.position)).toEqual([...kept, goodEnd]);
    expect(firstMismatch(records, payloadFor)).toBe(-1);
    await wal.close();

    warn.mockClear();
    track(await Wal.open(dir()));
    expect(warn).not.toHaveBeenCalled();
  });

  it('drops the segments after one that was cut short, keeping the good prefix', async () => {
    const warn = vi.spyOn(logger, 'warn').mockImplementation(() => {});
    const { positions } = await writeRecords(30, 40_000);
    const files = await segmentFiles(dir());
    expect(files.length).toBeGreaterThan(4);
    // Cut the third segment's last record short: nothing after it can be trusted to follow on.
    const [base, size] = files[2]!;
    await truncate(path.join(dir(), `${String(base).padStart(20, '0')}.wal`), size - 5);

    const wal = track(await Wal.open(dir(), { segmentBytes: 40_000 }));
    const kept = positions.filter((p) => p < base + size).slice(0, -1);
    const records = await readAll(wal);
    expect(records.map((r) => r.position)).toEqual(kept);
    expect(firstMismatch(records, payloadFor)).toBe(-1);
    expect((await segmentFiles(dir())).map(([b]) => b)).toEqual(files.slice(0, 3).map(([b]) => b));
    expect(warn).toHaveBeenCalledWith('wal: deleting segments after a torn one', expect.anything());
    expect(wal.end()).toBe(records.at(-1)!.next);
    expect(await wal.append(payloadFor(kept.length))).toBe(records.at(-1)!.next);
  });
});

describe('SegmentWal lock', () => {
  const { dir, track } = useWalDir();

  it('refuses to open a log held by another live process, and takes it over once that process is killed', async () => {
    const writer = startWriter(dir(), 0, 1024 * 1024);
    try {
      await writer.ready;
      await expect(Wal.open(dir())).rejects.toThrow(
        new RegExp(`locked by process ${writer.child.pid} .*only one writer`),
      );
    } finally {
      await writer.kill();
    }
    vi.spyOn(logger, 'warn').mockImplementation(() => {});
    const wal = track(await Wal.open(dir()));
    expect(JSON.parse(await readFile(path.join(dir(), 'LOCK'), 'utf8'))).toEqual({
      pid: process.pid,
      host: hostname(),
    });
    expect((await readAll(wal)).length).toBeGreaterThanOrEqual(writer.acks.length);
  });

  it('takes over a stale lock left by a dead process and removes its own on close', async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    await writeFile(path.join(dir(), 'LOCK'), JSON.stringify({ pid: dead, host: hostname() }));
    const warn = vi.spyOn(logger, 'warn').mockImplementation(() => {});
    const wal = await Wal.open(dir());
    expect(warn).toHaveBeenCalledWith('wal: taking over a stale lock', expect.anything());
    await wal.close();
    expect(await readdir(dir())).not.toContain('LOCK');
  });
});
