const NANOS_PER_MICRO = 1000n;
const MAX_SAFE_MICROS = BigInt(Number.MAX_SAFE_INTEGER);
const MAX_UINT64 = (1n << 64n) - 1n;
/** '000' to '999': six fraction digits are two lookups, no number-to-string conversion. */
const THREE_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/**
 * `YYYY-MM-DDTHH:MM:SS.` of the last second formatted. A span's start and end, and the spans of one
 * batch, mostly share seconds, so this saves a `Date` and `toISOString` per timestamp.
 */
let cachedSecond = Number.NaN;
let cachedSecondPrefix = '';

/**
 * A span time in the contract's format (CONTRACT §6.2): UTC ISO-8601 with exactly six fraction digits
 * and `+00:00`, e.g. `2025-11-28T12:00:00.123456+00:00`. Nanoseconds below the microsecond are
 * truncated. The input is clamped to OTLP's fixed64 range, 0 to 2^64-1 ns (1970 to 2554), which
 * `Date` represents, so no value throws.
 */
export function formatSpanTime(unixNano: bigint): string {
  const ns = unixNano < 0n ? 0n : unixNano > MAX_UINT64 ? MAX_UINT64 : unixNano;
  const bigMicros = ns / NANOS_PER_MICRO;
  let seconds: number;
  let micros: number;
  if (bigMicros <= MAX_SAFE_MICROS) {
    // Until 2255 the micro count is a safe double: one bigint division instead of three.
    const total = Number(bigMicros);
    seconds = Math.floor(total / 1_000_000);
    micros = total - seconds * 1_000_000;
  } else {
    seconds = Number(bigMicros / 1_000_000n);
    micros = Number(bigMicros % 1_000_000n);
  }
  if (seconds !== cachedSecond) {
    cachedSecondPrefix = new Date(seconds * 1000).toISOString().slice(0, 20);
    cachedSecond = seconds;
  }
  const high = Math.floor(micros / 1000);
  return `${cachedSecondPrefix}${THREE_DIGITS[high]}${THREE_DIGITS[micros - high * 1000]}+00:00`;
}
