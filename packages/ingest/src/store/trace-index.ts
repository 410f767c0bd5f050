/**
 * Where in time each stored trace's spans are, in memory: what `trace_times` (0002_trace_times.sql) holds,
 * for a trace lookup to read without a DuckDB query. That query scans the whole trace_id column of
 * trace_times (its rows are in arrival order, so nothing prunes it): ~1.5 ms at 50,000 traces, growing with
 * the number of traces, and one more round trip through DuckDB's threads per lookup.
 *
 * An open-addressing table in typed arrays, 25 bytes a slot and at most three quarters full: 33 to 67 bytes
 * a trace, and no JavaScript object per trace for the garbage collector to walk. Each slot holds the low 64 bits of a trace id
 * and a start-time range that covers every stored span of every trace sharing those bits. Two traces that
 * share them share one widened range, which is still right: the spans query filters on the whole trace id,
 * and the range only narrows the row groups it reads. Times are kept as doubles rounded outwards (a double
 * is exact to within 1,024 ns below 2^63), so a range can only be wider than the true one, never narrower.
 *
 * It holds the `maxTraces` most recent traces at most (by their latest span). When a new trace would take it
 * past that, it evicts the older half: their ids go to a Bloom filter (`TraceFilter`, 2 bytes a trace) and
 * `horizon` rises to the latest span start among them. So for any trace id it can tell one of:
 * - held, whole: every stored span of the trace is inside the range it answers;
 * - held, with older spans possible (a trace that was evicted and has had spans since, or a false positive
 *   of the filter): the range covers the spans since, and others may have started before `horizon`;
 * - not held but maybe stored before `horizon` (the filter has it);
 * - not stored at all.
 * A lookup reads trace_times only in the two middle cases: for traces older than the most recent
 * `maxTraces / 2` or so, and for a few in ten thousand others (the filter's false positives).
 *
 * It is filled from trace_times when the store opens (`load`) and with each batch after its commit (`add`),
 * and rebuilt after each retention pass that deleted spans, so the filter forgets traces that are gone.
 */

/** Added below a range's start and above its end, more than a double's rounding error at any int64. */
const MARGIN_NS = 4096;
const EMPTY_LO = 0;
const EMPTY_HI = 0;
const LOW_64 = (1n << 64n) - 1n;
const LOW_32 = (1n << 32n) - 1n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const MIN_SLOTS = 1024;
/** Set in `flags` for a held trace that may also have spans before `horizon` outside its range. */
const OLDER = 1;

/** What the index knows of one trace id; see `TraceIndex`. */
export interface TraceLookup {
  /** Covers every stored span of the trace, apart from those `older` allows; undefined if not held. */
  range: [bigint, bigint] | undefined;
  /** The trace may have stored spans that started before the horizon and that `range` does not cover. */
  older: boolean;
}

export class TraceIndex {
  /** Low and high 32 bits of each slot's key; (0, 0) marks an empty slot (a key of 0 is stored as 1). */
  private keys: Uint32Array;
  private ranges: Float64Array;
  private flags: Uint8Array;
  private mask: number;
  size = 0;
  /** Ids of the traces evicted; rebuilt with the index, never emptied otherwise. */
  private readonly evictedIds = new TraceFilter();
  /** Every span of an evicted trace started at or before this (as a double, rounded up). */
  private horizonNs = Number.NEGATIVE_INFINITY;

  private constructor(
    slots: number,
    /** Traces held before the older half is evicted; see `add`. */
    readonly maxTraces: number,
  ) {
    this.keys = new Uint32Array(slots * 2);
    this.ranges = new Float64Array(slots * 2);
    this.flags = new Uint8Array(slots);
    this.mask = slots - 1;
  }

  static create(maxTraces: number): TraceIndex {
    return new TraceIndex(MIN_SLOTS, maxTraces);
  }

  /** Bytes held by the table and the filter of evicted ids. */
  get bytes(): number {
    return this.keys.byteLength + this.ranges.byteLength + this.flags.byteLength + this.evictedIds.bytes;
  }

  /** Traces evicted so far (since the index was made). */
  get evicted(): number {
    return this.evictedIds.count;
  }

  /** Every span of an evicted trace started at or before this (ns, rounded up); null before any eviction. */
  get horizon(): number | null {
    return this.horizonNs === Number.NEGATIVE_INFINITY ? null : this.horizonNs;
  }

  /** Widens `traceId`'s range to cover [minNs, maxNs], holding it if it is new (see the class). */
  add(traceId: bigint, minNs: bigint, maxNs: bigint): void {
    const [lo, hi] = keyOf(traceId);
    const min = Number(minNs) - MARGIN_NS;
    const max = Number(maxNs) + MARGIN_NS;
    let slot = this.find(lo, hi);
    if (this.keys[slot * 2] !== EMPTY_LO || this.keys[slot * 2 + 1] !== EMPTY_HI) {
      if (min < this.ranges[slot * 2]!) this.ranges[slot * 2] = min;
      if (max > this.ranges[slot * 2 + 1]!) this.ranges[slot * 2 + 1] = max;
      return;
    }
    if ((this.size + 1) * 4 > (this.mask + 1) * 3) {
      this.rebuild((this.mask + 1) * 2, Number.NEGATIVE_INFINITY);
      slot = this.find(lo, hi);
    }
    this.keys[slot * 2] = lo;
    this.keys[slot * 2 + 1] = hi;
    this.ranges[slot * 2] = min;
    this.ranges[slot * 2 + 1] = max;
    this.flags[slot] = this.mayBeEvicted(lo, hi) ? OLDER : 0;
    this.size++;
    if (this.size > this.maxTraces) this.evictOlderHalf();
  }

  /**
   * Records a stored trace as evicted without holding it: for loading a store with more traces than the
   * index holds (`maxNs`: its latest span's start).
   */
  addEvicted(traceId: bigint, maxNs: bigint): void {
    const [lo, hi] = keyOf(traceId);
    this.evictedIds.add(lo, hi);
    const max = Number(maxNs) + MARGIN_NS;
    if (max > this.horizonNs) this.horizonNs = max;
  }

  /** What the index knows of `traceId` (see `TraceLookup`). */
  lookup(traceId: bigint): TraceLookup {
    const [lo, hi] = keyOf(traceId);
    const slot = this.find(lo, hi);
    if (this.keys[slot * 2] === EMPTY_LO && this.keys[slot * 2 + 1] === EMPTY_HI) {
      return { range: undefined, older: this.mayBeEvicted(lo, hi) };
    }
    return {
      range: bigintRange(this.ranges[slot * 2]!, this.ranges[slot * 2 + 1]!),
      older: this.flags[slot] === OLDER,
    };
  }

  /**
   * Where a stored copy of one of the trace's spans starting in [minNs, maxNs] could be, as one range;
   * undefined if nowhere (for a write's duplicate probe: a copy of a span has the span's start time).
   */
  probeRange(traceId: bigint, minNs: bigint, maxNs: bigint): [bigint, bigint] | undefined {
    const [lo, hi] = keyOf(traceId);
    const slot = this.find(lo, hi);
    const held = this.keys[slot * 2] !== EMPTY_LO || this.keys[slot * 2 + 1] !== EMPTY_HI;
    const min = Number(minNs) - MARGIN_NS;
    const max = Number(maxNs) + MARGIN_NS;
    let from = Number.POSITIVE_INFINITY;
    let to = Number.NEGATIVE_INFINITY;
    if (held) {
      from = Math.max(min, this.ranges[slot * 2]!);
      to = Math.min(max, this.ranges[slot * 2 + 1]!);
    }
    if (held ? this.flags[slot] === OLDER : this.mayBeEvicted(lo, hi)) {
      const olderTo = Math.min(max, this.horizonNs);
      if (min <= olderTo) {
        from = Math.min(from, min);
        to = Math.max(to, olderTo);
      }
    }
    return from <= to ? bigintRange(from, to) : undefined;
  }

  private mayBeEvicted(lo: number, hi: number): boolean {
    return this.horizonNs !== Number.NEGATIVE_INFINITY && this.evictedIds.has(lo, hi);
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

  /**
   * Evicts every trace whose latest span is not among the `maxTraces / 2` latest (ties at the edge go too),
   * then shrinks the table to fit the rest. Sorting the held traces' ends costs ~0.1 s at the default
   * `maxTraces`, once per `maxTraces / 2` new traces.
   */
  private evictOlderHalf(): void {
    const keep = Math.floor(this.maxTraces / 2);
    const ends = new Float64Array(this.size);
    let n = 0;
    for (let slot = 0; slot <= this.mask; slot++) {
      if (this.keys[slot * 2] !== EMPTY_LO || this.keys[slot * 2 + 1] !== EMPTY_HI) {
        ends[n++] = this.ranges[slot * 2 + 1]!;
      }
    }
    ends.sort();
    const cutoff = ends[n - keep - 1]!;
    let slots = MIN_SLOTS;
    while (keep * 4 > slots * 3) slots *= 2;
    this.rebuild(slots, cutoff);
  }

  /** Moves the held traces to a table of `slots` slots, evicting those whose latest span is ≤ `cutoff`. */
  private rebuild(slots: number, cutoff: number): void {
    const { keys, ranges, flags } = this;
    this.keys = new Uint32Array(slots * 2);
    this.ranges = new Float64Array(slots * 2);
    this.flags = new Uint8Array(slots);
    this.mask = slots - 1;
    this.size = 0;
    for (let old = 0; old < flags.length; old++) {
      const lo = keys[old * 2]!;
      const hi = keys[old * 2 + 1]!;
      if (lo === EMPTY_LO && hi === EMPTY_HI) continue;
      const max = ranges[old * 2 + 1]!;
      if (max <= cutoff) {
        this.evictedIds.add(lo, hi);
        if (max > this.horizonNs) this.horizonNs = max;
        continue;
      }
      const slot = this.find(lo, hi);
      this.keys[slot * 2] = lo;
      this.keys[slot * 2 + 1] = hi;
      this.ranges[slot * 2] = ranges[old * 2]!;
      this.ranges[slot * 2 + 1] = max;
      this.flags[slot] = flags[old]!;
      this.size++;
    }
  }
}

/**
 * A Bloom filter of 64-bit keys that grows by segments of 2^20 keys, 16 bits a key and 8 probes each: a
 * false positive in ~1 of 1,700 lookups per segment, and never a false negative.
 */
export class TraceFilter {
  private static readonly BITS = 2 ** 24;
  private static readonly KEYS_PER_SEGMENT = 2 ** 20;
  private static readonly PROBES = 8;
  private readonly segments: Uint32Array[] = [];
  count = 0;

  get bytes(): number {
    return this.segments.length * (TraceFilter.BITS / 8);
  }

  add(lo: number, hi: number): void {
    if (this.count % TraceFilter.KEYS_PER_SEGMENT === 0) {
      this.segments.push(new Uint32Array(TraceFilter.BITS / 32));
    }
    const bits = this.segments[this.segments.length - 1]!;
    const h1 = hash(lo, hi);
    const h2 = hash(hi ^ 0x5bd1e995, lo) | 1;
    for (let i = 0; i < TraceFilter.PROBES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & (TraceFilter.BITS - 1);
      bits[bit >>> 5]! |= 1 << (bit & 31);
    }
    this.count++;
  }

  has(lo: number, hi: number): boolean {
    const h1 = hash(lo, hi);
    const h2 = hash(hi ^ 0x5bd1e995, lo) | 1;
    search: for (const bits of this.segments) {
      for (let i = 0; i < TraceFilter.PROBES; i++) {
        const bit = (h1 + Math.imul(i, h2)) & (TraceFilter.BITS - 1);
        if ((bits[bit >>> 5]! & (1 << (bit & 31))) === 0) continue search;
      }
      return true;
    }
    return false;
  }
}

/** [floor(min), ceil(max)] as bigints inside int64. */
function bigintRange(min: number, max: number): [bigint, bigint] {
  const lo = BigInt(Math.floor(Math.max(min, -(2 ** 63))));
  const hi = BigInt(Math.ceil(Math.min(max, 2 ** 63)));
  return [lo < INT64_MIN ? INT64_MIN : lo, hi > INT64_MAX ? INT64_MAX : hi];
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
