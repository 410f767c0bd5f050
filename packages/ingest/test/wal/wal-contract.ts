import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Wal } from '../../src/wal/index.ts';
import { payloadFor } from './payload.ts';
import { firstMismatch, readAll, sameBytes, useWalDir } from './support.ts';

/**
 * The invariants documented on the `Wal` interface, run against an implementation. `open` must open (or
 * reopen) the log kept in `dir`.
 */
export function describeWalContract(name: string, open: (dir: string) => Promise<Wal>): void {
  describe(`Wal contract: ${name}`, () => {
    const { dir, track } = useWalDir();
    const openWal = async () => track(await open(dir()));

    it('reads records back byte for byte in append order, including empty and 5 MB payloads', async () => {
      const wal = await openWal();
      const appended = [
        { payload: new Uint8Array(0), kind: 1, receivedAtMs: 1_700_000_000_000.5 },
        { payload: randomBytes(1000), kind: 2, receivedAtMs: 1_700_000_000_001 },
        { payload: randomBytes(5 * 1024 * 1024), kind: 255, receivedAtMs: 1_700_000_000_002 },
        { payload: randomBytes(3), kind: 0, receivedAtMs: 0 },
      ];
      const positions: number[] = [];
      for (const { payload, ...meta } of appended) positions.push(await wal.append(payload, meta));
      expect(positions[0]).toBe(wal.firstUnreleased());

      const records = await readAll(wal, wal.firstUnreleased());
      expect(records.map((r) => r.position)).toEqual(positions);
      records.forEach((record, i) => {
        const expected = appended[i]!;
        expect(sameBytes(record.payload, expected.payload)).toBe(true);
        expect(record.kind).toBe(expected.kind);
        expect(record.receivedAtMs).toBe(expected.receivedAtMs);
        expect(record.next).toBe(records[i + 1]?.position ?? wal.end());
      });

      // A budget smaller than any record still returns one record per page.
      const paged = await readAll(wal, positions[0], 1);
      expect(paged.map((r) => r.position)).toEqual(positions);
      expect(await wal.read(wal.end())).toEqual({ records: [], next: wal.end() });
    });

    it('defaults receivedAtMs to the append time and kind to 0', async () => {
      const wal = await openWal();
      const before = Date.now();
      const position = await wal.append(new Uint8Array([1, 2, 3]));
      const [record] = (await wal.read(position)).records;
      expect(record?.kind).toBe(0);
      expect(record?.receivedAtMs).toBeGreaterThanOrEqual(before);
      expect(record?.receivedAtMs).toBeLessThanOrEqual(Date.now());
    });

    it('gives 1,000 concurrent appends increasing positions and shares syncs between them', async () => {
      const wal = await openWal();
      const resolvedInOrder: number[] = [];
      const positions = await Promise.all(
        Array.from({ length: 1000 }, (_, seq) =>
          wal.append(payloadFor(seq)).then((position) => {
            resolvedInOrder.push(position);
            return position;
          }),
        ),
      );
      for (let i = 1; i < positions.length; i++) expect(positions[i]!).toBeGreaterThan(positions[i - 1]!);
      expect(resolvedInOrder).toEqual(positions);

      const records = await readAll(wal);
      expect(records.map((r) => r.position)).toEqual(positions);
      expect(firstMismatch(records, payloadFor)).toBe(-1);
      expect(wal.stats().appends).toBe(1000);
      expect(wal.stats().syncs).toBeLessThan(50);
    });

    it('reopens with every record and continues appending at end()', async () => {
      const first = await openWal();
      const positions = [];
      for (let seq = 0; seq < 20; seq++) positions.push(await first.append(payloadFor(seq)));
      const end = first.end();
      await first.close();

      const wal = await openWal();
      expect(wal.end()).toBe(end);
      expect((await readAll(wal)).map((r) => r.position)).toEqual(positions);
      expect(await wal.append(payloadFor(20))).toBe(end);
      const records = await readAll(wal);
      expect(records).toHaveLength(21);
      expect(firstMismatch(records, payloadFor)).toBe(-1);
    });

    it('keeps everything from the released position, and remembers it across a reopen', async () => {
      const first = await openWal();
      const positions = [];
      for (let seq = 0; seq < 30; seq++) positions.push(await first.append(payloadFor(seq)));
      const upTo = positions[17]!;
      const backlog = first.unreleasedBytes();
      expect(backlog).toBe(first.end() - first.firstUnreleased());

      await first.release(upTo);
      expect(first.firstUnreleased()).toBe(upTo);
      expect(first.unreleasedBytes()).toBe(first.end() - upTo);
      expect(first.unreleasedBytes()).toBeLessThan(backlog);
      await first.release(positions[3]!);
      expect(first.firstUnreleased()).toBe(upTo);
      await expect(first.release(first.end() + 1)).rejects.toThrow(RangeError);
      await first.close();

      const wal = await openWal();
      expect(wal.firstUnreleased()).toBe(upTo);
      const fromRelease = await readAll(wal, upTo);
      expect(fromRelease.map((r) => r.position)).toEqual(positions.slice(17));
      expect(firstMismatch(fromRelease, (i) => payloadFor(17 + i))).toBe(-1);
      // Reading from before the retained data starts at the oldest retained record, which is no later.
      const fromZero = await readAll(wal, 0);
      expect(fromZero[0]!.position).toBeLessThanOrEqual(upTo);
      expect(fromZero.slice(-13).map((r) => r.position)).toEqual(positions.slice(17));
    });

    it('finishes appends in flight on close and rejects appends after it', async () => {
      const wal = await openWal();
      const inFlight = Array.from({ length: 10 }, (_, seq) => wal.append(payloadFor(seq)));
      await wal.close();
      const positions = await Promise.all(inFlight);
      await expect(wal.append(payloadFor(10))).rejects.toMatchObject({
        kind: 'unavailable',
        code: 'wal_closed',
      });
      await expect(wal.read(0)).rejects.toThrow(/closed/);
      await wal.close();

      const reopened = await openWal();
      expect((await readAll(reopened)).map((r) => r.position)).toEqual(positions);
    });

    it('refuses a second writer while the log is open', async () => {
      const wal = await openWal();
      await expect(open(dir())).rejects.toThrow(/locked by process/);
      await wal.close();
      await openWal();
    });
  });
}
