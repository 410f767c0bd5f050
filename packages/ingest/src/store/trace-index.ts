/**
 * Where in time each stored trace's spans are, in memory: what `trace_times` (0002_trace_times.sql) holds,
 * for a trace lookup to read without a DuckDB query. That query scanned the whole trace_id column of
 * trace_times (its rows are in arrival order, so nothing prunes it): ~1.5 ms at 50,000 traces, growing with
 * the number of traces, and one more round trip through DuckDB's threads per lookup.
 *
 * An open-addressing table in typed arrays, 24 bytes a slot and at most three quarters full: 32 to 64 bytes
 * a trace, and no JavaScript object per trace for the garbage collector to walk. Each slot holds the low 64 bits of a trace id
 * and a start-time range that covers every stored span of every trace sharing those bits. Two traces that
 * share them share one widened range, which is still right: the spans query filters on the whole trace id,
 * and the range only narrows the row groups it reads. Times are kept as doubles rounded outwards (a double
 * is exact to within 1,024 ns below 2^63), so a range can only be wider than the true one, never narrower.
 *
 * The index is complete or absent: it is filled from trace_times when the store opens and with each batch
 * after its commit. Past `maxTraces` it is dropped (lookups read trace_times again, as before) until the next
 * retention pass rebuilds it from what is left. While complete, a trace it does not hold is not stored.
 */

/** Added below a range's start and above its end, more than a double's rounding error at any int64. */
const MARGIN_NS = 4096;
const EMPTY_LO = 0;
const EMPTY_HI = 0;
const LOW_64 = (1n << 64n) - 1n;
const LOW_32 = (1n << 32n) - 1n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

export class TraceIndex {
  /** Low and high 32 bits of each slot's key; (0, 0) marks an empty slot (a key of 0 is stored as 1). */
  private keys: Uint32Array;
  private ranges: Float64Array;
  private mask: number;
  size = 0;

  private constructor(
    slots: number,
    /** Traces held before the index gives up; see `add`. */
    readonly maxTraces: number,
  ) {
    this.keys = new Uint32Array(slots * 2);
    this.ranges = new Float64Array(slots * 2);
    this.mask = slots - 1;
  }

  static create(maxTraces: number): TraceIndex {
    return new TraceIndex(1024, maxTraces);
  }

  /** Bytes held by the table. */
  get bytes(): number {
    return this.keys.byteLength + this.ranges.byteLength;
  }

  /**
   * Widens `traceId`'s range to cover [minNs, maxNs]. Returns false, changing nothing, once the index would
   * hold more than `maxTraces` traces: the caller then drops it.
   */
  add(traceId: bigint, minNs: bigint, maxNs: bigint): boolean {
    const [lo, hi] = keyOf(traceId);
    let slot = this.find(lo, hi);
    if (this.keys[slot * 2] === EMPTY_LO && this.keys[slot * 2 + 1] === EMPTY_HI) {
      if (this.size >= this.maxTraces) return false;
      if ((this.size + 1) * 4 > (this.mask + 1) * 3) {
        this.grow();
        slot = this.find(lo, hi);
      }
      this.keys[slot * 2] = lo;
      this.keys[slot * 2 + 1] = hi;
      this.ranges[slot * 2] = Number(minNs) - MARGIN_NS;
      this.ranges[slot * 2 + 1] = Number(maxNs) + MARGIN_NS;
      this.size++;
      return true;
    }
    const min = Number(minNs) - MARGIN_NS;
    const max = Number(maxNs) + MARGIN_NS;
    if (min < this.ranges[slot * 2]!) this.ranges[slot * 2] = min;
    if (max > this.ranges[slot * 2 + 1]!) this.ranges[slot * 2 + 1] = max;
    return true;
  }

  /** A start-time range covering every stored span of the trace, or undefined for a trace not stored. */
  range(traceId: bigint): [bigint, bigint] | undefined {
    const [lo, hi] = keyOf(traceId);
    const slot = this.find(lo, hi);
    if (this.keys[slot * 2] === EMPTY_LO && this.keys[slot * 2 + 1] === EMPTY_HI) return undefined;
    const min = BigInt(Math.floor(this.ranges[slot * 2]!));
    const max = BigInt(Math.ceil(this.ranges[slot * 2 + 1]!));
    return [min < INT64_MIN ? INT64_MIN : min, max > INT64_MAX ? INT64_MAX : max];
  }

  /** The slot holding the key, or the empty slot where it belongs. */
  private find(lo: number, hi: number): number {
    let slot = hash(lo, hi) & this.mask;
    for (;;) {
      const kLo = this.keys[slot * 2]!;
      const kHi = this.keys[slot * 2 + 1]!;
      if ((kLo === lo && kHi === hi) || (kLo === EMPTY_LO && kHi === EMPTY_HI)) return slot;
      slot = (slot + 1) & this.mask;
    }
  }

  private grow(): void {
    const keys = this.keys;
    const ranges = this.ranges;
    const slots = (this.mask + 1) * 2;
    this.keys = new Uint32Array(slots * 2);
    this.ranges = new Float64Array(slots * 2);
    this.mask = slots - 1;
    for (let old = 0; old < keys.length / 2; old++) {
      const lo = keys[old * 2]!;
      const hi = keys[old * 2 + 1]!;
      if (lo === EMPTY_LO && hi === EMPTY_HI) continue;
      const slot = this.find(lo, hi);
      this.keys[slot * 2] = lo;
      this.keys[slot * 2 + 1] = hi;
      this.ranges[slot * 2] = ranges[old * 2]!;
      this.ranges[slot * 2 + 1] = ranges[old * 2 + 1]!;
    }
  }
}

function keyOf(traceId: bigint): [number, number] {
  const low = traceId & LOW_64;
  const lo = Number(low & LOW_32);
  const hi = Number(low >> 32n);
  return lo === EMPTY_LO && hi === EMPTY_HI ? [1, 0] : [lo, hi];
}

/**
 * Mixes both 32-bit halves of a 64-bit key into a slot hash (also `span-chunks.ts`'s `SpanIdSet`). Ids are
 * random, but a client may make them sequential.
 */
export function hash(lo: number, hi: number): number {
  let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
