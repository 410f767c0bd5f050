import { describe, expect, it } from 'vitest';
import { TraceIndex } from '../../src/store/trace-index.ts';

const NS = 1_764_331_200_000_000_000n;
/** A trace id whose low 64 bits are `low` and high 64 bits `high`. */
const id = (high: bigint, low: bigint) => (high << 64n) | low;

/** The index's range must contain [min, max] and be at most a few µs wider on each side. */
function expectCovers(range: [bigint, bigint] | undefined, min: bigint, max: bigint): void {
  expect(range).toBeDefined();
  const [lo, hi] = range!;
  expect(lo <= min && hi >= max).toBe(true);
  expect(min - lo).toBeLessThanOrEqual(8192n);
  expect(hi - max).toBeLessThanOrEqual(8192n);
}

describe('TraceIndex', () => {
  it('answers a covering range for each trace added, and undefined for any other', () => {
    const index = TraceIndex.create(100);
    index.add(id(1n, 2n), NS + 5n, NS + 9n);
    index.add(id(3n, 4n), NS + 100n, NS + 100n);
    expectCovers(index.range(id(1n, 2n)), NS + 5n, NS + 9n);
    expectCovers(index.range(id(3n, 4n)), NS + 100n, NS + 100n);
    expect(index.range(id(1n, 3n))).toBeUndefined();
    expect(index.size).toBe(2);
  });

  it('widens a range as later batches add spans before and after it', () => {
    const index = TraceIndex.create(100);
    const trace = id(7n, 7n);
    index.add(trace, NS + 1_000n, NS + 2_000n);
    index.add(trace, NS + 1_500n, NS + 1_600n);
    index.add(trace, NS - 50_000_000_000n, NS);
    index.add(trace, NS + 3_600_000_000_000n, NS + 3_600_000_000_001n);
    expectCovers(index.range(trace), NS - 50_000_000_000n, NS + 3_600_000_000_001n);
    expect(index.size).toBe(1);
  });

  it('keeps every range exact-or-wider through growth, for random and sequential ids', () => {
    const index = TraceIndex.create(1_000_000);
    const expected = new Map<bigint, [bigint, bigint]>();
    let seed = 12345;
    const next = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return BigInt(seed);
    };
    for (let i = 0; i < 50_000; i++) {
      // Half random ids, half sequential ones (a client numbering its traces).
      const trace = i % 2 === 0 ? id(next(), (next() << 32n) | next()) : BigInt(i);
      const start = NS + BigInt(i) * 1_000_003n + next();
      expected.set(trace, [start, start + 20_000n]);
      if (!index.add(trace, start, start + 20_000n)) throw new Error(`refused trace ${i}`);
    }
    expect(index.size).toBe(expected.size);
    // Checked without expect() per trace (50,000 of them): the traces whose range is missing or wrong.
    const wrong = [...expected].filter(([trace, [min, max]]) => {
      const range = index.range(trace);
      return !range || range[0] > min || range[1] < max || min - range[0] > 8192n || range[1] - max > 8192n;
    });
    expect(wrong).toEqual([]);
    // Three quarters full at most, 24 bytes a slot.
    expect(index.bytes).toBeLessThanOrEqual(Math.ceil((expected.size * 4) / 3) * 2 * 24);
  });

  it('shares one widened range between traces with the same low 64 bits, so neither is narrowed', () => {
    const index = TraceIndex.create(100);
    index.add(id(1n, 99n), NS, NS + 10n);
    index.add(id(2n, 99n), NS + 1_000_000n, NS + 1_000_010n);
    expect(index.size).toBe(1);
    expectCovers(index.range(id(1n, 99n)), NS, NS + 1_000_010n);
    expectCovers(index.range(id(2n, 99n)), NS, NS + 1_000_010n);
  });

  it('stores a trace id whose low 64 bits are zero', () => {
    const index = TraceIndex.create(100);
    expect(index.range(id(5n, 0n))).toBeUndefined();
    index.add(id(5n, 0n), NS, NS);
    expectCovers(index.range(id(5n, 0n)), NS, NS);
  });

  it('keeps ranges at the ends of int64 inside int64', () => {
    const index = TraceIndex.create(100);
    const min = -(2n ** 63n);
    const max = 2n ** 63n - 1n;
    index.add(1n, min, min + 1n);
    index.add(2n, max - 1n, max);
    index.add(3n, 0n, 1n);
    expect(index.range(1n)![0]).toBe(min);
    expect(index.range(2n)![1]).toBe(max);
    expectCovers(index.range(3n), 0n, 1n);
  });

  it('refuses a trace beyond maxTraces, changing nothing, but still widens the ones it holds', () => {
    const index = TraceIndex.create(2);
    expect(index.add(1n, NS, NS)).toBe(true);
    expect(index.add(2n, NS, NS)).toBe(true);
    expect(index.add(3n, NS, NS)).toBe(false);
    expect(index.range(3n)).toBeUndefined();
    expect(index.add(1n, NS - 5_000_000n, NS)).toBe(true);
    expectCovers(index.range(1n), NS - 5_000_000n, NS);
    expect(index.size).toBe(2);
  });
});
