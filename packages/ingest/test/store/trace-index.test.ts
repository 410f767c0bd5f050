import { describe, expect, it } from 'vitest';
import { TraceFilter, TraceIndex } from '../../src/store/trace-index.ts';

const NS = 1_764_331_200_000_000_000n;
/** A seeded stream of 32-bit numbers (an LCG), so each test's ids are the same every run. */
function numbers(seed: number): () => number {
  return () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed;
  };
}

/** A trace id whose low 64 bits are `low` and high 64 bits `high`. */
const id = (high: bigint, low: bigint) => (high << 64n) | low;

/** The range the index holds for `trace` (undefined if none). */
const range = (index: TraceIndex, trace: bigint) => index.lookup(trace).range;

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
    expectCovers(range(index, id(1n, 2n)), NS + 5n, NS + 9n);
    expectCovers(range(index, id(3n, 4n)), NS + 100n, NS + 100n);
    expect(range(index, id(1n, 3n))).toBeUndefined();
    expect(index.size).toBe(2);
  });

  it('widens a range as later batches add spans before and after it', () => {
    const index = TraceIndex.create(100);
    const trace = id(7n, 7n);
    index.add(trace, NS + 1_000n, NS + 2_000n);
    index.add(trace, NS + 1_500n, NS + 1_600n);
    index.add(trace, NS - 50_000_000_000n, NS);
    index.add(trace, NS + 3_600_000_000_000n, NS + 3_600_000_000_001n);
    expectCovers(range(index, trace), NS - 50_000_000_000n, NS + 3_600_000_000_001n);
    expect(index.size).toBe(1);
  });

  it('keeps every range exact-or-wider through growth, for random and sequential ids', () => {
    const index = TraceIndex.create(1_000_000);
    const expected = new Map<bigint, [bigint, bigint]>();
    const random = numbers(12345);
    const next = () => BigInt(random());
    for (let i = 0; i < 50_000; i++) {
      // Half random ids, half sequential ones (a client numbering its traces).
      const trace = i % 2 === 0 ? id(next(), (next() << 32n) | next()) : BigInt(i);
      const start = NS + BigInt(i) * 1_000_003n + next();
      expected.set(trace, [start, start + 20_000n]);
      index.add(trace, start, start + 20_000n);
    }
    expect(index.size).toBe(expected.size);
    // Checked without expect() per trace (50,000 of them): the traces whose range is missing or wrong.
    const wrong = [...expected].filter(([trace, [min, max]]) => {
      const held = range(index, trace);
      return !held || held[0] > min || held[1] < max || min - held[0] > 8192n || held[1] - max > 8192n;
    });
    expect(wrong).toEqual([]);
    // Three quarters full at most, 25 bytes a slot.
    expect(index.bytes).toBeLessThanOrEqual(Math.ceil((expected.size * 4) / 3) * 2 * 25);
    expect(index.lookup(id(1n, 1n)).older).toBe(false);
  });

  it('shares one widened range between traces with the same low 64 bits, so neither is narrowed', () => {
    const index = TraceIndex.create(100);
    index.add(id(1n, 99n), NS, NS + 10n);
    index.add(id(2n, 99n), NS + 1_000_000n, NS + 1_000_010n);
    expect(index.size).toBe(1);
    expectCovers(range(index, id(1n, 99n)), NS, NS + 1_000_010n);
    expectCovers(range(index, id(2n, 99n)), NS, NS + 1_000_010n);
  });

  it('stores a trace id whose low 64 bits are zero', () => {
    const index = TraceIndex.create(100);
    expect(range(index, id(5n, 0n))).toBeUndefined();
    index.add(id(5n, 0n), NS, NS);
    expectCovers(range(index, id(5n, 0n)), NS, NS);
  });

  it('keeps ranges at the ends of int64 inside int64', () => {
    const index = TraceIndex.create(100);
    const min = -(2n ** 63n);
    const max = 2n ** 63n - 1n;
    index.add(1n, min, min + 1n);
    index.add(2n, max - 1n, max);
    index.add(3n, 0n, 1n);
    expect(range(index, 1n)![0]).toBe(min);
    expect(range(index, 2n)![1]).toBe(max);
    expectCovers(range(index, 3n), 0n, 1n);
  });

  it('evicts the older half past maxTraces: the evicted are known to be older, the rest are whole', () => {
    const index = TraceIndex.create(4);
    const at = (seconds: number) => NS + BigInt(seconds) * 1_000_000_000n;
    for (let n = 1; n <= 4; n++) index.add(BigInt(n), at(n), at(n));
    expect(index.size).toBe(4);
    // Trace 1 gets a later span: its latest start now ranks it after traces 2 and 3.
    index.add(1n, at(10), at(10));
    index.add(5n, at(5), at(5));
    // Two kept (4 / 2): the latest by their latest span, 1 and 5.
    expect(index.size).toBe(2);
    expect(index.evicted).toBe(3);
    expectCovers(range(index, 1n), at(1), at(10));
    expectCovers(range(index, 5n), at(5), at(5));
    for (const trace of [1n, 5n]) expect(index.lookup(trace).older).toBe(false);
    for (const trace of [2n, 3n, 4n]) expect(index.lookup(trace)).toEqual({ range: undefined, older: true });
    expect(index.lookup(99n)).toEqual({ range: undefined, older: false });
  });

  it('answers where a re-sent span could be stored, for held, evicted and unknown traces', () => {
    const index = TraceIndex.create(2);
    const at = (seconds: number) => NS + BigInt(seconds) * 1_000_000_000n;
    index.add(1n, at(1), at(2));
    index.add(2n, at(3), at(4));
    index.add(3n, at(50), at(60));
    // Traces 1 and 2 evicted: every span of theirs started by at(4) (the horizon).
    expect(index.size).toBe(1);
    // Held and whole: only where its range and the spans' overlap.
    expect(index.probeRange(3n, at(70), at(80))).toBeUndefined();
    expectCovers(index.probeRange(3n, at(55), at(80)), at(55), at(60));
    // Evicted: anywhere up to the horizon.
    expectCovers(index.probeRange(1n, at(0), at(100)), at(0), at(4));
    expect(index.probeRange(1n, at(5), at(100))).toBeUndefined();
    // Evicted, then held again with new spans: both.
    index.add(2n, at(90), at(91));
    expect(index.lookup(2n).older).toBe(true);
    expectCovers(range(index, 2n), at(90), at(91));
    expectCovers(index.probeRange(2n, at(0), at(100)), at(0), at(91));
    expect(index.probeRange(2n, at(10), at(20))).toBeUndefined();
    // Unknown: nowhere.
    expect(index.probeRange(99n, at(0), at(100))).toBeUndefined();
  });

  it('keeps every lookup right while evicting again and again, with ids random and sequential', () => {
    const index = TraceIndex.create(10_000);
    // Each trace's true range; the index must either hold a whole one or say older spans may exist.
    const expected = new Map<bigint, [bigint, bigint]>();
    const random = numbers(99);
    const next = () => BigInt(random());
    const seen: bigint[] = [];
    let now = NS;
    for (let i = 0; i < 60_000; i++) {
      // Mostly new traces in time order; one in ten adds a later span to a trace seen before.
      const trace =
        i % 10 === 9
          ? seen[Number(next() % BigInt(seen.length))]!
          : i % 2
            ? id(next(), (next() << 32n) | next())
            : BigInt(i);
      if (!expected.has(trace)) seen.push(trace);
      now += 1_000_000n + next();
      const [min, max] = expected.get(trace) ?? [now, now];
      expected.set(trace, [min < now ? min : now, max > now + 5_000n ? max : now + 5_000n]);
      index.add(trace, now, now + 5_000n);
    }
    expect(index.evicted).toBeGreaterThan(0);
    expect(index.size).toBeLessThanOrEqual(10_000);
    const wrong = [...expected].filter(([trace, [min, max]]) => {
      const { range, older } = index.lookup(trace);
      if (!range) return !older;
      // A held trace's range covers its spans since it was last held; all of them unless `older`.
      return range[1] < max || (!older && range[0] > min);
    });
    expect(wrong).toEqual([]);
    // The most recent traces are held, and whole.
    const recent = [...expected].sort((a, b) => (a[1][1] < b[1][1] ? 1 : -1)).slice(0, 1_000);
    expect(recent.filter(([trace]) => index.lookup(trace).range === undefined)).toEqual([]);
    // Unknown ids: very few false positives.
    let falsePositives = 0;
    for (let i = 0; i < 10_000; i++) if (index.lookup(id(next() | 1n, next()) + 7n).older) falsePositives++;
    expect(falsePositives).toBeLessThan(10);
  });
});

describe('TraceFilter', () => {
  it('has no false negatives and ~1 false positive in 1,700 per segment, across segments', () => {
    const filter = new TraceFilter();
    const next = numbers(7);
    const n = 2_200_000;
    // Two segments and a bit: random keys and sequential ones, alternately.
    const keys = new Uint32Array(n * 2);
    for (let i = 0; i < n; i++) {
      keys[i * 2] = i % 2 ? next() : i;
      keys[i * 2 + 1] = i % 2 ? next() : 0;
      filter.add(keys[i * 2]!, keys[i * 2 + 1]!);
    }
    expect(filter.count).toBe(n);
    expect(filter.bytes).toBe(3 * 2 ** 21);
    let falseNegatives = 0;
    for (let i = 0; i < n; i++) if (!filter.has(keys[i * 2]!, keys[i * 2 + 1]!)) falseNegatives++;
    expect(falseNegatives).toBe(0);
    let falsePositives = 0;
    for (let i = 0; i < 100_000; i++) if (filter.has(next(), next() | 0x80000000)) falsePositives++;
    // Three segments: ~3 × 100,000 / 1,700 ≈ 180 expected.
    expect(falsePositives).toBeLessThan(400);
  });
});
