import { describe, expect, it } from 'vitest';
import { traceRequestFromJson } from '../../src/otlp/json.ts';
import { decodeTraceRequest, encodeTraceRequest, type TraceRequest } from '../../src/otlp/messages.ts';
import { scanTraceRequest } from '../../src/otlp/scan.ts';
import { everyFieldRequest, fixtureText, id, ld, rng, str, UNKNOWN } from './wire-builder.ts';

const CASES = 24_000;

function spanCount(request: TraceRequest): number {
  let n = 0;
  for (const rs of request.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
  return n;
}

/** Valid requests to mutate: the fixture, every field with unknown fields, and one with a bad span. */
function seeds(): Uint8Array[] {
  return [
    traceRequestFromJson(fixtureText()),
    everyFieldRequest(UNKNOWN),
    everyFieldRequest(UNKNOWN, [ld(2, ld(1, id(15, 1)), ld(2, id(8, 1)), str(5, 'bad'))]),
    encodeTraceRequest({
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: Array.from({ length: 20 }, (_, i) => ({
                traceId: id(16, i),
                spanId: i % 3 === 0 ? id(7, i) : id(8, i),
                name: `s${i}`,
                attributes: [
                  {
                    key: 'v',
                    value: { type: 'array' as const, value: [{ type: 'int' as const, value: BigInt(i) }] },
                  },
                ],
              })),
            },
          ],
        },
      ],
    }),
  ];
}

function mutate(seed: Uint8Array, random: () => number, kind: number): Uint8Array {
  const at = Math.floor(random() * seed.length);
  switch (kind) {
    case 0: {
      const out = Uint8Array.from(seed);
      const flips = 1 + Math.floor(random() * 4);
      for (let i = 0; i < flips; i++) {
        const pos = Math.floor(random() * out.length);
        out[pos] = out[pos]! ^ (1 << Math.floor(random() * 8));
      }
      return out;
    }
    case 1: {
      const out = Uint8Array.from(seed);
      out[at] = Math.floor(random() * 256);
      return out;
    }
    case 2:
      return seed.subarray(0, at);
    case 3: {
      const insert = Uint8Array.from({ length: 1 + Math.floor(random() * 8) }, () =>
        Math.floor(random() * 256),
      );
      const out = new Uint8Array(seed.length + insert.length);
      out.set(seed.subarray(0, at));
      out.set(insert, at);
      out.set(seed.subarray(at), at + insert.length);
      return out;
    }
    case 4: {
      const end = Math.min(seed.length, at + 1 + Math.floor(random() * 16));
      const out = new Uint8Array(seed.length - (end - at));
      out.set(seed.subarray(0, at));
      out.set(seed.subarray(end), at);
      return out;
    }
    case 5: {
      // A slice of the request repeated: valid-looking structure in the wrong place.
      const end = Math.min(seed.length, at + 1 + Math.floor(random() * 64));
      const slice = seed.subarray(at, end);
      const out = new Uint8Array(seed.length + slice.length);
      out.set(seed.subarray(0, end));
      out.set(slice, end);
      out.set(seed.subarray(end), end + slice.length);
      return out;
    }
    default:
      return Uint8Array.from({ length: Math.floor(random() * 512) }, () => Math.floor(random() * 256));
  }
}

/**
 * Milliseconds one scan of `input` takes. A slow reading is retried and the fastest kept: on a busy
 * machine a single timing can include preemption or a GC pause, while a pathological input is slow
 * every time.
 */
function scanTime(input: Uint8Array): number {
  let best = Number.POSITIVE_INFINITY;
  for (let attempt = 0; attempt < 5 && best > 0.5; attempt++) {
    const started = performance.now();
    scanTraceRequest(input);
    best = Math.min(best, performance.now() - started);
  }
  return best;
}

describe('scanTraceRequest under fuzzing', () => {
  it(`never throws, stays fast, and only accepts what the decoder can decode (${CASES} cases)`, () => {
    const random = rng(20251128);
    const inputs = seeds();
    const times: number[] = [];
    let accepted = 0;
    let withRejections = 0;
    for (let i = 0; i < CASES; i++) {
      const seed = inputs[i % inputs.length]!;
      const input = mutate(seed, random, i % 7);
      const result = scanTraceRequest(input);
      times.push(scanTime(input));
      if (!result.ok) {
        expect(result.error.length).toBeGreaterThan(0);
        continue;
      }
      accepted++;
      // Whatever the scanner lets into the WAL, the indexer must be able to decode.
      let decoded: TraceRequest;
      try {
        decoded = decodeTraceRequest(result.bytes);
      } catch (error) {
        throw new Error(
          `case ${i}: accepted but undecodable (${(error as Error).message}): ${Buffer.from(input).toString('hex')}`,
        );
      }
      expect(spanCount(decoded), `case ${i}`).toBe(result.spans);
      if (result.rejectedSpans === 0) {
        expect(result.bytes).toBe(input);
      } else {
        withRejections++;
        const again = scanTraceRequest(result.bytes);
        expect(again).toMatchObject({ ok: true, spans: result.spans, rejectedSpans: 0 });
      }
    }
    times.sort((a, b) => a - b);
    const p999 = times[Math.floor(times.length * 0.999)]!;
    const max = times[times.length - 1]!;
    expect(p999).toBeLessThan(1);
    expect(max).toBeLessThan(5);
    expect(accepted).toBeGreaterThan(CASES / 20);
    expect(withRejections).toBeGreaterThan(50);
  });

  it('handles a large request with every span rejected in linear time', () => {
    const spans = Array.from({ length: 20_000 }, (_, i) => ({
      traceId: id(15, i),
      spanId: id(8, i),
      name: `s${i}`,
    }));
    const input = encodeTraceRequest({ resourceSpans: [{ scopeSpans: [{ spans }] }] });
    const started = performance.now();
    const result = scanTraceRequest(input);
    expect(performance.now() - started).toBeLessThan(500);
    expect(result).toMatchObject({ ok: true, spans: 0, rejectedSpans: 20_000 });
    if (result.ok) expect(result.errorMessage).toMatch(/^20000 spans rejected: .*, and 19995 more$/);
  });
});
