/** What every load generator prints (one JSON line) when it is done. */
export interface LoadResult {
  seconds: number;
  requests: number;
  spans: number;
  errors: number;
  errorSample?: string;
  spansPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export function summarise(
  latenciesMs: number[],
  spans: number,
  errors: number,
  seconds: number,
  errorSample?: string,
): LoadResult {
  const sorted = latenciesMs.sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return {
    seconds,
    requests: latenciesMs.length,
    spans,
    errors,
    ...(errorSample ? { errorSample } : {}),
    spansPerSecond: seconds > 0 ? Math.round(spans / seconds) : 0,
    p50Ms: Number(at(0.5).toFixed(2)),
    p99Ms: Number(at(0.99).toFixed(2)),
  };
}

/**
 * Runs `worker` on `concurrency` loops: a warm-up, then `seconds` of measurement, or less if `stop` aborts
 * first (the result then covers the time measured until then). Each call returns the number of spans it
 * delivered, or throws.
 */
export async function drive(
  options: { seconds: number; warmupSeconds: number; concurrency: number; stop?: AbortSignal },
  worker: (slot: number) => Promise<number>,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let spans = 0;
  let errors = 0;
  let errorSample: string | undefined;
  const start = performance.now();
  const warmupEnd = start + options.warmupSeconds * 1000;
  const end = warmupEnd + options.seconds * 1000;
  await Promise.all(
    Array.from({ length: options.concurrency }, async (_, slot) => {
      while (performance.now() < end && !options.stop?.aborted) {
        const t0 = performance.now();
        try {
          const n = await worker(slot);
          if (t0 >= warmupEnd) {
            latencies.push(performance.now() - t0);
            spans += n;
          }
        } catch (error) {
          if (t0 >= warmupEnd) errors++;
          errorSample ??= (error as Error).message;
        }
      }
    }),
  );
  const measured = Math.min(options.seconds, Math.max(0, (performance.now() - warmupEnd) / 1000));
  return summarise(latencies, spans, errors, measured, errorSample);
}
